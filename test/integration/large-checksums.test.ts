// Large uploads are hashed by a worker thread reading the file just behind the writer
// (storage/io/trailing-hasher.ts); small and chunked ones on the receiving thread. Both paths
// must give the same, correct checksums, refuse a wrong declared one, and survive aborts.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { basic, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { TRAILING_HASH_MIN_BYTES } from '../../server/storage/io/trailing-hasher.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** PUT with Content-Length (or chunked when `chunked`), optionally cut off after `abortAfter` bytes. */
function put(url: string, auth: string, body: Buffer, options: { chunked?: boolean; sha256?: string; abortAfter?: number } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const target = new URL(url);
  const headers: Record<string, string | number> = { Authorization: auth };
  if (!options.chunked) headers['Content-Length'] = body.length;
  if (options.sha256) headers['X-Checksum-Sha256'] = options.sha256;
  return new Promise((resolve) => {
    const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, method: 'PUT', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', () => resolve({ status: 0, headers: {} }));
    const end = options.abortAfter ?? body.length;
    let sent = 0;
    const pump = (): void => {
      while (sent < end) {
        const piece = body.subarray(sent, Math.min(end, sent + 256 * 1024));
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', pump);
      }
      if (options.abortAfter !== undefined) setTimeout(() => req.destroy(), 50);
      else req.end();
    };
    pump();
  });
}

describe('checksums of large uploads (hashed beside the transfer)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let t: MintedToken;
  const big = randomBytes(TRAILING_HASH_MIN_BYTES + 3 * 1024 * 1024 + 17);
  before(async () => {
    s = await startServer();
    t = await s.mint('dpkg', 'large', '1');
  });
  after(() => s.close());

  it('a body above the threshold with Content-Length gets the right SHA-256, on PUT and GET', async () => {
    const res = await put(`${s.baseUrl}/dpkg/large/1/big.bin`, basic(t.username, t.password), big);
    expect(res.status).to.equal(201);
    expect(res.headers['x-checksum-sha256']).to.equal(sha256(big));
    const got = await fetch(`${s.baseUrl}/dpkg/large/1/big.bin`);
    expect(got.headers.get('x-checksum-sha256')).to.equal(sha256(big));
    expect(sha256(Buffer.from(await got.arrayBuffer()))).to.equal(sha256(big));
  });

  it('the same body sent chunked (no length, hashed while received) gets the same SHA-256', async () => {
    const res = await put(`${s.baseUrl}/dpkg/large/1/chunked.bin`, basic(t.username, t.password), big, { chunked: true });
    expect(res.status).to.equal(201);
    expect(res.headers['x-checksum-sha256']).to.equal(sha256(big));
  });

  it('a wrong declared checksum on a large body is refused with 400, and the earlier file stays', async () => {
    const other = Buffer.from(big);
    other.writeUInt8(other.readUInt8(other.length - 1) ^ 0xff, other.length - 1);
    const res = await put(`${s.baseUrl}/dpkg/large/1/big.bin`, basic(t.username, t.password), other, { sha256: sha256(big) });
    expect(res.status).to.equal(400);
    const got = await fetch(`${s.baseUrl}/dpkg/large/1/big.bin`);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).to.equal(sha256(big));
  });

  it('aborted large uploads leave nothing behind, and the next one is hashed right', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await put(`${s.baseUrl}/dpkg/large/1/aborted.bin`, basic(t.username, t.password), big, { abortAfter: TRAILING_HASH_MIN_BYTES + 1024 * 1024 });
      expect(res.status).to.not.equal(201);
    }
    for (let i = 0; i < 50 && (await readdir(path.join(s.artifactsDir, '.incoming'))).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await readdir(path.join(s.artifactsDir, '.incoming'))).to.deep.equal([]);
    expect((await fetch(`${s.baseUrl}/dpkg/large/1/aborted.bin`)).status).to.equal(404);
    const next = Buffer.concat([big, Buffer.from('tail')]);
    const res = await put(`${s.baseUrl}/dpkg/large/1/after.bin`, basic(t.username, t.password), next);
    expect(res.headers['x-checksum-sha256']).to.equal(sha256(next));
  });

  it('parallel large uploads each get their own checksum', async () => {
    const bodies = [0, 1, 2].map((i) => Buffer.concat([big, Buffer.from([i])]));
    const results = await Promise.all(bodies.map((b, i) => put(`${s.baseUrl}/dpkg/large/1/p${i}.bin`, basic(t.username, t.password), b)));
    results.forEach((r, i) => expect(r.headers['x-checksum-sha256'], `p${i}`).to.equal(sha256(bodies[i] as Buffer)));
  });
});


describe('a write in flight when the last token ends', function () {
  this.timeout(30_000);
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('finishes before the build is sealed, and is listed in SHA256SUMS; the revoke waits for it', async () => {
    const t = await s.mint('dpkg', 'inflight', '1');
    const body = Buffer.from('late but authorised\n');
    const target = new URL(`${s.baseUrl}/dpkg/inflight/1/late.txt`);
    let putStatus = 0;
    const req = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, method: 'PUT', headers: { Authorization: basic(t.username, t.password), 'Content-Length': body.length } });
    const put = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        putStatus = res.statusCode ?? 0;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
    });
    req.write(body.subarray(0, 5));
    // Let the server authorise the PUT and start storing it.
    for (let i = 0; i < 100 && (await readdir(path.join(s.artifactsDir, '.incoming'))).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    let revoked = 0;
    const revoke = fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: basic(t.username, t.password) } }).then((r) => (revoked = r.status));
    await new Promise((r) => setTimeout(r, 300));
    expect(revoked, 'the revoke answered while a write of its build was still running').to.equal(0);
    req.end(body.subarray(5));
    await put;
    await revoke;
    expect(putStatus).to.equal(201);
    expect(revoked).to.equal(204);
    const sums = await (await fetch(`${s.baseUrl}/dpkg/inflight/1/SHA256SUMS`)).text();
    expect(sums).to.include(`${sha256(body)}  late.txt`);
  });
});
