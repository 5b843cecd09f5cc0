// Bad inputs change nothing and stop nothing: aborted uploads, client-sized bodies, and
// the requests that kill webdav-server 2.6.3.
import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import request from 'supertest';
import { basic, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';

/** Sends raw bytes and resolves with whatever came back before the server closed or `ms` passed. */
function raw(port: number, data: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.write(data);
    setTimeout(() => socket.destroy(), ms);
  });
}

async function waitFor(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('robustness', function () {
  let s: TestServer;
  let t: MintedToken;
  let auth: string;
  before(async () => {
    s = await startServer();
    t = await s.mint('dpkg', 'robust', '1');
    auth = basic(t.username, t.password);
  });
  after(() => s.close());

  const incoming = (): Promise<string[]> => readdir(path.join(s.artifactsDir, '.incoming'));

  it('a PUT whose client destroys the socket mid-body leaves no file and no temporary file', async () => {
    const socket = net.connect(s.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`PUT /dpkg/robust/1/partial.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Length: 10000000\r\n\r\n`);
    socket.write(Buffer.alloc(1024 * 1024, 1));
    // The temporary file exists while the body streams in...
    expect(await waitFor(async () => (await incoming()).length > 0)).to.equal(true);
    socket.destroy();
    // ...and is gone once the client has gone, with nothing published.
    expect(await waitFor(async () => (await incoming()).length === 0)).to.equal(true);
    expect(existsSync(path.join(s.artifactsDir, 'dpkg/robust/1/partial.bin'))).to.equal(false);
  });

  it('an aborted replacement leaves the previous version intact', async () => {
    await request(s.baseUrl).put('/dpkg/robust/1/keep.txt').set('Authorization', auth).send('version one');
    await raw(s.port, `PUT /dpkg/robust/1/keep.txt HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Length: 100\r\n\r\nshort`, 300);
    expect(await waitFor(async () => (await incoming()).length === 0)).to.equal(true);
    expect((await request(s.baseUrl).get('/dpkg/robust/1/keep.txt')).text).to.equal('version one');
  });

  for (const method of ['PROPFIND', 'PROPPATCH', 'LOCK', 'MKCOL']) {
    it(`${method} with a huge Content-Length gets 413 without reading or allocating it`, async () => {
      const before = process.memoryUsage().rss;
      const answer = await raw(s.port, `${method} /dpkg/robust/1/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nDepth: 0\r\nContent-Type: application/xml\r\nContent-Length: 4000000000\r\n\r\n<a/>`);
      expect(answer).to.match(/^HTTP\/1\.1 413 /);
      expect(answer.toLowerCase()).to.include('connection: close');
      expect(process.memoryUsage().rss - before).to.be.lessThan(100 * 1024 * 1024);
    });
  }

  it('a chunked XML body over the cap is cut off with 413', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a').toString();
    let body = '';
    for (let i = 0; i < 20; i++) body += `${(64 * 1024).toString(16)}\r\n${chunk}\r\n`;
    const answer = await raw(s.port, `PROPPATCH /dpkg/robust/1/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nTransfer-Encoding: chunked\r\n\r\n${body}0\r\n\r\n`);
    expect(answer).to.match(/^HTTP\/1\.1 413 /);
  });

  it('the PROPPATCH that killed webdav-server (litmus props) is answered, and the server keeps serving', async () => {
    await request(s.baseUrl).put('/dpkg/robust/1/prop').set('Authorization', auth).send('x');
    const body =
      '<?xml version="1.0" encoding="utf-8" ?><propertyupdate xmlns="DAV:"><set><prop>' +
      Array.from({ length: 10 }, (_, i) => `<prop${i} xmlns="http://example.com/neon/litmus/">value${i}</prop${i}>`).join('') +
      '</prop></set></propertyupdate>';
    for (let round = 0; round < 3; round++) {
      const res = await request(s.baseUrl).proppatch('/dpkg/robust/1/prop').set('Authorization', auth).set('Content-Type', 'application/xml').send(body);
      expect(res.status).to.equal(207);
    }
    const removeMissing = await request(s.baseUrl)
      .proppatch('/dpkg/robust/1/prop')
      .set('Authorization', auth)
      .send('<?xml version="1.0"?><propertyupdate xmlns="DAV:"><remove><prop><nonesuch xmlns="http://example.com/neon/litmus/"/></prop></remove></propertyupdate>');
    expect(removeMissing.status).to.equal(207);
    expect((await request(s.baseUrl).get('/-/health')).status).to.equal(200);
  });

  it('a PUT with a corrupt If header (litmus cond_put_corrupt_token) is answered and the server keeps serving', async () => {
    for (const ifHeader of ['(<DAV:no-lock>', '(<opaquelocktoken:corrupt>)', '<http://x/> (<', '((', '(<urn:uuid:0000> ["etag"', '(Not)']) {
      const res = await request(s.baseUrl).put('/dpkg/robust/1/cond').set('Authorization', auth).set('If', ifHeader).send('x');
      expect(res.status, ifHeader).to.be.oneOf([400, 412, 423]);
    }
    expect((await request(s.baseUrl).put('/dpkg/robust/1/cond').set('Authorization', auth).send('ok')).status).to.be.oneOf([201, 204]);
  });

  it('garbage on the wire gets 400 and the server keeps serving', async () => {
    for (const junk of ['\x00\x01\x02\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /' + 'a'.repeat(20000) + ' HTTP/1.1\r\nHost: x\r\n\r\n', 'PUT /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nX: ' + 'y'.repeat(70000) + '\r\n\r\n']) {
      const answer = await raw(s.port, junk, 500);
      expect(answer === '' || /^HTTP\/1\.1 4\d\d /.test(answer), JSON.stringify(answer.slice(0, 40))).to.equal(true);
    }
    expect((await request(s.baseUrl).get('/-/health')).status).to.equal(200);
  });
});

describe('time limits', function () {
  let quick: TestServer;
  before(async () => {
    quick = await startServer({ HEADERS_TIMEOUT: '2' });
  });
  after(() => quick.close());

  it('a connection that never finishes its headers gets 408 and is closed (HEADERS_TIMEOUT)', async function () {
    const socket = net.connect(quick.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const closed = await new Promise<boolean>((resolve) => {
      socket.on('close', () => resolve(true));
      socket.on('error', () => resolve(true));
      setTimeout(() => resolve(false), 15_000);
    });
    socket.destroy();
    expect(closed).to.equal(true);
    expect(answer).to.match(/^HTTP\/1\.1 408 /);
  });
});

describe('limits that keep one client from exhausting the server', function () {
  let s: TestServer;
  let t: MintedToken;
  let auth: string;
  before(async () => {
    s = await startServer();
    t = await s.mint('dpkg', 'limits', '1');
    auth = basic(t.username, t.password);
  });
  after(() => s.close());

  it('a body of half a million one-byte chunks costs about its size, not a Buffer per chunk', async function () {
    this.timeout(60_000);
    global.gc?.();
    const before = process.memoryUsage();
    const socket = net.connect(s.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('PROPFIND /dpkg/limits/1/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = Buffer.from('1\r\na\r\n'.repeat(1000));
    let peak = 0;
    for (let i = 0; i < 500; i++) {
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      if (i % 50 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
      socket.end('0\r\n\r\n');
    });
    peak = Math.max(peak, process.memoryUsage().rss);
    // 500 000 payload bytes of 'a' are not XML: 400, after reading them into one buffer.
    expect(answer).to.match(/^HTTP\/1\.1 400 /);
    expect(peak - before.rss).to.be.lessThan(64 * 1024 * 1024);
  });

  it('a path too long for the file system gets 400, not 500', async () => {
    // Within the 4096-byte URL limit, beyond PATH_MAX once under ARTIFACTS_DIR.
    const deep = '/dpkg/limits/1/' + 'a/'.repeat(2039) + 'f';
    for (const method of ['GET', 'PUT', 'PROPFIND']) {
      const res = await request(s.baseUrl)[method === 'GET' ? 'get' : method === 'PUT' ? 'put' : 'propfind'](deep).set('Authorization', auth).set('Depth', '0').send(method === 'PUT' ? 'x' : undefined);
      expect(res.status, method).to.be.within(400, 499);
    }
  });

  it('PUT with Content-Range is refused with 400 and stores nothing', async () => {
    const res = await request(s.baseUrl).put('/dpkg/limits/1/fragment.bin').set('Authorization', auth).set('Content-Range', 'bytes 1000-1007/5000').send('fragment');
    expect(res.status).to.equal(400);
    expect(existsSync(path.join(s.artifactsDir, 'dpkg/limits/1/fragment.bin'))).to.equal(false);
  });

  it('an aborted PUT into new sub-folders leaves no empty folders behind', async () => {
    await raw(s.port, `PUT /dpkg/limits/1/aborted/deep/file HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Length: 1000\r\n\r\nonly a little`, 300);
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(path.join(s.artifactsDir, 'dpkg/limits/1/aborted'))).to.equal(false);
  });

  it('wrong passwords for a live token are throttled per address (429 with Retry-After)', async () => {
    const victim = await s.mint('dpkg', 'limits', 'victim');
    let last = 0;
    let retryAfter: string | undefined;
    for (let i = 0; i < 25 && last !== 429; i++) {
      const res = await request(s.baseUrl).put('/dpkg/limits/victim/x').set('Authorization', basic(victim.username, `guess-${i}`)).send('x');
      last = res.status;
      retryAfter = res.headers['retry-after'] as string | undefined;
    }
    expect(last).to.equal(429);
    expect(Number(retryAfter)).to.be.greaterThan(0);
  });

  it('the sweep clears leftovers from .incoming but never an upload in flight', async () => {
    const stray = path.join(s.artifactsDir, '.incoming', 'put-left-by-a-crash');
    writeFileSync(stray, 'partial');
    const socket = net.connect(s.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const body = Buffer.alloc(64 * 1024, 1);
    socket.write(`PUT /dpkg/limits/1/inflight.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Length: ${body.length * 2}\r\nConnection: close\r\n\r\n`);
    socket.write(body);
    await new Promise((r) => setTimeout(r, 200));
    const removed = await s.app.services.incoming.sweep();
    expect(removed).to.equal(1);
    expect(existsSync(stray)).to.equal(false);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.write(body);
    });
    expect(answer).to.match(/^HTTP\/1\.1 201 /);
    expect((await request(s.baseUrl).head('/dpkg/limits/1/inflight.bin')).headers['content-length']).to.equal(String(body.length * 2));
  });

  it('DELETE /-/tokens/{id} with an id like "constructor" is 404, not 204', async () => {
    for (const id of ['constructor', '__proto__', 'toString']) {
      expect((await request(s.baseUrl).delete(`/-/tokens/${id}`).set('Authorization', MASTER_AUTH)).status, id).to.equal(404);
    }
  });
});
