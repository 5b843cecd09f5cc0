// The deployment of S3 mode (docker-compose.s3.yml): Debian's nginx with nginx/bucket.conf
// in front of the app, the bytes in a real OpenStack Swift. A whole file's bytes come from
// the bucket through nginx (the app answers an internal redirect to a presigned URL), with
// the app's validators and checksums; ranges, HEAD and 304 stay the app's own answers.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { basic, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { startNginx, type RunningNginx } from '../helpers/nginx.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import { requireSwift, startSwift, type RunningSwift } from '../helpers/swift.js';
import { s3Settings, useS3Credentials } from '../helpers/bucket-mode.js';
import { requireTool } from '../helpers/tools.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** The app's access-log lines for GETs of this path: who sent how many bytes. */
function appGets(s: TestServer, urlPath: string): { status: number; bytes_out: number }[] {
  return s.logLines
    .filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l) as { method: string; path: string; status: number; bytes_out: number })
    .filter((l) => l.method === 'GET' && l.path === urlPath);
}

describe('deployment in S3 mode: nginx sends whole files from the bucket (nginx/bucket.conf)', function () {
  this.timeout(120_000);
  let postgres: Postgres;
  let swift: RunningSwift;
  let restore: () => void;
  let s: TestServer;
  let nginx: RunningNginx;
  let prefix: string;
  let token: MintedToken;
  let auth: string;
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const text = Buffer.from('a text file\n');

  before(async function () {
    requireTool(this, 'nginx', 'nginx');
    postgres = await requirePostgres(this);
    requireSwift(this);
    swift = await startSwift();
    restore = useS3Credentials(swift);
    s = await startServer({ DATABASE_URL: await freshDatabase(postgres), ...(await s3Settings(swift)), SEAL_GRACE: '0' });
    // nginx's workers run as www-data, as in the container.
    await chmod(s.dataDir, 0o755);
    await chmod(s.artifactsDir, 0o755);
    prefix = await mkdtemp(path.join(tmpdir(), 'bucket-nginx-'));
    await chmod(prefix, 0o755);
    nginx = await startNginx({ prefix, upstream: `127.0.0.1:${s.port}`, artifactsRoot: s.artifactsDir, mastersAllow: 'allow all;\n', records: 'database', bucket: true });
    token = await s.mint('deb', 'bucket', '1');
    auth = basic(token.username, token.password);
    for (const [name, bytes] of [['big.bin', body], ['notes.txt', text]] as const) {
      const put = await fetch(`${nginx.baseUrl}/deb/bucket/1/${name}`, { method: 'PUT', headers: { Authorization: auth }, body: bytes });
      expect(put.status).to.equal(201);
    }
  });
  after(async () => {
    await nginx?.stop();
    await rm(prefix, { recursive: true, force: true });
    await s?.close();
    restore?.();
    await swift?.stop();
    await postgres?.remove();
  });

  it('a whole file comes from the bucket through nginx, with the app\'s validators, checksums and type, and none of the store\'s headers', async () => {
    const direct = await fetch(`${s.baseUrl}/deb/bucket/1/big.bin`);
    await direct.arrayBuffer();
    const res = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`);
    const got = Buffer.from(await res.arrayBuffer());
    expect(res.status).to.equal(200);
    expect(sha256(got)).to.equal(sha256(body));
    for (const name of ['etag', 'last-modified', 'x-checksum-sha256', 'repr-digest', 'content-type', 'content-security-policy', 'x-content-type-options', 'accept-ranges']) {
      expect(res.headers.get(name), name).to.equal(direct.headers.get(name));
    }
    expect(res.headers.get('x-checksum-sha256')).to.equal(sha256(body));
    expect(res.headers.get('content-length')).to.equal(String(body.length));
    for (const name of ['x-amz-request-id', 'x-trans-id', 'x-openstack-request-id', 'x-accel-redirect']) expect(res.headers.get(name), name).to.equal(null);
    // The app answered without the bytes: nginx fetched them.
    const through = appGets(s, '/deb/bucket/1/big.bin');
    expect(through.map((l) => l.status)).to.deep.equal([200, 200]);
    expect(through[0]?.bytes_out).to.be.above(body.length);
    expect(through[1]?.bytes_out).to.be.below(4096);
    // A text file keeps the type (and charset) the app gives it.
    const notes = await fetch(`${nginx.baseUrl}/deb/bucket/1/notes.txt`);
    expect(await notes.text()).to.equal(text.toString());
    expect(notes.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
  });

  it('a sealed build\'s file keeps the app\'s Cache-Control, once', async () => {
    const build = await s.mint('deb', 'bucket', 'sealed');
    expect((await fetch(`${nginx.baseUrl}/deb/bucket/sealed/kept.bin`, { method: 'PUT', headers: { Authorization: basic(build.username, build.password) }, body })).status).to.equal(201);
    expect((await fetch(`${s.baseUrl}/-/tokens/${build.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(204);
    for (let i = 0; i < 100 && (await fetch(`${s.baseUrl}/deb/bucket/sealed/SHA256SUMS`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    const direct = await fetch(`${s.baseUrl}/deb/bucket/sealed/kept.bin`, { method: 'HEAD' });
    expect(direct.headers.get('cache-control')).to.match(/immutable/);
    const res = await fetch(`${nginx.baseUrl}/deb/bucket/sealed/kept.bin`);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).to.equal(sha256(body));
    expect(res.headers.get('cache-control')).to.equal(direct.headers.get('cache-control'));
    expect(res.headers.get('x-checksum-sha256')).to.equal(sha256(body));
  });

  it('ranges, HEAD and a matching If-None-Match are the app\'s own answers', async () => {
    const range = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`, { headers: { Range: 'bytes=10-19' } });
    expect(range.status).to.equal(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(body.subarray(10, 20))).to.equal(true);
    expect(range.headers.get('content-range')).to.equal(`bytes 10-19/${body.length}`);
    const head = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.headers.get('content-length')).to.equal(String(body.length));
    const etag = head.headers.get('etag') as string;
    const again = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`, { headers: { 'If-None-Match': etag } });
    expect(again.status).to.equal(304);
    // An If-Modified-Since from the client goes no further than the app: the store would judge it by its own times.
    const since = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`, { headers: { 'If-Modified-Since': 'Thu, 01 Jan 2037 00:00:00 GMT' } });
    expect(since.status).to.equal(304);
    const old = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`, { headers: { 'If-Modified-Since': 'Thu, 01 Jan 1998 00:00:00 GMT' } });
    expect(old.status).to.equal(200);
    expect(sha256(Buffer.from(await old.arrayBuffer()))).to.equal(sha256(body));
  });

  it('the object store away: 503 with Retry-After from nginx, and whole files again once it is back', async () => {
    await swift.stopProxy();
    try {
      const res = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`);
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.equal('5');
      expect(res.headers.get('x-checksum-sha256')).to.equal(null);
      expect(await res.text()).to.equal('the object store is unreachable; try again shortly\n');
    } finally {
      await swift.startProxy();
    }
    const back = await fetch(`${nginx.baseUrl}/deb/bucket/1/big.bin`);
    expect(sha256(Buffer.from(await back.arrayBuffer()))).to.equal(sha256(body));
  });

  it('the internal location answers nothing asked of it from outside', async () => {
    const res = await fetch(`${nginx.baseUrl}/.bucket/http/${new URL(swift.endpoint).host}/`);
    expect(res.status).to.equal(404);
  });
});
