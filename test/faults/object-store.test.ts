// S3 mode when the object store goes away (issue 32): a real OpenStack Swift whose S3
// endpoint is killed and started again under a server in S3 mode (the tree in a real
// PostgreSQL). Mid-upload, mid-download and mid-seal the client gets a clear 503 or a cut
// connection, nothing half-written ever shows, and everything works again once the store
// is back; a replica killed during a multipart upload leaves nothing visible, and what it
// left in the bucket is found and removed.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { rm } from 'node:fs/promises';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import pg from 'pg';
import { basic, makeTempDir, MASTER_AUTH, mintWith, startChild, startServer, until, type ChildServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import { requireSwift, startSwift, type RunningSwift } from '../helpers/swift.js';
import { s3Settings, useS3Credentials } from '../helpers/bucket-mode.js';
import type { BucketTree } from '../../server/storage/pg/bucket-tree.js';

const MiB = 1024 * 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A PUT whose body is sent in 1 MiB pieces, calling `midway` once `after` bytes are out; its status (0: cut). */
function slowPut(url: string, auth: string, body: Buffer, after: number, midway: () => Promise<void>, options: { chunked?: boolean } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    // Chunked (no Content-Length): a body of unknown length, which the app stores as a multipart upload.
    const headers = options.chunked ? { Authorization: auth } : { Authorization: auth, 'Content-Length': body.length };
    const req = http.request(url, { method: 'PUT', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', () => resolve({ status: 0, text: '' }));
    void (async () => {
      let sent = 0;
      let called = false;
      while (sent < body.length && !req.destroyed) {
        const piece = body.subarray(sent, sent + MiB);
        if (!req.write(piece)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              req.off('drain', done).off('close', done);
              resolve();
            };
            req.on('drain', done).on('close', done);
          });
        }
        sent += piece.length;
        if (!called && sent >= after) {
          called = true;
          await midway();
        }
      }
      req.end();
    })();
  });
}

async function pendingUploads(swift: RunningSwift, bucket: string): Promise<number> {
  return ((await swift.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).length;
}

async function objects(swift: RunningSwift, bucket: string): Promise<number> {
  return ((await swift.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).length;
}

async function status(url: string, init: RequestInit = {}): Promise<number> {
  return (await fetch(url, init)).status;
}

describe('faults: the object store goes away (S3 mode on a real Swift)', function () {
  this.timeout(180_000);
  let postgres: Postgres;
  let swift: RunningSwift;
  let restoreCredentials: () => void;
  let settings: Record<string, string>;
  let bucket: string;
  let s: TestServer;
  let t: MintedToken;
  let auth: string;

  before(async function () {
    postgres = await requirePostgres(this);
    requireSwift(this);
    swift = await startSwift();
    restoreCredentials = useS3Credentials(swift);
    settings = { DATABASE_URL: await freshDatabase(postgres), ...(await s3Settings(swift)), SEAL_GRACE: '0' };
    bucket = (settings.BLOB_STORE as string).slice('s3://'.length).split('/')[0] as string;
    s = await startServer(settings);
    t = await s.mint('faults', 'bucket', '1');
    auth = basic(t.username, t.password);
  });
  after(async () => {
    await s?.close();
    restoreCredentials?.();
    await swift?.stop();
    await postgres?.remove();
  });
  afterEach(async () => {
    // Whatever a test did, the store is back for the next one.
    await swift.startProxy().catch(() => undefined);
  });

  for (const mode of [{ name: 'one request', chunked: false }, { name: 'a multipart upload (a chunked body)', chunked: true }]) {
    it(`stopped mid-upload (${mode.name}): 503 naming the object store, nothing at the path, and the same upload works once it is back`, async () => {
      const body = randomBytes(40 * MiB);
      const name = `cut-${mode.chunked ? 'chunked' : 'sized'}.bin`;
      const cut = await slowPut(
        `${t.url}${name}`,
        auth,
        body,
        20 * MiB,
        async () => {
          // A multipart upload stopped once it has begun in the store (its first part may take a moment).
          if (mode.chunked) await until('a multipart upload under way', async () => (await pendingUploads(swift, bucket)) > 0, 30_000);
          await swift.stopProxy();
        },
        { chunked: mode.chunked },
      );
      expect(cut.status, cut.text).to.equal(503);
      expect(cut.text).to.match(/object store is unreachable/).and.not.match(/127\.0\.0\.1|ECONN|swift/i);
      // The tree (in the database) answers meanwhile: nothing there, not even part of it.
      expect(await status(`${t.url}${name}`, { method: 'PROPFIND', headers: { Depth: '0', Authorization: auth } })).to.equal(404);
      await swift.startProxy();
      expect(await status(`${t.url}${name}`)).to.equal(404);
      expect(await status(`${t.url}${name}`, { method: 'PUT', headers: { Authorization: auth }, body })).to.equal(201);
      const back = Buffer.from(await (await fetch(`${t.url}${name}`)).arrayBuffer());
      expect(sha256(back)).to.equal(sha256(body));
      // What the cut upload left (a multipart upload's parts, say) could not be cleared while
      // the store was away: its blob's row names it, and the leader's housekeeping takes it.
      const db = new pg.Client({ connectionString: settings.DATABASE_URL });
      await db.connect();
      try {
        const pending = async (): Promise<number> => (await db.query("SELECT count(*)::int AS n FROM tree_blobs WHERE state <> 'live'")).rows[0].n;
        expect(await pending()).to.equal(1);
        // The multipart upload's parts are still in the bucket, shown by no object.
        expect(await pendingUploads(swift, bucket)).to.equal(mode.chunked ? 1 : 0);
        const store = s.app.services.store as BucketTree;
        expect((await store.sweepUploads([], 0)) + (await store.collectGarbage({ graceMs: 3_600_000, batch: 100 }))).to.equal(1);
        expect(await pending()).to.equal(0);
      } finally {
        await db.end();
      }
      expect(await pendingUploads(swift, bucket)).to.equal(0);
      expect(sha256(Buffer.from(await (await fetch(`${t.url}${name}`)).arrayBuffer()))).to.equal(sha256(body));
    });
  }

  it('stopped mid-download: the download is cut short (never passed off as whole), new ones get 503, and all of it comes once it is back', async () => {
    // Larger than every buffer between Swift and the client (loopback sockets grow to 32 MiB each here).
    const body = Buffer.concat(Array.from({ length: 10 }, () => randomBytes(16 * MiB)));
    expect(await status(`${t.url}big.bin`, { method: 'PUT', headers: { Authorization: auth }, body })).to.equal(201);
    const received = await new Promise<{ bytes: number; complete: boolean }>((resolve) => {
      http.get(`${t.url}big.bin`, (res) => {
        let bytes = 0;
        let stopped = false;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          if (!stopped && bytes >= 4 * MiB) {
            stopped = true;
            res.pause();
            void swift.stopProxy().then(() => res.resume());
          }
        });
        res.on('end', () => resolve({ bytes, complete: res.complete }));
        res.on('error', () => resolve({ bytes, complete: false }));
        res.on('close', () => resolve({ bytes, complete: res.complete }));
      });
    });
    expect(received.complete, `${received.bytes} bytes`).to.equal(false);
    expect(received.bytes).to.be.lessThan(body.length);
    const down = await fetch(`${t.url}big.bin`);
    expect(down.status).to.equal(503);
    expect(down.headers.get('retry-after')).to.equal('5');
    expect(await down.text()).to.match(/object store is unreachable/);
    await swift.startProxy();
    const whole = Buffer.from(await (await fetch(`${t.url}big.bin`)).arrayBuffer());
    expect(sha256(whole)).to.equal(sha256(body));
  });

  it('stopped mid-seal: the build stays unsealed with no SHA256SUMS, keeps mints out, and is sealed whole once the store is back', async () => {
    const build = await s.mint('faults', 'bucket', 'seal');
    const buildAuth = basic(build.username, build.password);
    for (const name of ['a.txt', 'b.txt']) expect(await status(`${build.url}${name}`, { method: 'PUT', headers: { Authorization: buildAuth }, body: `${name}\n` })).to.equal(201);
    await swift.stopProxy();
    expect(await status(`${s.baseUrl}/-/tokens/${build.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).to.equal(204);
    await until('the seal to fail', async () => s.logLines.some((l) => l.includes('sealing failed')), 30_000);
    expect(await status(`${build.url}SHA256SUMS`)).to.equal(404);
    const mint = await fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'faults', project: 'bucket', build: 'seal' }) });
    expect(mint.status).to.equal(409);
    await swift.startProxy();
    // A restart retries the pending seal at once (as does the leader every minute).
    await s.close();
    s = await startServer(settings);
    const sums = await until('SHA256SUMS', async () => {
      const res = await fetch(`${s.baseUrl}/faults/bucket/seal/SHA256SUMS`);
      return res.status === 200 ? res.text() : null;
    }, 30_000);
    expect(sums).to.include('a.txt').and.include('b.txt');
  });

  // A body with its Content-Length goes to the store as one request, one without as a multipart upload.
  for (const mode of [{ name: 'one request (the body with its Content-Length)', chunked: false }, { name: 'a multipart upload (a chunked body)', chunked: true }]) {
    describe(`a replica killed during ${mode.name}`, () => {
      let child: ChildServer | null = null;
      let childData: string;
      before(async () => {
        childData = await makeTempDir('bucket-child-');
      });
      after(async () => {
        await child?.stop('SIGKILL');
        await rm(childData, { recursive: true, force: true });
      });

      it('leaves nothing visible, and what it sent is found and abandoned once it is gone', async () => {
        const db = new pg.Client({ connectionString: settings.DATABASE_URL });
        await db.connect();
        try {
          const uploading = async (): Promise<number> => (await db.query("SELECT count(*)::int AS n FROM tree_blobs WHERE state = 'uploading'")).rows[0].n;
          child = await startChild(childData, settings);
          const k = await mintWith(child.baseUrl, { type: 'faults', project: 'bucket', build: `killed-${mode.chunked ? 'chunked' : 'sized'}` });
          const body = randomBytes(48 * MiB);
          const objectsBefore = await objects(swift, bucket);
          const upload = slowPut(
            `${k.url}cut.bin`,
            basic(k.username, k.password),
            body,
            24 * MiB,
            async () => {
              // Under way in the store: the multipart upload begun, or the one request's row made and half its bytes sent.
              if (mode.chunked) await until('a multipart upload under way', async () => (await pendingUploads(swift, bucket)) > 0, 30_000);
              else await until('the upload under way', async () => (await uploading()) > 0, 30_000);
              await (child as ChildServer).stop('SIGKILL');
            },
            { chunked: mode.chunked },
          );
          expect((await upload).status).to.equal(0);
          child = null;
          // Nothing visible, through the replica still up.
          expect(await status(`${k.url.replace(/^http:\/\/[^/]+/, s.baseUrl)}cut.bin`)).to.equal(404);
          expect(await pendingUploads(swift, bucket)).to.equal(mode.chunked ? 1 : 0);
          // Its row names what it left: the sweep of a departed replica's uploads removes it.
          expect(await uploading()).to.equal(1);
          expect(await (s.app.services.store as BucketTree).sweepUploads([], 24 * 3600_000)).to.equal(1);
          expect((await db.query("SELECT count(*)::int AS n FROM tree_blobs WHERE state <> 'live'")).rows[0].n).to.equal(0);
          expect(await pendingUploads(swift, bucket)).to.equal(0);
          expect(await objects(swift, bucket)).to.equal(objectsBefore);
        } finally {
          await db.end();
        }
      });
    });
  }
});
