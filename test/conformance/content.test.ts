// One suite over both content stores (issue 32): files on the artifacts volume, and bodies
// in an S3 bucket with their rows in PostgreSQL (a real PostgreSQL, and as the S3 server
// OpenStack Swift with s3api, then Ceph RGW, started by the test). What the build proxy and the mirror notice of one, they
// notice of the other: bodies read back whole and by range, a writer fed chunk by chunk,
// mismatches, oversize and aborted bodies that keep nothing, identical bodies kept once,
// sweeps that remove what is neither kept nor used lately, a missing body that rejects. For
// the bucket also what it must not leave behind or send twice: no second upload of a body
// kept already, objects of swept bodies gone, a body written during a sweep kept, doomed
// rows never reused and finished by the next sweep, uploads of a dead replica swept.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir } from '../helpers/harness.js';
import { bucketBackend, CEPH_SERVER, stopBucketServers, SWIFT_SERVER, type S3ServerKind } from '../helpers/bucket-mode.js';
import { IncomingFiles } from '../../server/storage/incoming.js';
import { Database } from '../../server/storage/pg/database.js';
import { BucketContent } from '../../server/storage/pg/bucket-content.js';
import { CONTENT_DIR, ContentFiles, MismatchError, TooLargeError } from '../../server/storage/content-store.js';
import { TRAILING_HASH_MIN_BYTES } from '../../server/storage/io/trailing-hasher.js';
import type { BlobStore, ContentStore } from '../../server/domain/stores.js';

const REPLICA = 'replica-a';

/** A blob store that counts the uploads it is asked for, and can be made to fail them. */
class CountingBlobs implements BlobStore {
  puts = 0;
  failPuts = false;
  failGets = false;
  /** While set, uploads wait for it before they begin. */
  hold: Promise<void> | null = null;

  constructor(private readonly inner: BlobStore) {}

  put(key: string, body: Readable): Promise<{ size: number; sha256: string }> {
    this.puts++;
    if (this.failPuts) {
      body.destroy();
      return Promise.reject(new Error('the bucket is away'));
    }
    const held = this.hold;
    return held ? held.then(() => this.inner.put(key, body)) : this.inner.put(key, body);
  }

  get(key: string, range?: { start: number; end: number }): Promise<Readable | null> {
    if (this.failGets) return Promise.reject(new Error('the bucket is away'));
    return this.inner.get(key, range);
  }

  head(key: string): Promise<{ size: number } | null> {
    return this.inner.head(key);
  }

  abortUploads(keys: readonly string[]): Promise<void> {
    return this.inner.abortUploads(keys);
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  list(prefix: string, after: string | null, limit: number): Promise<{ keys: string[]; next: string | null }> {
    return this.inner.list(prefix, after, limit);
  }

  copy(from: string, to: string): Promise<void> {
    return this.inner.copy(from, to);
  }
}

interface Bucket {
  db: Database;
  blobs: CountingBlobs;
  content: BucketContent;
  /** Runs once, right after the next page of a sweep was read (before it dooms anything). */
  afterSweepPage(hook: () => Promise<void>): void;
}

interface Opened {
  content: ContentStore;
  /** Temporary files left in this store's `.incoming`. */
  temps(): Promise<string[]>;
  /** What is stored: files by checksum, or the bucket's objects. */
  stored(): Promise<string[]>;
  bucket: Bucket | null;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  bucket: boolean;
  open(ctx: Mocha.Context): Promise<Opened>;
}

async function incomingIn(dir: string): Promise<IncomingFiles> {
  const incoming = new IncomingFiles(dir, REPLICA);
  await incoming.ensure();
  return incoming;
}

const files: Backend = {
  name: 'files on the volume',
  bucket: false,
  async open() {
    const dir = await makeTempDir('content-');
    const incoming = await incomingIn(dir);
    const content = new ContentFiles(dir, incoming);
    const top = path.join(dir, CONTENT_DIR, 'sha256');
    return {
      content,
      temps: () => readdir(incoming.dir),
      async stored() {
        const found: string[] = [];
        for (const prefix of await readdir(top).catch(() => [] as string[])) found.push(...(await readdir(path.join(top, prefix))));
        return found.sort();
      },
      bucket: null,
      close: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

/** Every key below a prefix, page by page. */
async function allKeys(blobs: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { keys: string[]; next: string | null } = await blobs.list(prefix, after, 1000);
    keys.push(...page.keys);
    if (page.next === null) return keys;
    after = page.next;
  }
}

/** The bucket store with its bodies on one S3 server (started once, by the first to need it). */
function bucketOn(server: S3ServerKind): Backend {
  return {
    name: `bucket (PostgreSQL rows, bytes in ${server.name} over S3)`,
    bucket: true,
    async open(ctx) {
      const backend = await bucketBackend(ctx, server, 'content');
      const { db, dir, close } = backend;
      const blobs = new CountingBlobs(backend.blobs);
      const incoming = await incomingIn(dir);
      // The database as the store sees it, with a way in between a sweep's reading of a page and its doom.
      let hook: (() => Promise<void>) | null = null;
      const hooked = new Proxy(db, {
        get(target, prop) {
          if (prop === 'query') {
            return async (text: string, values?: unknown[], queryName?: string) => {
              const result = await target.query(text, values, queryName);
              if (hook && /ORDER BY sha256 LIMIT/.test(text)) {
                const run = hook;
                hook = null;
                await run();
              }
              return result;
            };
          }
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
      // Small pages: a sweep goes through several of them in a test.
      const content = new BucketContent(hooked, blobs, incoming, REPLICA, { page: 7 });
      return {
        content,
        temps: () => readdir(incoming.dir),
        stored: async () => (await allKeys(blobs, 'content/')).sort(),
        bucket: { db, blobs, content, afterSweepPage: (run) => void (hook = run) },
        close,
      };
    },
  };
}

const bucket = bucketOn(SWIFT_SERVER);
const rgwBucket = bucketOn(CEPH_SERVER);

after(async function () {
  this.timeout(120_000);
  await stopBucketServers();
});

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

for (const backend of [files, bucket, rgwBucket]) {
  describe(`content store conformance: ${backend.name}`, function () {
    this.timeout(120_000);
    let opened: Opened;
    let content: ContentStore;

    before(async function () {
      this.timeout(180_000);
      opened = await backend.open(this);
      content = opened.content;
    });
    after(async () => {
      await opened?.close();
    });

    const put = (body: Buffer | string, expected: string | null = null) => content.put(Readable.from([Buffer.from(body)]), expected);
    const read = async (hash: string, range?: { start: number; end: number }): Promise<string> => (await bytes(await content.read(hash, range))).toString('utf8');
    const b = (): Bucket => opened.bucket as Bucket;
    /** The bucket's rows by state, for the bodies it holds. */
    const rows = async (): Promise<Array<{ key: string; sha256: string | null; state: string }>> => {
      if (!opened.bucket) return [];
      return (await b().db.query<{ key: string; sha256: string | null; state: string }>('SELECT key, sha256, state FROM content_blobs ORDER BY key')).rows;
    };
    /** Nothing of a write left behind: no temporary file, no row that is not live, what is stored as it was. */
    const nothingLeft = async (stored: string[]): Promise<void> => {
      expect(await opened.temps()).to.deep.equal([]);
      expect((await rows()).filter((r) => r.state !== 'live')).to.deep.equal([]);
      expect(await opened.stored()).to.deep.equal(stored);
    };

    it('a body put is read back whole and by range, under its checksum', async () => {
      const stored = await put('hello, content');
      expect(stored).to.deep.equal({ sha256: sha256('hello, content'), size: 14 });
      expect(await read(stored.sha256)).to.equal('hello, content');
      expect(await read(stored.sha256, { start: 7, end: 13 })).to.equal('content');
      expect(await read(stored.sha256, { start: 0, end: 0 })).to.equal('h');
      expect(await read(stored.sha256, { start: 13, end: 13 })).to.equal('t');
      // The checksum declared and right: kept the same.
      const again = await put('declared right', sha256('declared right'));
      expect(await read(again.sha256)).to.equal('declared right');
      // An empty body.
      const empty = await put('');
      expect(empty).to.deep.equal({ sha256: sha256(''), size: 0 });
      expect(await read(empty.sha256)).to.equal('');
      await nothingLeft(await opened.stored());
    });

    it('a writer fed several MiB chunk by chunk, waiting when full, keeps them all', async () => {
      const body = randomBytes(5 * 1024 * 1024 + 12345);
      const writer = await content.open();
      for (let at = 0; at < body.length; at += 64 * 1024) {
        if (!writer.write(body.subarray(at, at + 64 * 1024))) await writer.drained();
        expect(writer.error).to.equal(null);
      }
      const stored = await writer.finish(sha256(body));
      expect(stored).to.deep.equal({ sha256: sha256(body), size: body.length });
      expect((await bytes(await content.read(stored.sha256))).equals(body)).to.equal(true);
      const middle = { start: 1024 * 1024 - 10, end: 3 * 1024 * 1024 + 10 };
      expect((await bytes(await content.read(stored.sha256, middle))).equals(body.subarray(middle.start, middle.end + 1))).to.equal(true);
      // Finished: an abort afterwards changes nothing.
      await writer.abort();
      expect((await bytes(await content.read(stored.sha256))).length).to.equal(body.length);
      expect(await opened.temps()).to.deep.equal([]);
    });

    it('a body said to be large is hashed by the hashing thread: the same checksum; a wrong one, or an abort, keeps nothing', async () => {
      const before = await opened.stored();
      const body = randomBytes(TRAILING_HASH_MIN_BYTES + 3 * 1024 * 1024 + 7);
      const feed = async (writer: Awaited<ReturnType<typeof content.open>>): Promise<void> => {
        for (let at = 0; at < body.length; at += 256 * 1024) if (!writer.write(body.subarray(at, at + 256 * 1024))) await writer.drained();
      };
      const wrong = await content.open(body.length);
      await feed(wrong);
      const err = await rejection(wrong.finish(sha256('something else')));
      expect(err).to.be.instanceOf(MismatchError);
      expect((err as MismatchError).actual).to.equal(sha256(body));
      const aborted = await content.open(body.length);
      await feed(aborted);
      await aborted.abort();
      await nothingLeft(before);
      // Said to be large, and shorter after all: hashed as it is.
      const right = await content.open(body.length * 2);
      await feed(right);
      expect(await right.finish()).to.deep.equal({ sha256: sha256(body), size: body.length });
      expect(sha256(await bytes(await content.read(sha256(body))))).to.equal(sha256(body));
      expect(await opened.temps()).to.deep.equal([]);
    });

    it('a body whose checksum is not the one expected keeps nothing (MismatchError)', async () => {
      const before = await opened.stored();
      const uploads = opened.bucket ? b().blobs.puts : 0;
      const err = await rejection(put('not what was declared', sha256('what was declared')));
      expect(err).to.be.instanceOf(MismatchError);
      expect((err as MismatchError).actual).to.equal(sha256('not what was declared'));
      const writer = await content.open();
      writer.write(Buffer.from('also not what was declared'));
      expect(await rejection(writer.finish(sha256('what was declared')))).to.be.instanceOf(MismatchError);
      await nothingLeft(before);
      expect(await rejection(content.read(sha256('not what was declared')))).to.match(/missing/);
      // Nothing was sent to the bucket.
      if (opened.bucket) expect(b().blobs.puts).to.equal(uploads);
    });

    it('a body longer than allowed keeps nothing (TooLargeError)', async () => {
      const before = await opened.stored();
      const seen: number[] = [];
      const big = Readable.from([Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(1000, 3)]);
      const err = await rejection(content.put(big, null, (n) => seen.push(n), 2500));
      expect(err).to.be.instanceOf(TooLargeError);
      expect(seen).to.deep.equal([1000, 2000]);
      await nothingLeft(before);
      // At the limit exactly: kept.
      const exact = await content.put(Readable.from([Buffer.alloc(2500, 4)]), null, undefined, 2500);
      expect(exact.size).to.equal(2500);
    });

    it('an aborted writer keeps nothing', async () => {
      const before = await opened.stored();
      const writer = await content.open();
      writer.write(randomBytes(200_000));
      await writer.abort();
      await nothingLeft(before);
      // A body that fails midway: the same.
      let sent = false;
      const failing = new Readable({
        read() {
          if (sent) return void setTimeout(() => this.destroy(new Error('the upstream went away')), 10);
          sent = true;
          this.push(Buffer.from('the first part of a body that never ends'));
        },
      });
      expect((await rejection(content.put(failing))).message).to.equal('the upstream went away');
      await nothingLeft(before);
    });

    it('the same body put twice is kept once, and the second put sends nothing', async () => {
      const body = `a body downloaded by two builds ${Math.random()}`;
      const before = await opened.stored();
      const first = await put(body);
      const afterFirst = await opened.stored();
      expect(afterFirst.length).to.equal(before.length + 1);
      const uploads = opened.bucket ? b().blobs.puts : 0;
      const rowsBefore = await rows();
      const second = await put(body);
      expect(second).to.deep.equal(first);
      expect(await opened.stored()).to.deep.equal(afterFirst);
      if (opened.bucket) {
        // Not sent to the bucket at all, no row made for it.
        expect(b().blobs.puts).to.equal(uploads);
        expect(await rows()).to.deep.equal(rowsBefore);
      }
      // Through a writer too.
      const writer = await content.open();
      writer.write(Buffer.from(body));
      expect(await writer.finish()).to.deep.equal(first);
      expect(await opened.stored()).to.deep.equal(afterFirst);
      expect(await read(first.sha256)).to.equal(body);
      await nothingLeft(afterFirst);
    });

    it('a small body kept whole is read back; kept again, it is only marked as used: nothing written or replaced, and a sweep keeps it', async () => {
      const body = Buffer.from(`a small dependency, downloaded by build after build ${Math.random()}`);
      const first = await content.keepWhole(body);
      expect(first).to.deep.equal({ sha256: sha256(body), size: body.length });
      expect(await read(first.sha256)).to.equal(body.toString());
      const afterFirst = await opened.stored();
      const uploads = opened.bucket ? b().blobs.puts : 0;
      const file = content instanceof ContentFiles ? content.pathOf(first.sha256) : null;
      const inode = file ? (await stat(file)).ino : null;
      await sleep(50);
      const since = Date.now();
      await sleep(50);
      expect(await content.keepWhole(body)).to.deep.equal(first);
      expect(await opened.stored()).to.deep.equal(afterFirst);
      if (opened.bucket) expect(b().blobs.puts).to.equal(uploads);
      // The very file, not a new copy renamed over it.
      if (file) expect((await stat(file)).ino).to.equal(inode);
      // Used since `since`: a sweep of everything older, keeping nothing by name, leaves it.
      await content.sweep(new Set(), since);
      expect(await read(first.sha256)).to.equal(body.toString());
      // An empty body too.
      expect(await content.keepWhole(Buffer.alloc(0))).to.deep.equal({ sha256: sha256(''), size: 0 });
      await nothingLeft(await opened.stored());
    });

    it('the same body finished by two writers at once is kept once', async () => {
      const body = Buffer.from(`a body two builds download at once ${Math.random()}`);
      const before = await opened.stored();
      const writers = await Promise.all([content.open(), content.open(), content.open()]);
      for (const w of writers) w.write(body);
      const results = await Promise.all(writers.map((w) => w.finish()));
      for (const r of results) expect(r).to.deep.equal({ sha256: sha256(body), size: body.length });
      expect((await opened.stored()).length).to.equal(before.length + 1);
      expect((await rows()).filter((r) => r.sha256 === sha256(body)).map((r) => r.state)).to.deep.equal(opened.bucket ? ['live'] : []);
      expect((await bytes(await content.read(sha256(body)))).equals(body)).to.equal(true);
      await nothingLeft(await opened.stored());
    });

    it('a sweep removes old bodies not kept; kept, recent and used-again ones stay', async () => {
      const old = await put(`old and unkept ${Math.random()}`);
      const kept = await put(`old and kept ${Math.random()}`);
      const reused = `old, then downloaded again ${Math.random()}`;
      const usedAgain = await put(reused);
      await sleep(50);
      const since = Date.now();
      await sleep(50);
      const recent = await put(`recent ${Math.random()}`);
      await put(reused);
      const storedBefore = await opened.stored();
      const removed = await content.sweep(new Set([kept.sha256]), since);
      // Everything else put by earlier tests is old and unkept too: it goes with `old`.
      expect(removed).to.be.at.least(1);
      expect((await rejection(content.read(old.sha256))).message).to.match(/missing/);
      expect(await read(kept.sha256)).to.match(/^old and kept/);
      expect(await read(recent.sha256)).to.match(/^recent/);
      expect(await read(usedAgain.sha256)).to.equal(reused);
      const storedAfter = await opened.stored();
      expect(storedAfter.length).to.equal(3);
      expect(storedBefore.length - storedAfter.length).to.equal(removed);
      if (opened.bucket) {
        // The old body's object is gone with its row.
        expect((await rows()).map((r) => r.state)).to.deep.equal(['live', 'live', 'live']);
        expect((await rows()).map((r) => r.key)).to.deep.equal(storedAfter);
      }
      // Everything old enough, nothing kept: all go.
      expect(await content.sweep(new Set(), Date.now() + 1000)).to.equal(3);
      expect(await opened.stored()).to.deep.equal([]);
      await nothingLeft([]);
    });

    it('a read of a body that is not there rejects, saying it is missing', async () => {
      const err = await rejection(content.read(sha256('never stored')));
      expect(err.message).to.match(/missing/);
      expect(await rejection(content.read(sha256('never stored'), { start: 0, end: 3 }))).to.match(/missing/);
    });

    if (!backend.bucket) return;

    // The bucket's own: what it must not send twice or leave behind.

    it('a sweep pages through many bodies, and keeps those it is told to', async () => {
      // Rows as old uploads left them (their objects need not exist: a missing one is no error
      // to delete), over several pages of the sweep's (7 rows here).
      const n = 45;
      const hashes = Array.from({ length: n }, (_, i) => sha256(`paged ${i}`));
      await b().db.query(
        `INSERT INTO content_blobs (key, sha256, size, state, replica, used_at)
         SELECT 'content/paged-' || h, h, 1, 'live', 'replica-gone', clock_timestamp() - interval '1 day' FROM unnest($1::text[]) AS h`,
        [hashes],
      );
      const keep = new Set([hashes[0] as string, hashes[20] as string, hashes[n - 1] as string]);
      expect(await b().content.sweep(keep, Date.now() - 3_600_000)).to.equal(n - 3);
      const left = await rows();
      expect(left.map((r) => r.sha256).sort()).to.deep.equal([...keep].sort());
      expect(await b().content.sweep(new Set(), Date.now())).to.equal(3);
      expect(await rows()).to.deep.equal([]);
    });

    it('a body written again while a sweep runs is not removed by it', async () => {
      const body = `downloaded again during the sweep ${Math.random()}`;
      const stored = await put(body);
      await sleep(50);
      const since = Date.now();
      // The sweep has read its page (the body is old and unkept) when the body is downloaded again.
      b().afterSweepPage(async () => {
        await put(body);
      });
      expect(await b().content.sweep(new Set(), since)).to.equal(0);
      expect(await read(stored.sha256)).to.equal(body);
      expect((await rows()).map((r) => r.state)).to.deep.equal(['live']);
      // The next sweep, with nothing written since: it goes.
      expect(await b().content.sweep(new Set(), Date.now() + 1000)).to.equal(1);
      expect(await opened.stored()).to.deep.equal([]);
    });

    it('never reuses a doomed body; a sweep that died midway is finished by the next', async () => {
      const body = `a body being deleted ${Math.random()}`;
      await put(body);
      const [doomed] = await rows();
      // A sweep doomed it and died before deleting anything.
      await b().db.query(`UPDATE content_blobs SET state = 'doomed' WHERE key = $1`, [doomed?.key]);
      expect((await rejection(content.read(sha256(body)))).message).to.match(/missing/);
      const uploads = b().blobs.puts;
      await put(body);
      expect(b().blobs.puts).to.equal(uploads + 1);
      const live = (await rows()).filter((r) => r.state === 'live');
      expect(live.length).to.equal(1);
      expect(live[0]?.key).to.not.equal(doomed?.key);
      expect(await content.sweep(new Set([sha256(body)]), Date.now() + 1000)).to.equal(0);
      expect(await b().blobs.head(doomed?.key as string)).to.equal(null);
      expect(await rows()).to.deep.equal(live);
      expect(await read(sha256(body))).to.equal(body);
      await content.sweep(new Set(), Date.now() + 1000);
    });

    it('sweeps the uploads a dead replica left, not those of a live one', async () => {
      const [dead, live] = ['content/left-by-a-dead-replica', 'content/in-flight-on-a-live-one'];
      for (const [key, replica] of [[dead, 'replica-dead'], [live, 'replica-live']] as const) {
        await b().db.query(`INSERT INTO content_blobs (key, state, replica) VALUES ($1, 'uploading', $2)`, [key, replica]);
        await b().blobs.put(key, Readable.from([Buffer.from(key)]));
      }
      expect(await b().content.sweepUploads([REPLICA, 'replica-live'], 3_600_000)).to.equal(1);
      expect(await b().blobs.head(dead)).to.equal(null);
      expect((await rows()).map((r) => [r.key, r.state])).to.deep.equal([[live, 'uploading']]);
      // Begun longer ago than the limit: given up, even on a live replica.
      expect(await b().content.sweepUploads([REPLICA, 'replica-live'], 0)).to.equal(1);
      expect(await b().blobs.head(live)).to.equal(null);
      expect(await rows()).to.deep.equal([]);
    });

    it('an upload that fails, or is given up meanwhile, keeps nothing', async () => {
      const before = await opened.stored();
      b().blobs.failPuts = true;
      try {
        expect((await rejection(put('the bucket is away for this one'))).message).to.equal('the bucket is away');
      } finally {
        b().blobs.failPuts = false;
      }
      await nothingLeft(before);
      // Swept as abandoned while its bytes are on the way (as if it had taken too long).
      let release = (): void => undefined;
      b().blobs.hold = new Promise((resolve) => (release = resolve));
      const writer = await content.open();
      writer.write(Buffer.from('a slow upload'));
      const finishing = rejection(writer.finish());
      try {
        // Its row is made before the upload begins.
        for (let i = 0; i < 1000 && !(await rows()).some((r) => r.state === 'uploading'); i++) await sleep(5);
        expect(await b().content.sweepUploads([REPLICA], 0)).to.equal(1);
      } finally {
        b().blobs.hold = null;
        release();
      }
      expect((await finishing).message).to.match(/given up/);
      await nothingLeft(before);
      expect((await rejection(content.read(sha256('a slow upload')))).message).to.match(/missing/);
    });

    it('a read while the bucket is away rejects', async () => {
      const stored = await put(`read while away ${Math.random()}`);
      b().blobs.failGets = true;
      try {
        expect((await rejection(content.read(stored.sha256))).message).to.equal('the bucket is away');
      } finally {
        b().blobs.failGets = false;
      }
      expect(await read(stored.sha256)).to.match(/^read while away/);
    });
  });
}
