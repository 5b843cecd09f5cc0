// The hardening review's findings against the shipped nginx in front of the app (issue
// 12, findings 12 to 18): the bytes and the checksum headers of one answer always belong
// together, nginx refuses what the app refuses, and no client request turns into a 500.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { basic, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { frontWithNginx, type RunningNginx } from '../helpers/nginx.js';
import { send } from '../helpers/raw-http.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Writes raw bytes on a fresh connection and returns the status line's code and the text
 * (up to the end of the head only, with `headOnly`: nginx lingers on a refused body).
 */
function raw(port: number, request: string, headOnly = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (headOnly && Buffer.concat(chunks).includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

describe('hardening through nginx (issue 12)', function () {
  this.timeout(120_000);
  let s: TestServer;
  let nginx: RunningNginx;
  let t: MintedToken;
  let auth: string;

  before(async function () {
    s = await startServer({ SEAL_GRACE: '2' });
    nginx = await frontWithNginx(this, s);
    t = await s.mint('deb', 'front', '1');
    auth = basic(t.username, t.password);
  });

  after(async () => {
    await nginx?.stop();
    await s?.close();
  });

  it('12. replaced again and again, every download carries the checksum of the very bytes it sends; a deleted file is gone at once', async () => {
    for (let i = 0; i < 40; i++) {
      // Same size every other time: a replacement nginx could not tell by its length.
      const body = i % 2 === 0 ? `version ${String(i).padStart(3, '0')}\n` : `VERSION ${String(i).padStart(3, '0')}\n`;
      expect((await send(nginx.port, 'PUT', '/deb/front/1/churn.txt', { Authorization: auth }, body)).status).to.be.oneOf([201, 204]);
      const get = await send(nginx.port, 'GET', '/deb/front/1/churn.txt');
      expect(get.status).to.equal(200);
      expect(get.body, `round ${i}`).to.equal(body);
      expect(get.headers['x-checksum-sha256'], `round ${i}`).to.equal(sha256(get.body));
    }
    expect((await send(nginx.port, 'DELETE', '/deb/front/1/churn.txt', { Authorization: auth })).status).to.equal(204);
    expect((await send(nginx.port, 'GET', '/deb/front/1/churn.txt')).status).to.equal(404);
  });

  it('13. a raw "#" in the request target is refused with 400, never served or described', async () => {
    expect((await send(nginx.port, 'PUT', '/deb/front/1/A', { Authorization: auth }, 'bytes of A\n')).status).to.equal(201);
    const reply = await raw(nginx.port, 'GET /deb/front/1/A#/B HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(reply.status).to.equal(400);
    expect(reply.text).to.not.include('bytes of A');
  });

  it('14. a same-size replacement within the same second changes the ETag nginx sends', async () => {
    expect((await send(nginx.port, 'PUT', '/deb/front/1/etag.txt', { Authorization: auth }, 'AAAAAAAAAA')).status).to.equal(201);
    const one = await send(nginx.port, 'HEAD', '/deb/front/1/etag.txt');
    expect((await send(nginx.port, 'PUT', '/deb/front/1/etag.txt', { Authorization: auth }, 'BBBBBBBBBB')).status).to.equal(204);
    const two = await send(nginx.port, 'HEAD', '/deb/front/1/etag.txt');
    expect(two.headers.etag).to.not.equal(one.headers.etag);
    expect((await send(nginx.port, 'GET', '/deb/front/1/etag.txt', { 'If-None-Match': one.headers.etag as string })).status).to.equal(200);
    const range = await send(nginx.port, 'GET', '/deb/front/1/etag.txt', { Range: 'bytes=5-', 'If-Range': one.headers.etag as string });
    expect(range.body).to.equal('BBBBBBBBBB');
  });

  it('15. paths nginx would normalise are refused as the app refuses them, never sent without a checksum', async () => {
    expect((await send(nginx.port, 'PUT', '/deb/front/1/n.txt', { Authorization: auth }, 'normal\n')).status).to.equal(201);
    for (const target of ['/deb/front/1/./n.txt', '/deb/front/1/x/../n.txt', '/deb/front/1/%2e%2e/1/n.txt', '/deb/front/1/%2E/n.txt', '/deb//front/1/n.txt', '/deb/front%2f1/n.txt', '/deb/front/1/..%2fn.txt']) {
      const reply = await raw(nginx.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(reply.status, target).to.be.within(400, 404);
      expect(reply.text, target).to.not.include('normal\n');
    }
  });

  it('16. stalled uploads through nginx do not hold a revoke: it answers, they are cut after the grace, the build is sealed', async () => {
    const b = await s.mint('deb', 'stall', '1');
    const bauth = basic(b.username, b.password);
    expect((await send(nginx.port, 'PUT', '/deb/stall/1/done.txt', { Authorization: bauth }, 'done\n')).status).to.equal(201);
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 10; i++) {
      const socket = net.connect(nginx.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((r) => socket.once('connect', r));
      socket.write(`PUT /deb/stall/1/stalled-${i}.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${bauth}\r\nContent-Length: 1000000\r\n\r\n${'s'.repeat(2000)}`);
      sockets.push(socket);
    }
    await new Promise((r) => setTimeout(r, 500));
    const revoke = await send(nginx.port, 'DELETE', `/-/tokens/${b.id}`, { Authorization: MASTER_AUTH });
    expect(revoke.status).to.equal(204);
    let sums = await send(nginx.port, 'GET', '/deb/stall/1/SHA256SUMS');
    for (let i = 0; i < 100 && sums.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      sums = await send(nginx.port, 'GET', '/deb/stall/1/SHA256SUMS');
    }
    expect(sums.status).to.equal(200);
    expect(sums.body).to.include('done.txt').and.not.include('stalled');
    for (const socket of sockets) socket.destroy();
  });

  it('17. a client request never becomes a 500: huge headers, HTTP/1.0 without Host, invalid UTF-8 in a /-/ route', async () => {
    expect((await send(nginx.port, 'PUT', '/deb/front/1/h.txt', { Authorization: auth }, 'headers\n')).status).to.equal(201);
    // 15 KiB of headers: under nginx's limits, over the app's if they were passed on.
    const big = Array.from({ length: 15 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(1000)}`).join('\r\n');
    const huge = await raw(nginx.port, `GET /deb/front/1/h.txt HTTP/1.1\r\nHost: x\r\n${big}\r\nConnection: close\r\n\r\n`);
    expect(huge.status).to.equal(200);
    expect(huge.text).to.include(`X-Checksum-Sha256: ${sha256('headers\n')}`);
    const tooBig = await raw(nginx.port, `GET /deb/front/1/h.txt HTTP/1.1\r\nHost: x\r\nX-Huge: ${'h'.repeat(40_000)}\r\nConnection: close\r\n\r\n`);
    expect(tooBig.status).to.be.within(400, 499);
    const old = await raw(nginx.port, 'GET /deb/front/1/h.txt HTTP/1.0\r\n\r\n');
    expect(old.status).to.equal(200);
    expect(old.text).to.include(`X-Checksum-Sha256: ${sha256('headers\n')}`);
    for (const target of ['/-/tokens/%C0%AE', '/-/search%C0%AE', '/-/compare?from=%C0%AE&to=%C0%AE', '/-/audit?build=%C0%AE']) {
      const reply = await raw(nginx.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ${MASTER_AUTH}\r\nConnection: close\r\n\r\n`);
      expect(reply.status, target).to.be.within(400, 499);
    }
  });

  it('18. the XML body cap covers every method name and reads Content-Length as a number', async () => {
    for (const method of ['PROPFIND', 'VERSION-CONTROL', 'BASELINE_CONTROL']) {
      const reply = await raw(nginx.port, `${method} /deb/front/1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n`, true);
      expect(reply.status, method).to.equal(413);
    }
    const zeros = await raw(nginx.port, 'PROPFIND /deb/front/1/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: 0000000\r\nConnection: close\r\n\r\n');
    expect(zeros.status).to.equal(207);
  });

  it('a sealed file is cached by clients only with its own checksum', async () => {
    const b = await s.mint('deb', 'sealed', '1');
    expect((await send(nginx.port, 'PUT', '/deb/sealed/1/s.txt', { Authorization: basic(b.username, b.password) }, 'sealed\n')).status).to.equal(201);
    expect((await send(nginx.port, 'DELETE', `/-/tokens/${b.id}`, { Authorization: MASTER_AUTH })).status).to.equal(204);
    for (let i = 0; i < 3; i++) {
      const get = await send(nginx.port, 'GET', '/deb/sealed/1/s.txt');
      expect(get.headers['cache-control']).to.match(/immutable/);
      expect(get.headers['x-checksum-sha256']).to.equal(sha256(get.body));
    }
  });
});
