// The build proxy under faults, against the real server process: an upstream that drops
// mid-body, a client that aborts, a full disk while recording, idle and slow clients on the
// proxy port, and 10 000 malformed proxy requests. Nothing partial is stored or recorded,
// no 5xx but 502, 504 and 507 where they are the truth, and the server serves on.
import { expect } from 'chai';
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { makeTempDir, MASTER_AUTH, mintWith, startChild, type ChildServer, type MintedToken } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { run, skipUnlessCi } from '../helpers/tools.js';

const MIB = 1024 * 1024;

/** An upstream on 127.0.0.2 that misbehaves on purpose. */
async function badOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/drop') {
      // Promises a mebibyte, sends half, and goes.
      res.writeHead(200, { 'Content-Length': MIB, 'Content-Type': 'application/octet-stream' });
      res.write(Buffer.alloc(MIB / 2, 1), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    if (req.url === '/drop-small') {
      // Promises 4 KiB, sends a thousand bytes, and goes.
      res.writeHead(200, { 'Content-Length': 4096, 'Content-Type': 'application/octet-stream' });
      res.write(Buffer.alloc(1000, 1), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    if (req.url === '/unique') {
      // A small body never seen before, each time.
      res.writeHead(200, { 'Content-Length': 4096, 'Content-Type': 'application/octet-stream' });
      res.end(randomBytes(4096));
      return;
    }
    if (req.url === '/fixed') {
      // The same small body every time, its length declared.
      res.writeHead(200, { 'Content-Length': 4096, 'Content-Type': 'application/octet-stream' });
      res.end(Buffer.alloc(4096, 9));
      return;
    }
    if (req.url === '/trickle') {
      // Eight mebibytes, slowly: a client has time to give up.
      res.writeHead(200, { 'Content-Length': 8 * MIB });
      let sent = 0;
      const timer = setInterval(() => {
        if (res.destroyed || sent >= 8 * MIB) return clearInterval(timer);
        res.write(Buffer.alloc(64 * 1024, 2));
        sent += 64 * 1024;
        if (sent >= 8 * MIB) res.end();
      }, 20);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (req.url === '/big') {
      res.writeHead(200, { 'Content-Length': 64 * MIB });
      const chunk = Buffer.alloc(MIB, 3);
      let left = 64;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('fine\n');
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function viaProxy(proxyPort: number, t: MintedToken, url: string, onBody?: (bytes: number, req: http.ClientRequest) => void): Promise<{ status: number; bytes: number; error: string | null }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path: url, headers: { 'Proxy-Authorization': `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`, Host: new URL(url).host }, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        onBody?.(bytes, req);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, error: null }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, bytes, error: e.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, bytes, error: 'aborted' }));
    });
    req.on('error', (e) => resolve({ status: 0, bytes: 0, error: e.message }));
    req.end();
  });
}

async function recordingOf(dataDir: string, build: string[]): Promise<string> {
  return readFile(path.join(dataDir, 'artifacts', '.inputs', ...build.slice(0, 2), `${build[2]}.jsonl`), 'utf8').catch(() => '');
}

async function contentFiles(artifacts: string): Promise<number> {
  let n = 0;
  const root = path.join(artifacts, '.content', 'sha256');
  for (const prefix of await readdir(root).catch(() => [] as string[])) n += (await readdir(path.join(root, prefix))).length;
  return n;
}

describe('faults: the build proxy', function () {
  this.timeout(180_000);
  let dataDir: string;
  let app: ChildServer;
  let origin: { port: number; close(): Promise<void> };
  let proxyPort: number;
  let t: MintedToken;

  before(async () => {
    dataDir = await makeTempDir('proxy-faults-');
    origin = await badOrigin();
    proxyPort = await freePort();
    app = await startChild(dataDir, { PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', HEADERS_TIMEOUT: '3' });
    t = await mintWith(app.baseUrl, { type: 'fault', project: 'proxy', build: '1' });
  });

  after(async () => {
    await app?.stop();
    await origin?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('an upstream that drops mid-body: the client sees the cut, nothing is stored or recorded', async () => {
    const got = await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/drop`);
    expect(got.bytes).to.be.below(MIB);
    expect(got.error).to.not.equal(null);
    expect(await recordingOf(dataDir, ['fault', 'proxy', '1'])).to.not.include('/drop');
    expect(await contentFiles(path.join(dataDir, 'artifacts'))).to.equal(0);
    expect((await readdir(path.join(dataDir, 'artifacts', '.incoming'))).filter((n) => n.startsWith('content-'))).to.deep.equal([]);
  });

  it('an upstream that drops a small body midway: a clean 502 and not a byte of it (a small answer is kept before it is sent), nothing stored or recorded', async () => {
    const got = await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/drop-small`);
    expect(got).to.deep.include({ status: 502, error: null });
    expect(await recordingOf(dataDir, ['fault', 'proxy', '1'])).to.not.include('/drop-small');
    expect(await contentFiles(path.join(dataDir, 'artifacts'))).to.equal(0);
    expect((await readdir(path.join(dataDir, 'artifacts', '.incoming'))).filter((n) => n.startsWith('content-'))).to.deep.equal([]);
  });

  it('a store that fails for another reason than room: 502, never a 404 a package manager would believe; nothing recorded', async () => {
    // The folder of temporary files gone (removed by hand): making the body's file fails with ENOENT.
    const incoming = path.join(dataDir, 'artifacts', '.incoming');
    await rm(incoming, { recursive: true, force: true });
    try {
      const got = await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/unique`);
      expect(got).to.deep.include({ status: 502, error: null });
      expect(await recordingOf(dataDir, ['fault', 'proxy', '1'])).to.not.include('/unique');
    } finally {
      await mkdir(incoming, { recursive: true });
    }
    expect((await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/unique`)).status).to.equal(200);
  });

  it('a client that aborts mid-download: nothing is recorded, the upstream request is dropped', async () => {
    const got = await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/trickle`, (bytes, req) => {
      if (bytes > 256 * 1024) req.destroy();
    });
    expect(got.bytes).to.be.below(8 * MIB);
    await new Promise((r) => setTimeout(r, 300));
    expect(await recordingOf(dataDir, ['fault', 'proxy', '1'])).to.not.include('/trickle');
    expect((await readdir(path.join(dataDir, 'artifacts', '.incoming'))).filter((n) => n.startsWith('content-'))).to.deep.equal([]);
  });

  it('idle and slow clients on the proxy port do not stop a normal download; slow headers are cut after HEADERS_TIMEOUT', async () => {
    const sockets: net.Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < 150; i++) {
      const socket = net.connect(proxyPort, '127.0.0.1');
      socket.on('error', () => undefined);
      // Read what comes, or the server's close goes unnoticed.
      socket.resume();
      const index = closed.push(false) - 1;
      socket.on('close', () => (closed[index] = true));
      if (i % 3 === 0) socket.write('GET http://127.0.0.2/ HTTP/1.1\r\nHo');
      sockets.push(socket);
    }
    const fine = await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/fine`);
    expect(fine.status).to.equal(200);
    expect((await fetch(`${app.baseUrl}/-/health`)).status).to.equal(200);
    // Node checks header deadlines every HEADERS_TIMEOUT: cut within twice that.
    await new Promise((r) => setTimeout(r, 7500));
    expect(closed.filter((c, i) => i % 3 === 0 && c).length, 'slow headers cut').to.equal(50);
    for (const socket of sockets) socket.destroy();
  });

  it('10 000 malformed proxy requests: no crash, no 5xx but 502, 504 and 507, and it serves on', async () => {
    let seed = 0x5eedf0;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const auth = `Proxy-Authorization: Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}\r\n`;
    const kinds: (() => string)[] = [
      () => `CONNECT ${['', 'host', 'host:', ':443', 'host:99999', 'a b:1', '[::1', '127.0.0.2:abc', 'x'.repeat(300) + ':443'][rand(9)]} HTTP/1.1\r\n${rand(2) ? auth : ''}\r\n`,
      () => `GET ${['http://', 'http:///x', 'ftp://127.0.0.2/', '/relative', 'http://[::1', 'http://127.0.0.2:0/', 'https://', 'http://%zz/'][rand(8)]} HTTP/1.1\r\nHost: x\r\n${rand(2) ? auth : ''}\r\n`,
      () => `GET http://127.0.0.2:${origin.port}/fine HTTP/1.1\r\nHost: 127.0.0.2\r\nX-Big: ${'b'.repeat(20_000 + rand(40_000))}\r\n${auth}\r\n`,
      () => `GET http://127.0.0.2:${origin.port}/fine HTTP/1.1\r\nHost: 127.0.0.2\r\nProxy-Authorization: Basic ${['', '!!!', Buffer.from('a:b').toString('base64'), 'x'.repeat(2000)][rand(4)]}\r\n\r\n`,
      () => `${['BREW', 'G\0ET', 'GET  ', ''][rand(4)]} http://127.0.0.2/ HTTP/1.1\r\n\r\n`,
      () => `GET http://127.0.0.2:${origin.port}/fine HTTP/1.1\r\nHost: 127.0.0.2\r\nContent-Length: ${['-1', 'abc', '99999999999999999999', '5'][rand(4)]}\r\n${auth}\r\nab`,
    ];
    const statuses = new Map<number, number>();
    const send = (bytes: string | Buffer): Promise<number> =>
      new Promise((resolve) => {
        const socket = net.connect(proxyPort, '127.0.0.1');
        let text = '';
        socket.setTimeout(5000, () => socket.destroy());
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes('\r\n\r\n')) socket.destroy();
        });
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
        socket.on('connect', () => socket.write(bytes));
      });
    // Garbage instead of a TLS hello inside an accepted tunnel.
    const garbageTunnel = (): Promise<number> =>
      new Promise((resolve) => {
        const socket = net.connect(proxyPort, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.setTimeout(5000, () => socket.destroy());
        socket.once('data', () => socket.write(Buffer.from('NOT A TLS HELLO\r\n\r\n'.repeat(1 + rand(50)))));
        socket.on('close', () => resolve(0));
        socket.on('connect', () => socket.write(`CONNECT 127.0.0.2:${origin.port} HTTP/1.1\r\n${auth}\r\n`));
      });
    const total = 10_000;
    for (let done = 0; done < total; ) {
      const batch: Promise<number>[] = [];
      for (let i = 0; i < 50 && done < total; i++, done++) batch.push(rand(10) === 0 ? garbageTunnel() : send((kinds[rand(kinds.length)] as () => string)()));
      for (const status of await Promise.all(batch)) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    expect(app.child.exitCode, 'the server exited').to.equal(null);
    const bad = [...statuses.keys()].filter((status) => status >= 500 && ![502, 504, 507].includes(status));
    expect(bad, JSON.stringify(Object.fromEntries(statuses))).to.deep.equal([]);
    expect((await viaProxy(proxyPort, t, `http://127.0.0.2:${origin.port}/fine`)).status).to.equal(200);
    expect((await fetch(`${app.baseUrl}/-/health`)).status).to.equal(200);
    // A TLS client still gets through a tunnel afterwards.
    const ca = await (await fetch(`${app.baseUrl}/-/proxy/ca.pem`)).text();
    const tunnel = net.connect(proxyPort, '127.0.0.1');
    await new Promise((r) => tunnel.once('connect', r));
    tunnel.write(`CONNECT 127.0.0.2:${origin.port} HTTP/1.1\r\n${auth}\r\n`);
    await new Promise((r) => tunnel.once('data', r));
    const secure = tls.connect({ socket: tunnel, ca, servername: undefined, checkServerIdentity: () => undefined });
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    secure.destroy();
  });

  describe('a full disk while recording', () => {
    let mount: string;
    let small: ChildServer | null = null;
    let smallProxy = 0;
    let mounted = false;

    before(async function () {
      const dir = await makeTempDir('proxy-full-');
      mount = path.join(dir, 'artifacts');
      await mkdir(mount);
      const result = await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mount]);
      if (result.code !== 0) {
        skipUnlessCi(this, `cannot mount a small tmpfs here (${result.stderr.trim()})`, 'run as root, as CI does');
      }
      mounted = true;
      smallProxy = await freePort();
      small = await startChild(dir, { ARTIFACTS_DIR: mount, PROXY_PORT: String(smallProxy), PROXY_ALLOW_NETWORKS: '127.0.0.2/32' });
    });

    after(async () => {
      await small?.stop();
      if (mounted) await run('umount', [mount]);
    });

    it('a download bigger than the room is cut, nothing partial stays, and the server serves on', async () => {
      const server = small as ChildServer;
      const b = await mintWith(server.baseUrl, { type: 'fault', project: 'full', build: '1' });
      const proxy = smallProxy;
      const got = await viaProxy(proxy, b, `http://127.0.0.2:${origin.port}/big`);
      expect(got.error !== null || got.status === 507, JSON.stringify(got)).to.equal(true);
      expect(got.bytes).to.be.below(64 * MIB);
      expect(await recordingOf(path.dirname(mount), ['fault', 'full', '1'])).to.not.include('/big');
      expect((await readdir(path.join(mount, '.incoming'))).filter((n) => n.startsWith('content-'))).to.deep.equal([]);
      expect((await viaProxy(proxy, b, `http://127.0.0.2:${origin.port}/fine`)).status).to.equal(200);
      expect((await fetch(`${server.baseUrl}/-/health`)).status).to.equal(200);
    });

    it('a small download with the disk full: 507 before any byte, nothing kept; a body kept already is still recorded', async () => {
      const server = small as ChildServer;
      const b = await mintWith(server.baseUrl, { type: 'fault', project: 'full', build: '2' });
      expect((await viaProxy(smallProxy, b, `http://127.0.0.2:${origin.port}/fixed`)).status).to.equal(200);
      const filler = path.join(mount, 'filler');
      const chunk = Buffer.alloc(MIB);
      try {
        for (;;) await appendFile(filler, chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).to.equal('ENOSPC');
      }
      try {
        const got = await viaProxy(smallProxy, b, `http://127.0.0.2:${origin.port}/unique`);
        expect(got).to.deep.include({ status: 507, error: null });
        expect(got.bytes).to.be.below(4096);
        expect(await recordingOf(path.dirname(mount), ['fault', 'full', '2'])).to.not.include('/unique');
        expect((await readdir(path.join(mount, '.incoming'))).filter((n) => n.startsWith('content-'))).to.deep.equal([]);
        // The same body again needs no room: it is only marked as used, and recorded.
        const again = await viaProxy(smallProxy, b, `http://127.0.0.2:${origin.port}/fixed`);
        expect(again).to.deep.include({ status: 200, bytes: 4096, error: null });
        expect((await recordingOf(path.dirname(mount), ['fault', 'full', '2'])).split('/fixed').length - 1).to.equal(2);
      } finally {
        await rm(filler, { force: true });
      }
      expect((await viaProxy(smallProxy, b, `http://127.0.0.2:${origin.port}/unique`)).status).to.equal(200);
    });

    it('a mirror download bigger than the room fails with the reason, keeps nothing, and the mirror goes on', async () => {
      const server = small as ChildServer;
      const declare = async (url: string): Promise<string> => {
        const res = await fetch(`${server.baseUrl}/-/mirror`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ url }) });
        expect(res.status).to.equal(202);
        return ((await res.json()) as { id: string }).id;
      };
      const settle = async (id: string): Promise<{ state: string; reason: string | null }> => {
        for (let i = 0; i < 400; i++) {
          const e = (await (await fetch(`${server.baseUrl}/-/mirror/${id}`)).json()) as { state: string; reason: string | null };
          if (e.state !== 'pending') return e;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error('still pending');
      };
      const big = await settle(await declare(`http://127.0.0.2:${origin.port}/big`));
      expect(big).to.deep.include({ state: 'failed', reason: 'the repository has no room left to store it (insufficient storage)' });
      expect((await readdir(path.join(mount, '.incoming'))).filter((n) => n.startsWith('content-'))).to.deep.equal([]);
      expect(await settle(await declare(`http://127.0.0.2:${origin.port}/fine`))).to.include({ state: 'ok' });
    });
  });
});
