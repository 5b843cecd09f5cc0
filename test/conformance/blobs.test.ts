// One suite over every blob store (issue 32): files on a volume, and an S3 bucket on two real
// S3 servers from Debian's packages (OpenStack Swift with s3api, and Ceph RGW), each started
// by the test on 127.0.0.1. What one does, the others do: whole and ranged reads, a body cut
// midway leaving nothing, listing in key order by pages, copies, deletes, hostile keys.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir } from '../helpers/harness.js';
import { requireSwift, startSwift, type RunningSwift } from '../helpers/swift.js';
import { requireCeph, startCeph } from '../helpers/ceph.js';
import type { RunningS3 } from '../helpers/daemons.js';
import { FileBlobStore } from '../../server/storage/file-blobs.js';
import { S3BlobStore } from '../../server/storage/s3-blobs.js';
import { IncomingFiles } from '../../server/storage/incoming.js';
import { Failure } from '../../server/domain/errors.js';
import type { BlobStore } from '../../server/domain/stores.js';
import { ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';

interface Opened {
  blobs: BlobStore;
  /** S3: multipart uploads begun and neither completed nor aborted (parts nobody will ever see). */
  pendingUploads?(): Promise<number>;
  /** S3: the same server, a bucket that does not exist (every write fails). */
  nowhere?: BlobStore;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  open(ctx: Mocha.Context): Promise<Opened>;
}

function pendingUploadsOf(client: S3Client, bucket: string): () => Promise<number> {
  return async () => ((await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).length;
}

const files: Backend = {
  name: 'files',
  async open() {
    const dir = await makeTempDir('blobs-');
    const incoming = new IncomingFiles(dir, null);
    await incoming.ensure();
    return { blobs: new FileBlobStore(path.join(dir, 'blobs'), incoming), close: () => rm(dir, { recursive: true, force: true }) };
  },
};

/** A fresh bucket on a running S3 server. */
async function bucketOn(server: RunningS3): Promise<Opened> {
  const bucket = await server.bucket(`conformance-${Math.random().toString(36).slice(2, 8)}`);
  return { blobs: new S3BlobStore({ client: server.client, bucket, prefix: 'repo/' }), pendingUploads: pendingUploadsOf(server.client, bucket), nowhere: new S3BlobStore({ client: server.client, bucket: 'no-such-bucket-here', prefix: '' }), close: async () => undefined };
}

let swift: RunningSwift | null = null;
const s3: Backend = {
  name: 'S3 (OpenStack Swift with s3api)',
  async open(ctx) {
    requireSwift(ctx);
    swift ??= await startSwift();
    return bucketOn(swift);
  },
};

let ceph: RunningS3 | null = null;
const rgw: Backend = {
  name: 'S3 (Ceph RGW)',
  async open(ctx) {
    requireCeph(ctx);
    ceph ??= await startCeph();
    return bucketOn(ceph);
  },
};

async function text(stream: Readable | null): Promise<string | null> {
  if (!stream) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

after(async () => {
  await swift?.stop();
  swift = null;
  await ceph?.stop();
  ceph = null;
});

for (const backend of [files, s3, rgw]) {
  describe(`blob store conformance: ${backend.name}`, function () {
    this.timeout(120_000);
    let blobs: BlobStore;
    let opened: Opened;
    let close: () => Promise<void>;

    before(async function () {
      this.timeout(120_000);
      opened = await backend.open(this);
      ({ blobs, close } = opened);
    });
    after(async () => {
      await close?.();
    });

    it('keeps a body whole and answers it, its size and SHA-256, whole and by range', async () => {
      const put = await blobs.put('sha256/ab/abcdef', Readable.from([Buffer.from('hello, '), Buffer.from('world')]));
      expect(put).to.deep.equal({ size: 12, sha256: sha256('hello, world') });
      expect(await text(await blobs.get('sha256/ab/abcdef'))).to.equal('hello, world');
      expect(await text(await blobs.get('sha256/ab/abcdef', { start: 7, end: 11 }))).to.equal('world');
      expect(await text(await blobs.get('sha256/ab/abcdef', { start: 0, end: 0 }))).to.equal('h');
      expect(await blobs.head('sha256/ab/abcdef')).to.deep.equal({ size: 12 });
    });

    it('an empty body is a blob of 0 bytes; a missing key is null, never an error', async () => {
      expect(await blobs.put('empty', Readable.from([]))).to.deep.equal({ size: 0, sha256: sha256('') });
      expect(await blobs.head('empty')).to.deep.equal({ size: 0 });
      expect(await text(await blobs.get('empty'))).to.equal('');
      expect(await blobs.get('no/such/key')).to.equal(null);
      expect(await blobs.head('no/such/key')).to.equal(null);
    });

    it('a body of several parts (past the multipart size) comes back byte for byte', async () => {
      const body = randomBytes(20 * 1024 * 1024 + 123);
      const chunks = Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
      expect(await blobs.put('big/one', Readable.from(chunks))).to.deep.equal({ size: body.length, sha256: sha256(body) });
      const back = await blobs.get('big/one');
      const got: Buffer[] = [];
      for await (const chunk of back as Readable) got.push(chunk as Buffer);
      expect(sha256(Buffer.concat(got))).to.equal(sha256(body));
      expect(await text(await blobs.get('big/one', { start: body.length - 3, end: body.length - 1 }))).to.equal(body.subarray(body.length - 3).toString('latin1'));
    });

    it('a body that fails midway leaves nothing: no blob, nothing listed', async () => {
      // Two parts' worth sent (S3: a multipart upload begun, parts stored), then the client goes away.
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent < 2) {
            sent++;
            this.push(randomBytes(9 * 1024 * 1024));
          } else setTimeout(() => this.destroy(new Error('the client went away')), 1000);
        },
      });
      let failed: Error | null = null;
      await blobs.put('cut/midway', failing).catch((err: Error) => (failed = err));
      expect(failed).to.be.an('error');
      expect(await blobs.head('cut/midway')).to.equal(null);
      expect((await blobs.list('cut/', null, 100)).keys).to.deep.equal([]);
      // Its parts are not left behind in the bucket, where nothing would ever remove them.
      if (opened.pendingUploads) expect(await opened.pendingUploads()).to.equal(0);
    });

    it('a body of known size (one request in a bucket) is kept whole; one that ends early, fails midway or runs long leaves nothing', async () => {
      const body = randomBytes(3 * 1024 * 1024 + 5);
      const chunks = Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
      expect(await blobs.put('sized/whole', Readable.from(chunks), body.length)).to.deep.equal({ size: body.length, sha256: sha256(body) });
      expect(await blobs.head('sized/whole')).to.deep.equal({ size: body.length });
      const back: Buffer[] = [];
      for await (const chunk of (await blobs.get('sized/whole')) as Readable) back.push(chunk as Buffer);
      expect(sha256(Buffer.concat(back))).to.equal(sha256(body));
      // Short of its size: the request is cut, never sent short (or waited on for ever).
      const short = await blobs.put('sized/short', Readable.from(chunks.slice(0, 10)), body.length).then(() => null, (err: Error) => err);
      expect(short?.message).to.match(/ended after 655360 of its 3145733 bytes/);
      // Longer than its size: refused before the byte past it is sent.
      const long = await blobs.put('sized/long', Readable.from(chunks), body.length - 1).then(() => null, (err: Error) => err);
      expect(long?.message).to.match(/longer than its 3145732 bytes/);
      // Its size reached exactly at a chunk's end, then more: the store never had all of it.
      const whole = Readable.from([body, Buffer.from('more')]);
      const past = await blobs.put('sized/past', whole, body.length).then(() => null, (err: Error) => err);
      expect(past?.message).to.match(/longer than its 3145733 bytes/);
      // The client gone midway, after a MiB of it.
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent++ < 16) this.push(randomBytes(65536));
          else setTimeout(() => this.destroy(new Error('the client went away')), 200);
        },
      });
      const cut = await blobs.put('sized/cut', failing, body.length).then(() => null, (err: Error) => err);
      expect(cut?.message).to.equal('the client went away');
      for (const key of ['sized/short', 'sized/long', 'sized/past', 'sized/cut']) expect(await blobs.head(key), key).to.equal(null);
      expect((await blobs.list('sized/', null, 100)).keys).to.deep.equal(['sized/whole']);
    });

    // S3 only: bodies of unknown length are multipart uploads, which hold parts in memory.
    if (backend !== files) it('takes at most four bodies of unknown length at once: a fifth is refused at once (503), one of known length still goes', async () => {
      const MAX = 4;
      const bodies = Array.from({ length: MAX }, () => new Readable({ read() {} }));
      for (const b of bodies) b.push(Buffer.from('a beginning, then nothing for a while'));
      const open = bodies.map((b, i) => blobs.put(`gate/open-${i}`, b).then(() => null, (err: Error) => err));
      const fifth = new Readable({ read() {} });
      const refused = await blobs.put('gate/fifth', fifth).then(() => null, (err: unknown) => err);
      expect(refused).to.be.instanceOf(Failure);
      expect((refused as Failure).kind).to.equal('unavailable');
      expect((refused as Failure).message).to.match(/too many uploads without a Content-Length/);
      expect(fifth.destroyed).to.equal(true);
      expect(await blobs.put('gate/sized', Readable.from([Buffer.from('known')]), 5)).to.deep.equal({ size: 5, sha256: sha256('known') });
      // One done: its place is free again.
      bodies[0]?.push(null);
      expect(await open[0]).to.equal(null);
      expect((await blobs.put('gate/again', Readable.from([Buffer.from('again')]))).size).to.equal(5);
      for (const b of bodies.slice(1)) b.destroy(new Error('the client went away'));
      for (const result of await Promise.all(open.slice(1))) expect(result?.message).to.equal('the client went away');
      expect((await blobs.list('gate/', null, 100)).keys).to.deep.equal(['gate/again', 'gate/open-0', 'gate/sized']);
    });

    // S3 only: a bucket that is not there (files have no such failure to make).
    if (backend !== files) it('a store that refuses the write fails the put and ends the body (it never waits, paused, for ever)', async () => {
      let produced = 0;
      const endless = new Readable({
        read() {
          produced++;
          this.push(Buffer.alloc(1024 * 1024, 1));
        },
      });
      let failed: unknown = null;
      await (opened.nowhere as BlobStore).put('x', endless).catch((err: unknown) => (failed = err));
      expect(failed).to.be.an('error');
      expect(endless.destroyed).to.equal(true);
      expect(produced).to.be.below(200);
    });

    it('lists in key order, a page at a time, only below the prefix', async () => {
      const keys = ['list/a', 'list/b/1', 'list/b/2', 'list/c', 'list-other', 'list/a-b', 'list/a b', 'list/\u00e9'];
      for (const key of keys) await blobs.put(key, Readable.from([Buffer.from(key)]));
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 10; page++) {
        const { keys: got, next } = await blobs.list('list/', after, 3);
        seen.push(...got);
        if (next === null) break;
        after = next;
      }
      const expected = keys.filter((k) => k.startsWith('list/')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(seen).to.deep.equal(expected);
    });

    it('copies and deletes; deleting what is not there is no error', async () => {
      await blobs.put('copy/from', Readable.from([Buffer.from('to be copied')]));
      await blobs.copy('copy/from', 'copy/to with space');
      expect(await text(await blobs.get('copy/to with space'))).to.equal('to be copied');
      await blobs.delete(['copy/from', 'copy/never-was']);
      expect(await blobs.head('copy/from')).to.equal(null);
      expect(await blobs.head('copy/to with space')).to.deep.equal({ size: 12 });
    });

    it('refuses keys that are no clean path, before touching the store', async () => {
      for (const key of ['', '/abs', 'a//b', 'a/../b', '.hidden', 'a/.b', 'a\\b', 'trail/', 'nul\u0000']) {
        let refused = false;
        await blobs.put(key, Readable.from([Buffer.from('x')])).catch(() => (refused = true));
        expect(refused, JSON.stringify(key)).to.equal(true);
      }
    });
  });
}
