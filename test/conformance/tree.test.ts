// One suite over both artifact trees (issue 32): the volume's (files on disk) and the one
// kept in PostgreSQL with its bytes in an S3 bucket (a real PostgreSQL, and as the S3 server
// OpenStack Swift with s3api, then Ceph RGW, started by the test). What a user would notice of one, they notice of the
// other: reads whole and by range, replacements with new validators, failed uploads that
// leave nothing, collections made, copied, moved, removed and set aside, the order of a
// walk. For the bucket also what it must not leave behind: identical bytes stored once,
// no object for a copy, unreferenced blobs collected (and referenced ones never), uploads
// of a replica that died swept.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { makeTempDir } from '../helpers/harness.js';
import { bucketBackend, CEPH_SERVER, stopBucketServers, SWIFT_SERVER, type S3ServerKind } from '../helpers/bucket-mode.js';
import { ArtifactStore } from '../../server/storage/artifact-store.js';
import { IncomingFiles } from '../../server/storage/incoming.js';
import { Database } from '../../server/storage/pg/database.js';
import { BucketTree } from '../../server/storage/pg/bucket-tree.js';
import type { ArtifactTree, BlobStore, TreePutOptions, TreeStats } from '../../server/domain/stores.js';
import { Failure } from '../../server/domain/errors.js';

const REPLICA = 'replica-a';

interface Bucket {
  db: Database;
  blobs: BlobStore;
  tree: BucketTree;
}

interface Opened {
  tree: ArtifactTree;
  /** The bucket's own parts (rows and objects), for what only it must not leave behind. */
  bucket: Bucket | null;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  /** Whether it is the bucket (its own tests are defined for it alone). */
  bucket: boolean;
  open(ctx: Mocha.Context): Promise<Opened>;
}

const volume: Backend = {
  name: 'volume (files on disk)',
  bucket: false,
  async open() {
    const dir = await makeTempDir('tree-');
    const store = new ArtifactStore(dir);
    await store.init();
    return { tree: store, bucket: null, close: () => rm(dir, { recursive: true, force: true }) };
  },
};

/** The bucket tree with its bytes on one S3 server. */
function bucketOn(server: S3ServerKind): Backend {
  return {
    name: `bucket (PostgreSQL rows, bytes in ${server.name} over S3)`,
    bucket: true,
    async open(ctx) {
      const { db, blobs, dir, close } = await bucketBackend(ctx, server, 'tree');
      const temp = new IncomingFiles(dir, REPLICA);
      await temp.ensure();
      const tree = new BucketTree(db, blobs, temp, REPLICA);
      return { tree, bucket: { db, blobs, tree }, close };
    },
  };
}

const bucket = bucketOn(SWIFT_SERVER);
const rgwBucket = bucketOn(CEPH_SERVER);

after(async function () {
  this.timeout(120_000);
  await stopBucketServers();
});

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function failureOf(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Failure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

/** Every key below a prefix, page by page. */
async function allKeys(blobs: BlobStore, prefix = 'blobs/'): Promise<string[]> {
  const keys: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { keys: string[]; next: string | null } = await blobs.list(prefix, after, 1000);
    keys.push(...page.keys);
    if (page.next === null) return keys;
    after = page.next;
  }
}

/** A body that sends some bytes, then fails (the client went away). */
function failingBody(): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.from('the first part of a body that never ends'));
      } else setTimeout(() => this.destroy(new Error('the client went away')), 20);
    },
  });
}

for (const backend of [volume, bucket, rgwBucket]) {
  describe(`artifact tree conformance: ${backend.name}`, function () {
    this.timeout(120_000);
    let tree: ArtifactTree;
    let opened: Opened;

    before(async function () {
      this.timeout(180_000);
      opened = await backend.open(this);
      tree = opened.tree;
    });
    after(async () => {
      await opened?.close();
    });

    // With its length, as an HTTP PUT with a Content-Length (a bucket's one request); the multipart path is tested on its own.
    const put = (segments: string[], body: string, options?: TreePutOptions) => tree.putFile(segments, Readable.from([Buffer.from(body)]), { declaredLength: Buffer.byteLength(body), ...options });
    const read = async (segments: string[], start?: number, end?: number): Promise<string | null> => {
      const file = await tree.open(segments);
      return file ? text(await file.stream(start, end)) : null;
    };
    /** Nothing of an upload left behind in the bucket: no row still 'uploading', no object beyond `objects`. */
    const nothingLeft = async (objects: string[] | null): Promise<void> => {
      const b = opened.bucket;
      if (!b) return;
      const { rows } = await b.db.query<{ n: string }>(`SELECT count(*) AS n FROM tree_blobs WHERE state = 'uploading'`);
      expect(Number(rows[0]?.n)).to.equal(0);
      expect(await allKeys(b.blobs)).to.deep.equal(objects);
    };
    const objects = async (): Promise<string[] | null> => (opened.bucket ? allKeys(opened.bucket.blobs) : null);

    it('a file put is read back whole and by range; stat, open and the put agree', async () => {
      const result = await put(['read', 'a.txt'], 'hello, world');
      expect(result).to.include({ created: true, replacedSize: 0, size: 12, sha256: sha256('hello, world') });
      const stats = (await tree.stat(['read', 'a.txt'])) as TreeStats;
      expect(stats.isFile()).to.equal(true);
      expect(stats.isDirectory()).to.equal(false);
      expect(stats.size).to.equal(12);
      expect(stats.ino).to.equal(result.stats.ino);
      expect(Math.floor(stats.mtimeMs)).to.equal(Math.floor(result.stats.mtimeMs));
      expect(stats.mtime.getTime()).to.be.closeTo(stats.mtimeMs, 1);
      expect((await tree.stat(['read']))?.isDirectory()).to.equal(true);
      expect((await tree.stat([]))?.isDirectory()).to.equal(true);
      const file = await tree.open(['read', 'a.txt']);
      expect(file?.stats.size).to.equal(12);
      expect(await text(await file!.stream())).to.equal('hello, world');
      expect(await read(['read', 'a.txt'], 7, 11)).to.equal('world');
      expect(await read(['read', 'a.txt'], 0, 0)).to.equal('h');
      expect(await read(['read', 'a.txt'], 11)).to.equal('d');
      // An empty file, and what is not a file.
      await put(['read', 'empty'], '');
      expect(await read(['read', 'empty'])).to.equal('');
      expect((await tree.stat(['read', 'empty']))?.size).to.equal(0);
      expect(await tree.open(['read'])).to.equal(null);
      expect(await tree.open(['read', 'missing'])).to.equal(null);
      expect(await tree.stat(['read', 'missing'])).to.equal(null);
      // Below a file: nothing.
      expect(await tree.stat(['read', 'a.txt', 'x'])).to.equal(null);
      // Opened and let go unread.
      (await tree.open(['read', 'a.txt']))?.close();
    });

    it('a replacement is another file: a new ino, and a later whole second even at the same size', async () => {
      const first = await put(['replace', 'f'], 'abc');
      const second = await put(['replace', 'f'], 'xyz');
      expect(second).to.include({ created: false, replacedSize: 3, size: 3 });
      expect(second.stats.ino).to.not.equal(first.stats.ino);
      expect(Math.floor(second.stats.mtimeMs / 1000)).to.be.greaterThan(Math.floor(first.stats.mtimeMs / 1000));
      const stats = (await tree.stat(['replace', 'f'])) as TreeStats;
      expect(stats.ino).to.equal(second.stats.ino);
      expect(Math.floor(stats.mtimeMs / 1000)).to.equal(Math.floor(second.stats.mtimeMs / 1000));
      expect(await read(['replace', 'f'])).to.equal('xyz');
    });

    it('an open() taken before a replacement still streams the bytes it opened', async () => {
      await put(['opened', 'f'], 'the old bytes');
      const before = await tree.open(['opened', 'f']);
      await put(['opened', 'f'], 'the new bytes, longer');
      expect(await text(await before!.stream())).to.equal('the old bytes');
      expect(await read(['opened', 'f'])).to.equal('the new bytes, longer');
    });

    it('a body that fails midway leaves nothing at the path, and nothing behind', async () => {
      const objectsBefore = await objects();
      let failed: unknown = null;
      await tree.putFile(['cut', 'f'], failingBody()).catch((err: unknown) => (failed = err));
      // What failed is the body, whatever the store did about it.
      expect((failed as Error | null)?.message).to.equal('the client went away');
      expect(await tree.stat(['cut', 'f'])).to.equal(null);
      await nothingLeft(objectsBefore);
      // A body shorter than it declared is an upload cut short; one longer, refused.
      const short = await failureOf(tree.putFile(['cut', 'g'], Readable.from([Buffer.from('abc')]), { declaredLength: 10 }));
      expect(short.kind).to.equal('invalid');
      const long = await failureOf(tree.putFile(['cut', 'h'], Readable.from([Buffer.from('abcdef')]), { declaredLength: 3 }));
      expect(long.kind).to.equal('invalid');
      expect(await tree.stat(['cut', 'g'])).to.equal(null);
      expect(await tree.stat(['cut', 'h'])).to.equal(null);
      await nothingLeft(objectsBefore);
      // A replacement that fails leaves the file it would have replaced.
      await put(['cut', 'kept'], 'kept');
      const objectsThen = await objects();
      await tree.putFile(['cut', 'kept'], failingBody()).catch(() => undefined);
      expect(await read(['cut', 'kept'])).to.equal('kept');
      await nothingLeft(objectsThen);
    });

    it('a body whose SHA-256 is not the one declared stores nothing', async () => {
      const objectsBefore = await objects();
      const failure = await failureOf(put(['checked', 'f'], 'these bytes', { expectedSha256: sha256('other bytes') }));
      expect(failure.kind).to.equal('invalid');
      expect(failure.message).to.match(/^checksum mismatch: .*nothing was stored$/);
      expect(await tree.stat(['checked', 'f'])).to.equal(null);
      expect(await tree.stat(['checked'])).to.equal(null);
      await nothingLeft(objectsBefore);
      const ok = await put(['checked', 'f'], 'these bytes', { expectedSha256: sha256('these bytes') });
      expect(ok.created).to.equal(true);
    });

    it('beforePublish sees the stats the file gets; when it throws, nothing is stored', async () => {
      const objectsBefore = await objects();
      let called = 0;
      const refused = await put(['publish', 'f'], 'refused', {
        beforePublish: async () => {
          called++;
          throw new Failure('conflict', 'refused by the test');
        },
      }).catch((err: unknown) => err);
      expect(called).to.equal(1);
      expect((refused as Failure).message).to.equal('refused by the test');
      expect(await tree.stat(['publish', 'f'])).to.equal(null);
      await nothingLeft(objectsBefore);
      let seen: { sha256: string; stats: TreeStats } | null = null;
      const result = await put(['publish', 'f'], 'accepted', {
        beforePublish: async (sha, stats) => {
          seen = { sha256: sha, stats };
          return async () => undefined;
        },
      });
      const stats = (await tree.stat(['publish', 'f'])) as TreeStats;
      expect(seen!.sha256).to.equal(sha256('accepted'));
      expect(seen!.stats.ino).to.equal(stats.ino);
      expect(seen!.stats.size).to.equal(stats.size);
      expect(Math.floor(seen!.stats.mtimeMs / 1000)).to.equal(Math.floor(stats.mtimeMs / 1000));
      expect(result.stats.ino).to.equal(stats.ino);
    });

    it('a put below a file is a conflict; a put where a collection is, not allowed', async () => {
      await put(['kinds', 'file'], 'a file');
      expect((await failureOf(put(['kinds', 'file', 'below'], 'x'))).kind).to.equal('conflict');
      expect((await failureOf(put(['kinds', 'file', 'deeper', 'below'], 'x'))).kind).to.equal('conflict');
      await tree.makeCollection(['kinds', 'folder']);
      const failure = await failureOf(put(['kinds', 'folder'], 'x'));
      expect(failure.kind).to.equal('not-allowed');
      expect(failure.message).to.equal('a collection exists at this path');
      expect((await tree.stat(['kinds', 'folder']))?.isDirectory()).to.equal(true);
      expect(await read(['kinds', 'file'])).to.equal('a file');
    });

    it('makeCollection refuses what exists and a missing parent; ensureCollection makes the parents', async () => {
      await tree.makeCollection(['mk']);
      const twice = await failureOf(tree.makeCollection(['mk']));
      expect([twice.kind, twice.message]).to.deep.equal(['not-allowed', 'the collection already exists']);
      const orphan = await failureOf(tree.makeCollection(['mk', 'no', 'parent']));
      expect([orphan.kind, orphan.message]).to.deep.equal(['conflict', 'the parent collection does not exist']);
      await put(['mk', 'file'], 'x');
      expect((await failureOf(tree.makeCollection(['mk', 'file']))).kind).to.equal('not-allowed');
      expect((await failureOf(tree.makeCollection(['mk', 'file', 'below']))).kind).to.equal('conflict');
      await tree.ensureCollection(['mk', 'a', 'b', 'c']);
      await tree.ensureCollection(['mk', 'a', 'b', 'c']);
      for (const segments of [['mk', 'a'], ['mk', 'a', 'b'], ['mk', 'a', 'b', 'c']]) expect((await tree.stat(segments))?.isDirectory()).to.equal(true);
      expect((await failureOf(tree.ensureCollection(['mk', 'file', 'below']))).kind).to.equal('conflict');
    });

    it('lists a collection: names and stats of its members, no more', async () => {
      await put(['ls', 'one.txt'], '1');
      await put(['ls', 'two.txt'], '22');
      await put(['ls', 'sub', 'deep.txt'], '333');
      await tree.makeCollection(['ls', 'empty']);
      const names = await tree.names(['ls']);
      expect(names.sort((a, b) => (a.name < b.name ? -1 : 1))).to.deep.equal([
        { name: 'empty', collection: true },
        { name: 'one.txt', collection: false },
        { name: 'sub', collection: true },
        { name: 'two.txt', collection: false },
      ]);
      const listed = new Map((await tree.list(['ls'])).map((e) => [e.name, e.stats]));
      expect([...listed.keys()].sort()).to.deep.equal(['empty', 'one.txt', 'sub', 'two.txt']);
      expect(listed.get('two.txt')?.size).to.equal(2);
      expect(listed.get('two.txt')?.isFile()).to.equal(true);
      expect(listed.get('sub')?.isDirectory()).to.equal(true);
      expect(listed.get('one.txt')?.ino).to.equal((await tree.stat(['ls', 'one.txt']))?.ino);
      expect(await tree.names(['ls', 'empty'])).to.deep.equal([]);
      expect(await tree.list(['ls', 'empty'])).to.deep.equal([]);
      // The root lists the top collections, never a hidden one.
      const top = (await tree.names([])).map((e) => e.name);
      expect(top).to.include.members(['ls', 'read']);
      expect(top.filter((n) => n.startsWith('.'))).to.deep.equal([]);
      // What is no collection is an error.
      await tree.names(['ls', 'missing']).then(
        () => expect.fail('listed a missing collection'),
        () => undefined,
      );
    });

    it('walks the files below a collection in path order by segment, as the volume walks', async () => {
      const files = ['a-b', 'a/b', 'a/c/d', 'B', 'a.txt', 'a/b-c', 'a/b.d/e', '\u00e9', 'z/\u00e9t\u00e9'];
      for (const f of files) await put(['walk', ...f.split('/')], f);
      await tree.makeCollection(['walk', 'empty']);
      const walked = await tree.filesBelow(['walk']);
      expect(walked.map((f) => f.relative.join('/'))).to.deep.equal(['B', 'a/b', 'a/b-c', 'a/b.d/e', 'a/c/d', 'a-b', 'a.txt', 'z/\u00e9t\u00e9', '\u00e9']);
      const ab = walked.find((f) => f.relative.join('/') === 'a/b');
      const stats = (await tree.stat(['walk', 'a', 'b'])) as TreeStats;
      expect(ab).to.deep.include({ size: 3, ino: stats.ino });
      expect(Math.floor(ab!.mtimeMs)).to.equal(Math.floor(stats.mtimeMs));
      expect((await tree.filesBelow(['walk', 'a'])).map((f) => f.relative.join('/'))).to.deep.equal(['b', 'b-c', 'b.d/e', 'c/d']);
      expect(await tree.filesBelow(['walk', 'missing'])).to.deep.equal([]);
      // From the root: the same files, below their top folder.
      const fromRoot = (await tree.filesBelow([])).map((f) => f.relative.join('/')).filter((p) => p.startsWith('walk/'));
      expect(fromRoot).to.deep.equal(walked.map((f) => `walk/${f.relative.join('/')}`));
      expect(await tree.deepestBelow(['walk'])).to.deep.equal({ bytes: Buffer.byteLength('a/b.d/e') + 1, segments: 3 });
    });

    it('copies a collection with its members, replacing the destination; depth 0 copies it alone', async () => {
      await put(['cp', 'src', 'one'], 'one');
      await put(['cp', 'src', 'sub', 'two'], 'two');
      await put(['cp', 'dst', 'old'], 'was there');
      const objectsBefore = await objects();
      await tree.copy(['cp', 'src'], ['cp', 'dst'], false);
      expect(await read(['cp', 'dst', 'one'])).to.equal('one');
      expect(await read(['cp', 'dst', 'sub', 'two'])).to.equal('two');
      expect(await tree.stat(['cp', 'dst', 'old'])).to.equal(null);
      expect(await read(['cp', 'src', 'one'])).to.equal('one');
      const [source, copied] = [await tree.stat(['cp', 'src', 'one']), await tree.stat(['cp', 'dst', 'one'])];
      expect(copied?.ino).to.not.equal(source?.ino);
      expect(Math.floor((copied as TreeStats).mtimeMs / 1000)).to.equal(Math.floor((source as TreeStats).mtimeMs / 1000));
      // The bucket copies rows, not bytes.
      if (opened.bucket) expect(await objects()).to.deep.equal(objectsBefore);
      // Independent of its source from now on.
      await put(['cp', 'src', 'one'], 'changed');
      expect(await read(['cp', 'dst', 'one'])).to.equal('one');
      // A file, over a file.
      await tree.copy(['cp', 'src', 'one'], ['cp', 'dst', 'sub', 'two'], false);
      expect(await read(['cp', 'dst', 'sub', 'two'])).to.equal('changed');
      // Depth 0: the collection, none of its members.
      await tree.copy(['cp', 'src'], ['cp', 'bare'], true);
      expect((await tree.stat(['cp', 'bare']))?.isDirectory()).to.equal(true);
      expect(await tree.names(['cp', 'bare'])).to.deep.equal([]);
      // Onto a collection that holds the source: the copy replaces it.
      await tree.copy(['cp', 'dst', 'sub'], ['cp', 'dst'], false);
      expect((await tree.filesBelow(['cp', 'dst'])).map((f) => f.relative.join('/'))).to.deep.equal(['two']);
      expect((await failureOf(tree.copy(['cp', 'nothing'], ['cp', 'x'], false))).kind).to.equal('not-found');
    });

    it('moves a collection with its members (their inos kept), replacing the destination', async () => {
      await put(['mv', 'src', 'one'], 'one');
      await put(['mv', 'src', 'sub', 'two'], 'two');
      await put(['mv', 'dst', 'old'], 'was there');
      const ino = (await tree.stat(['mv', 'src', 'sub', 'two']))?.ino;
      await tree.move(['mv', 'src'], ['mv', 'dst']);
      expect(await tree.stat(['mv', 'src'])).to.equal(null);
      expect(await tree.stat(['mv', 'src', 'one'])).to.equal(null);
      expect(await read(['mv', 'dst', 'one'])).to.equal('one');
      expect(await read(['mv', 'dst', 'sub', 'two'])).to.equal('two');
      expect((await tree.stat(['mv', 'dst', 'sub', 'two']))?.ino).to.equal(ino);
      expect(await tree.stat(['mv', 'dst', 'old'])).to.equal(null);
      expect((await tree.names(['mv'])).map((e) => e.name)).to.deep.equal(['dst']);
      // A file, to a new name.
      await tree.move(['mv', 'dst', 'one'], ['mv', 'dst', 'renamed']);
      expect(await read(['mv', 'dst', 'renamed'])).to.equal('one');
      expect(await tree.stat(['mv', 'dst', 'one'])).to.equal(null);
      expect((await failureOf(tree.move(['mv', 'nothing'], ['mv', 'x']))).kind).to.equal('not-found');
    });

    it('removes a file, and a collection with all below it; what is not there is not found', async () => {
      await put(['rm', 'keep'], 'kept');
      await put(['rm', 'gone', 'a'], 'a');
      await put(['rm', 'gone', 'b', 'c'], 'c');
      await put(['rm', 'gone-too'], 'similar name, kept');
      await tree.remove(['rm', 'gone']);
      expect(await tree.stat(['rm', 'gone'])).to.equal(null);
      expect(await tree.stat(['rm', 'gone', 'b', 'c'])).to.equal(null);
      expect(await tree.filesBelow(['rm', 'gone'])).to.deep.equal([]);
      expect(await read(['rm', 'gone-too'])).to.equal('similar name, kept');
      await tree.remove(['rm', 'keep']);
      expect(await tree.stat(['rm', 'keep'])).to.equal(null);
      expect((await tree.names(['rm'])).map((e) => e.name)).to.deep.equal(['gone-too']);
      expect((await failureOf(tree.remove(['rm', 'keep']))).kind).to.equal('not-found');
    });

    it('sets a collection aside (gone for readers) and restores it whole', async () => {
      await put(['aside', 'build', 'a'], 'a');
      await put(['aside', 'build', 'sub', 'b'], 'b');
      const ino = (await tree.stat(['aside', 'build', 'a']))?.ino;
      const aside = await tree.setAside(['aside', 'build']);
      expect(await tree.stat(['aside', 'build'])).to.equal(null);
      expect(await tree.stat(['aside', 'build', 'a'])).to.equal(null);
      expect(await tree.names(['aside'])).to.deep.equal([]);
      expect((await tree.filesBelow([])).filter((f) => f.relative[0] === 'aside' || f.relative[0]?.startsWith('.'))).to.deep.equal([]);
      expect((await tree.names([])).filter((e) => e.name.startsWith('.'))).to.deep.equal([]);
      await aside.restore();
      expect(await read(['aside', 'build', 'a'])).to.equal('a');
      expect(await read(['aside', 'build', 'sub', 'b'])).to.equal('b');
      expect((await tree.stat(['aside', 'build', 'a']))?.ino).to.equal(ino);
    });

    it('sets a top collection aside and drops it: gone for good, never listed', async () => {
      await put(['dropped', 'x', 'a'], 'a');
      const aside = await tree.setAside(['dropped']);
      expect((await tree.names([])).map((e) => e.name)).to.not.include('dropped');
      expect((await tree.names([])).filter((e) => e.name.startsWith('.'))).to.deep.equal([]);
      await aside.drop();
      expect(await tree.stat(['dropped'])).to.equal(null);
      expect(await tree.stat(['dropped', 'x', 'a'])).to.equal(null);
      if (opened.bucket) {
        const { rows } = await opened.bucket.db.query<{ n: string }>(`SELECT count(*) AS n FROM tree_entries WHERE starts_with(path, '.')`);
        expect(Number(rows[0]?.n)).to.equal(0);
      }
      // Nothing there to set aside: refused (its kind is the store's).
      await tree.setAside(['dropped']).then(
        () => expect.fail('set aside what is not there'),
        () => undefined,
      );
    });

    it('gives a file as a path on this machine, refuses one too large, and lets go of it', async () => {
      await put(['local', 'f.zip'], 'the bytes of a zip');
      const local = await tree.localFile(['local', 'f.zip'], 1024);
      expect(local?.size).to.equal(18);
      expect(await readFile(local!.path, 'utf8')).to.equal('the bytes of a zip');
      await local!.release();
      // The bucket's is a download of its own, gone once released (the volume's is the file itself).
      if (opened.bucket) expect(existsSync(local!.path)).to.equal(false);
      expect(await read(['local', 'f.zip'])).to.equal('the bytes of a zip');
      expect((await failureOf(tree.localFile(['local', 'f.zip'], 5))).kind).to.equal('too-large');
      expect(await tree.localFile(['local', 'missing'], 1024)).to.equal(null);
      expect(await tree.localFile(['local'], 1024)).to.equal(null);
    });

    it('says which paths are too long for it, and follows no symbolic link', () => {
      expect(tree.storagePathProblem(['short', 'path'])).to.equal(null);
      expect(tree.storagePathProblem(Array.from({ length: 20 }, () => 'x'.repeat(240)))).to.be.a('string');
      expect(tree.symlinkProblem(['short', 'path'])).to.equal(null);
    });

    if (!backend.bucket) return;

    // The bucket alone: what it keeps of the bytes.
    const b = (): Bucket => opened.bucket as Bucket;
    const blobOf = async (segments: string[]): Promise<string> => {
      const { rows } = await b().db.query<{ blob: string }>('SELECT blob FROM tree_entries WHERE path = $1', [segments.join('/')]);
      return rows[0]?.blob as string;
    };
    const blobState = async (key: string): Promise<string | null> => {
      const { rows } = await b().db.query<{ state: string }>('SELECT state FROM tree_blobs WHERE key = $1', [key]);
      return rows[0]?.state ?? null;
    };

    it('stores identical bytes once, whatever the paths', async () => {
      const before = await objects();
      await put(['same', 'one'], 'identical bytes');
      const after = await objects();
      expect(after!.length).to.equal(before!.length + 1);
      await put(['same', 'two'], 'identical bytes');
      await put(['same', 'three', 'deeper'], 'identical bytes');
      expect(await objects()).to.deep.equal(after);
      expect(await blobOf(['same', 'two'])).to.equal(await blobOf(['same', 'one']));
      expect(await read(['same', 'three', 'deeper'])).to.equal('identical bytes');
      // Still separate files: each its own version.
      expect((await tree.stat(['same', 'one']))?.ino).to.not.equal((await tree.stat(['same', 'two']))?.ino);
      const { rows } = await b().db.query<{ n: string }>(`SELECT count(*) AS n FROM tree_blobs WHERE sha256 = $1`, [sha256('identical bytes')]);
      expect(Number(rows[0]?.n)).to.equal(1);
    });

    it('puts of the same bytes at once make one blob; puts to one path at once leave one of them whole', async () => {
      const before = await objects();
      const bodies = Array.from({ length: 8 }, (_, i) => i);
      // Each publish held open a while, so that they overlap: all but one find the blob made live by another.
      await tree.ensureCollection(['together']);
      const slowly: TreePutOptions = { beforePublish: () => new Promise((resolve) => setTimeout(() => resolve(async () => undefined), 300)) };
      await Promise.all(bodies.map((i) => put(['together', `f${i}`], 'sent by eight at once', slowly)));
      const blobs = new Set(await Promise.all(bodies.map((i) => blobOf(['together', `f${i}`]))));
      expect(blobs.size).to.equal(1);
      expect((await objects())!.length).to.equal(before!.length + 1);
      await nothingLeft(await objects());
      const results = await Promise.all(bodies.map((i) => put(['together', 'one'], `writer ${i}`)));
      expect(results.filter((r) => r.created)).to.have.length(1);
      const final = (await tree.stat(['together', 'one'])) as TreeStats;
      expect(results.map((r) => r.stats.ino)).to.include(final.ino);
      expect(await read(['together', 'one'])).to.match(/^writer \d$/);
      // Each replacement got a later second than the one it replaced: all distinct.
      expect(new Set(results.map((r) => Math.floor(r.stats.mtimeMs / 1000))).size).to.equal(8);
    });

    it('collects a blob once no file refers to it, and never one a file refers to', async () => {
      await put(['gc', 'one'], 'collected in the end');
      await put(['gc', 'two'], 'collected in the end');
      await put(['gc', 'other'], 'never collected');
      const [blob, other] = [await blobOf(['gc', 'one']), await blobOf(['gc', 'other'])];
      await tree.remove(['gc', 'one']);
      await b().tree.collectGarbage({ graceMs: 0, batch: 1000 });
      expect(await b().blobs.head(blob)).to.not.equal(null);
      expect(await read(['gc', 'two'])).to.equal('collected in the end');
      await tree.remove(['gc', 'two']);
      // Within its grace, kept (a reader that opened it before keeps reading).
      await b().tree.collectGarbage({ graceMs: 3_600_000, batch: 1000 });
      expect(await b().blobs.head(blob)).to.not.equal(null);
      expect(await b().tree.collectGarbage({ graceMs: 0, batch: 1000 })).to.be.at.least(1);
      expect(await b().blobs.head(blob)).to.equal(null);
      expect(await blobState(blob)).to.equal(null);
      expect(await b().blobs.head(other)).to.not.equal(null);
      expect(await read(['gc', 'other'])).to.equal('never collected');
      // A replaced file's old bytes go the same way.
      await put(['gc', 'replaced'], 'old bytes of a replaced file');
      const old = await blobOf(['gc', 'replaced']);
      await put(['gc', 'replaced'], 'new bytes of a replaced file');
      await b().tree.collectGarbage({ graceMs: 0, batch: 1000 });
      expect(await b().blobs.head(old)).to.equal(null);
      expect(await read(['gc', 'replaced'])).to.equal('new bytes of a replaced file');
    });

    it('asks again before it dooms a blob: one marked unreferenced long ago but referenced now is kept', async () => {
      await put(['recheck', 'a'], 'referenced all along');
      const blob = await blobOf(['recheck', 'a']);
      // As if a collection had noticed it unreferenced a day ago (a reference added since).
      await b().db.query(`UPDATE tree_blobs SET unreferenced_since = clock_timestamp() - interval '1 day' WHERE state = 'live'`);
      await b().tree.collectGarbage({ graceMs: 0, batch: 1000 });
      expect(await b().blobs.head(blob)).to.not.equal(null);
      expect(await blobState(blob)).to.equal('live');
      expect(await read(['recheck', 'a'])).to.equal('referenced all along');
      const { rows } = await b().db.query<{ n: string }>(`SELECT count(*) AS n FROM tree_blobs b WHERE unreferenced_since IS NOT NULL AND EXISTS (SELECT 1 FROM tree_entries e WHERE e.blob = b.key)`);
      expect(Number(rows[0]?.n)).to.equal(0);
    });

    it('reuses an unreferenced blob still in its grace, and then keeps it', async () => {
      await put(['reuse', 'a'], 'bytes that come back');
      const blob = await blobOf(['reuse', 'a']);
      await tree.remove(['reuse', 'a']);
      await b().tree.collectGarbage({ graceMs: 3_600_000, batch: 1000 });
      const before = await objects();
      await put(['reuse', 'b'], 'bytes that come back');
      expect(await blobOf(['reuse', 'b'])).to.equal(blob);
      expect(await objects()).to.deep.equal(before);
      await b().tree.collectGarbage({ graceMs: 0, batch: 1000 });
      expect(await b().blobs.head(blob)).to.not.equal(null);
      expect(await read(['reuse', 'b'])).to.equal('bytes that come back');
    });

    it('never reuses a doomed blob; a collection that died midway is finished by the next', async () => {
      await put(['doomed', 'a'], 'bytes being deleted');
      const blob = await blobOf(['doomed', 'a']);
      await tree.remove(['doomed', 'a']);
      // A collection doomed it and died before deleting anything.
      await b().db.query(`UPDATE tree_blobs SET state = 'doomed' WHERE key = $1`, [blob]);
      await put(['doomed', 'b'], 'bytes being deleted');
      const fresh = await blobOf(['doomed', 'b']);
      expect(fresh).to.not.equal(blob);
      expect(await blobState(fresh)).to.equal('live');
      await b().tree.collectGarbage({ graceMs: 3_600_000, batch: 1000 });
      expect(await b().blobs.head(blob)).to.equal(null);
      expect(await blobState(blob)).to.equal(null);
      expect(await read(['doomed', 'b'])).to.equal('bytes being deleted');
    });

    it('copies and moves keep the blobs they name from collection', async () => {
      await put(['keep', 'src', 'f'], 'copied, then the source removed');
      await tree.copy(['keep', 'src'], ['keep', 'copy'], false);
      await tree.move(['keep', 'copy'], ['keep', 'moved']);
      await tree.remove(['keep', 'src']);
      await b().tree.collectGarbage({ graceMs: 0, batch: 1000 });
      expect(await read(['keep', 'moved', 'f'])).to.equal('copied, then the source removed');
      const aside = await tree.setAside(['keep', 'moved']);
      await b().tree.collectGarbage({ graceMs: 0, batch: 1000 });
      await aside.restore();
      expect(await read(['keep', 'moved', 'f'])).to.equal('copied, then the source removed');
    });

    it('sweeps the uploads a dead replica left, not those of a live one', async () => {
      const [dead, live] = ['blobs/left-by-a-dead-replica', 'blobs/in-flight-on-a-live-one'];
      for (const [key, replica] of [[dead, 'replica-dead'], [live, 'replica-live']] as const) {
        await b().db.query(`INSERT INTO tree_blobs (key, state, replica) VALUES ($1, 'uploading', $2)`, [key, replica]);
        await b().blobs.put(key, Readable.from([Buffer.from(key)]));
      }
      expect(await b().tree.sweepUploads([REPLICA, 'replica-live'], 3_600_000)).to.equal(1);
      expect(await b().blobs.head(dead)).to.equal(null);
      expect(await blobState(dead)).to.equal(null);
      expect(await b().blobs.head(live)).to.not.equal(null);
      expect(await blobState(live)).to.equal('uploading');
      // Begun longer ago than the limit: given up, even on a live replica.
      expect(await b().tree.sweepUploads([REPLICA, 'replica-live'], 0)).to.equal(1);
      expect(await b().blobs.head(live)).to.equal(null);
      expect(await blobState(live)).to.equal(null);
    });

    it('a put whose upload was swept meanwhile fails and leaves nothing', async () => {
      const before = await objects();
      let sent = false;
      const slow = new Readable({
        read() {
          if (sent) return;
          sent = true;
          // Swept while the body is in flight (as if it had taken longer than the limit).
          void b()
            .tree.sweepUploads([REPLICA], 0)
            .then(() => {
              this.push(Buffer.from('late bytes'));
              this.push(null);
            });
        },
      });
      const failure = await failureOf(tree.putFile(['swept', 'f'], slow));
      expect(failure.kind).to.equal('unavailable');
      expect(await tree.stat(['swept', 'f'])).to.equal(null);
      await nothingLeft(before);
    });

    it('forgets what a dead replica set aside, not what a live one did', async () => {
      await put(['asides', 'mine', 'f'], 'mine');
      const mine = await tree.setAside(['asides', 'mine']);
      await b().db.query(`INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version) VALUES ('.aside/replica-dead/0123', '.aside/replica-dead', '0123', true, 0, 0, 0)`);
      expect(await b().tree.sweepAsides([])).to.equal(1);
      await mine.restore();
      expect(await read(['asides', 'mine', 'f'])).to.equal('mine');
    });
  });
}
