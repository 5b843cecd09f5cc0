// `artifact-repo upload` (cli/upload.ts) against the real server over real sockets: odd
// names, big and empty files, dropped connections, refused credentials, usage errors and
// the terminal progress line.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { basicAuth, fileUrl, isRetryableStatus, normaliseBaseUrl, oneLine, parseUploadArgs, redact, runUploadCommand, uploadDirectory, type UploadEvent, type UploadIo } from '../../cli/upload.js';
import { makeTempDir, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';

const MiB = 1024 * 1024;

interface FakeIo {
  io: UploadIo;
  stdout: () => string;
  stderr: () => string;
  stderrWrites: string[];
}

function fakeIo(tty = false): FakeIo {
  let stdout = '';
  const stderrWrites: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      stdout += chunk.toString();
      done();
    },
  });
  const err = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        stderrWrites.push(chunk.toString());
        done();
      },
    }),
    tty ? { isTTY: true, columns: 100 } : {},
  );
  return { io: { stdout: out, stderr: err }, stdout: () => stdout, stderr: () => stderrWrites.join(''), stderrWrites };
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const credentials = (token: MintedToken): NodeJS.ProcessEnv => ({ ARTIFACT_USER: token.username, ARTIFACT_PASSWORD: token.password });

/** Writes files given as `a/b/c.txt` (always `/`) and returns them keyed the same way. */
async function makeTree(root: string, files: Record<string, Buffer>): Promise<Map<string, Buffer>> {
  for (const [relative, data] of Object.entries(files)) {
    const full = path.join(root, ...relative.split('/'));
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, data);
  }
  return new Map(Object.entries(files));
}

async function expectStored(base: string, files: Map<string, Buffer>): Promise<void> {
  const url = normaliseBaseUrl(base);
  for (const [relative, data] of files) {
    const res = await fetch(fileUrl(url, relative.split('/')));
    expect(res.status, relative).to.equal(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length, relative).to.equal(data.length);
    expect(body.equals(data), relative).to.equal(true);
    expect(res.headers.get('x-checksum-sha256'), relative).to.equal(sha256(data));
  }
}

interface LogLine {
  method: string;
  path: string;
  status: number;
}

const puts = (s: TestServer, prefix: string): LogLine[] =>
  s.logLines
    .map((line) => JSON.parse(line) as Partial<LogLine>)
    .filter((l): l is LogLine => l.method === 'PUT' && typeof l.path === 'string' && l.path.startsWith(prefix));

interface Proxy {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Connections the proxy cut off mid-request. */
  dropped: number;
  /** Everything the client sent, for checking request headers. */
  received: () => string;
  close(): Promise<void>;
}

/** A TCP proxy that cuts the first `dropFirst` connections once `dropAfter` request bytes have passed. */
function startProxy(targetPort: number, dropFirst: number, dropAfter: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const chunks: Buffer[] = [];
  const state = { connections: 0, dropped: 0 };
  const server = net.createServer((client) => {
    const index = state.connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let passed = 0;
    const cut = (): void => {
      state.dropped++;
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (index < dropFirst) {
        const room = dropAfter - passed;
        passed += chunk.length;
        if (passed > dropAfter) {
          upstream.write(chunk.subarray(0, Math.max(0, room)));
          cut();
          return;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        get connections() {
          return state.connections;
        },
        get dropped() {
          return state.dropped;
        },
        received: () => Buffer.concat(chunks).toString('latin1'),
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

const viaProxy = (url: string, port: number): string => {
  const u = new URL(url);
  u.port = String(port);
  return u.href;
};

describe('artifact-repo upload (cli/upload.ts)', function () {
  this.timeout(60_000);
  let s: TestServer;
  let work: string;
  before(async () => {
    s = await startServer();
    work = await makeTempDir('cli-upload-');
  });
  after(async () => {
    await s?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('uploads a tree with nested folders, odd names, an empty and a 5 MiB file, byte-identical', async () => {
    const token = await s.mint('dpkg', 'hello', '42');
    const dir = path.join(work, 'tree');
    const files = await makeTree(dir, {
      'top.txt': Buffer.from('top level\n'),
      'nested/deeper/deepest/leaf.bin': randomBytes(3000),
      'with space/a file.txt': Buffer.from('spaces'),
      'unicode/Grüße ✓ 日本.txt': Buffer.from('unicode'),
      'hash#name.txt': Buffer.from('hash'),
      'percent%20literal.txt': Buffer.from('percent'),
      '100%.txt': Buffer.from('hundred'),
      'empty.txt': Buffer.alloc(0),
      'big/five.bin': randomBytes(5 * MiB + 17),
    });
    // A symlink out of DIR must not publish what it points at.
    await writeFile(path.join(work, 'secret.txt'), 'not for upload');
    await symlink(path.join(work, 'secret.txt'), path.join(dir, 'link-to-secret.txt'));

    const t = fakeIo();
    const code = await runUploadCommand(['--parallel', '3', dir, token.url], credentials(token), t.io);
    expect(code, t.stderr()).to.equal(0);
    await expectStored(token.url, files);
    expect((await fetch(`${token.url}link-to-secret.txt`)).status).to.equal(404);

    const lines = t.stdout().trimEnd().split('\n');
    expect(lines).to.have.length(files.size + 1);
    const perFile = lines.slice(0, -1).sort();
    const expected = [...files].map(([rel, data]) => `uploaded ${rel} ${data.length} bytes sha256 ${sha256(data)}`).sort();
    expect(perFile).to.deep.equal(expected);
    const total = [...files.values()].reduce((sum, d) => sum + d.length, 0);
    expect(lines.at(-1)).to.match(new RegExp(`^${files.size} files, ${total} bytes uploaded to ${token.url.replace(/[.]/g, '\\.')} in \\d+\\.\\d+ s$`));
    expect(t.stderr().trimEnd().split('\n')).to.deep.equal(['skipped link-to-secret.txt: symbolic link, not followed']);
    expect(t.stdout() + t.stderr()).to.not.include(token.password);
  });

  it('adds the missing trailing slash to URL, and an empty DIR uploads nothing and succeeds', async () => {
    const token = await s.mint('dpkg', 'hello', '43');
    const dir = path.join(work, 'one');
    await makeTree(dir, { 'only.txt': Buffer.from('one') });
    const t = fakeIo();
    expect(await runUploadCommand([dir, token.url.replace(/\/$/, '')], credentials(token), t.io), t.stderr()).to.equal(0);
    expect(await (await fetch(`${token.url}only.txt`)).text()).to.equal('one');

    const empty = path.join(work, 'empty');
    await mkdir(empty);
    const e = fakeIo();
    const before = puts(s, '/dpkg/hello/43/').length;
    expect(await runUploadCommand([empty, token.url], credentials(token), e.io)).to.equal(0);
    expect(e.stdout()).to.match(/^0 files, 0 bytes uploaded to \S+ in [\d.]+ s\n$/);
    expect(puts(s, '/dpkg/hello/43/')).to.have.length(before);
  });

  describe('through a proxy that drops the first two connections mid-request', () => {
    const files = new Map<string, Buffer>();
    let dir: string;
    before(async () => {
      dir = path.join(work, 'retry');
      for (let i = 0; i < 4; i++) files.set(`part-${i}.bin`, randomBytes(64 * 1024));
      await makeTree(dir, Object.fromEntries(files));
    });

    it('retries the dropped files and every file arrives intact, each with its SHA-256 header', async () => {
      const token = await s.mint('dpkg', 'hello', '44');
      const proxy = await startProxy(s.port, 2, 4000);
      try {
        const t = fakeIo();
        const code = await runUploadCommand(['--parallel', '2', dir, viaProxy(token.url, proxy.port)], credentials(token), t.io);
        expect(code, t.stderr()).to.equal(0);
        expect(proxy.dropped).to.equal(2);
        expect(proxy.connections).to.be.greaterThan(2);
        expect(t.stderr()).to.match(/retrying part-\d\.bin \(attempt 2 of 4\)/);
        await expectStored(token.url, files);
        const sent = proxy.received();
        for (const [rel, data] of files) {
          expect(sent, rel).to.match(new RegExp(`PUT /dpkg/hello/44/${rel} HTTP/1.1\\r\\n(?:[^\\r]+\\r\\n)*?x-checksum-sha256: ${sha256(data)}\\r\\n`, 'i'));
          expect(sent, rel).to.match(new RegExp(`PUT /dpkg/hello/44/${rel} HTTP/1.1\\r\\n(?:[^\\r]+\\r\\n)*?content-length: ${data.length}\\r\\n`, 'i'));
        }
        expect(t.stdout() + t.stderr()).to.not.include(token.password);
      } finally {
        await proxy.close();
      }
    });

    it('with --retries 0 the dropped files fail and the exit code is 1', async () => {
      const token = await s.mint('dpkg', 'hello', '45');
      const proxy = await startProxy(s.port, 2, 4000);
      try {
        const t = fakeIo();
        const code = await runUploadCommand(['--parallel', '2', '--retries', '0', dir, viaProxy(token.url, proxy.port)], credentials(token), t.io);
        expect(code).to.equal(1);
        expect(proxy.dropped).to.equal(2);
        expect(t.stderr()).to.match(/^failed part-\d\.bin: (ECONNRESET|EPIPE)\b/m);
        expect(t.stderr()).to.not.include('retrying');
        expect(t.stdout()).to.match(/^2 of 4 files failed; 2 files, \d+ bytes uploaded/m);
      } finally {
        await proxy.close();
      }
    });
  });

  it('does not retry a refused token: 401 reported, no password shown, no new files started', async () => {
    const token = await s.mint('dpkg', 'hello', '46');
    const revoke = await fetch(`${s.baseUrl}/-/tokens/${token.id}`, { method: 'DELETE', headers: { Authorization: basicAuth(token.username, token.password) } });
    expect(revoke.status).to.equal(204);
    const dir = path.join(work, 'revoked');
    const names: Record<string, Buffer> = {};
    for (let i = 0; i < 12; i++) names[`f${String(i).padStart(2, '0')}.txt`] = Buffer.from(`file ${i}`);
    await makeTree(dir, names);

    const t = fakeIo();
    const code = await runUploadCommand(['--parallel', '2', dir, token.url], credentials(token), t.io);
    expect(code).to.equal(1);
    expect(t.stderr()).to.match(/^failed f\d\d\.txt: 401 Unauthorized/m);
    expect(t.stderr()).to.match(/refused the credentials/);
    expect(t.stderr()).to.not.include('retrying');
    expect(t.stdout() + t.stderr()).to.not.include(token.password);
    expect(t.stdout()).to.match(/^12 of 12 files failed \(\d+ not attempted after the credentials were refused\); 0 files, 0 bytes uploaded/m);
    // Two in flight when the first 401 came back; nothing after.
    const tried = puts(s, '/dpkg/hello/46/');
    expect(tried.length).to.be.within(1, 2);
    for (const line of tried) expect(line.status).to.equal(401);
  });

  it('reports a 4xx with the server\'s one-line reason and carries on with the other files', async () => {
    const token = await s.mint('dpkg', 'hello', '47');
    const dir = path.join(work, 'refused');
    // The server refuses a backslash in a name; that file fails, the others upload.
    const files = await makeTree(dir, { 'a.txt': Buffer.from('a'), 'b\\c.txt': Buffer.from('b'), 'd.txt': Buffer.from('d') });
    const t = fakeIo();
    expect(await runUploadCommand(['--parallel', '1', dir, token.url], credentials(token), t.io)).to.equal(1);
    const failure = /^failed b\\c\.txt: (4\d\d) [^\n]*$/m.exec(t.stderr());
    expect(failure, t.stderr()).to.not.equal(null);
    expect(t.stderr()).to.not.include('retrying');
    expect(puts(s, '/dpkg/hello/47/b%5Cc.txt')).to.have.length(1);
    files.delete('b\\c.txt');
    await expectStored(token.url, files);
    expect(t.stdout()).to.match(/^1 of 3 files failed; 2 files, 2 bytes uploaded/m);
  });

  it('retries a 503 but not a 507 (a full disk does not get better by asking again)', async () => {
    // A stub server: the real one cannot be made to answer 503 on demand.
    const statuses: Record<string, number[]> = { '/c/flaky.txt': [503, 503, 201], '/c/full.txt': [507, 201] };
    const seen: string[] = [];
    const stub = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(req.url ?? '');
        const status = statuses[req.url ?? '']?.shift() ?? 500;
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(status === 507 ? 'insufficient storage: disk full\nmore detail\n' : status >= 400 ? 'try later\n' : '');
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    try {
      const dir = path.join(work, 'stub');
      await makeTree(dir, { 'flaky.txt': Buffer.from('f'), 'full.txt': Buffer.from('g') });
      const t = fakeIo();
      const port = (stub.address() as net.AddressInfo).port;
      const code = await runUploadCommand(['--parallel', '1', dir, `http://127.0.0.1:${port}/c/`], { ARTIFACT_USER: 'u', ARTIFACT_PASSWORD: 'p4ssw0rd' }, t.io);
      expect(code).to.equal(1);
      expect(seen).to.deep.equal(['/c/flaky.txt', '/c/flaky.txt', '/c/flaky.txt', '/c/full.txt']);
      expect(t.stdout()).to.match(/^uploaded flaky\.txt 1 bytes sha256 /m);
      expect(t.stderr()).to.match(/^retrying flaky\.txt \(attempt 3 of 4\) in \d+ ms: 503 Service Unavailable: try later$/m);
      expect(t.stderr()).to.match(/^failed full\.txt: 507 Insufficient Storage: insufficient storage: disk full$/m);
    } finally {
      await new Promise<void>((resolve) => stub.close(() => resolve()));
    }
  });

  it('keeps exactly --parallel files in flight', async () => {
    // A stub that holds each answer a while, so the client's concurrency shows.
    let inFlight = 0;
    let most = 0;
    let served = 0;
    const stub = http.createServer((req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          inFlight--;
          served++;
          res.writeHead(201, { 'Content-Length': 0 });
          res.end();
        }, 60),
      );
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    try {
      const dir = path.join(work, 'parallel');
      const names: Record<string, Buffer> = {};
      for (let i = 0; i < 9; i++) names[`p${i}.txt`] = Buffer.from(`p${i}`);
      await makeTree(dir, names);
      const port = (stub.address() as net.AddressInfo).port;
      const env = { ARTIFACT_USER: 'u', ARTIFACT_PASSWORD: 'p4ssw0rd' };
      expect(await runUploadCommand(['--parallel', '3', dir, `http://127.0.0.1:${port}/c/`], env, fakeIo().io)).to.equal(0);
      expect([served, most]).to.deep.equal([9, 3]);
      most = 0;
      expect(await runUploadCommand(['--parallel', '1', dir, `http://127.0.0.1:${port}/c/`], env, fakeIo().io)).to.equal(0);
      expect(most).to.equal(1);
    } finally {
      await new Promise<void>((resolve) => stub.close(() => resolve()));
    }
  });

  describe('usage errors exit 2 before any request', () => {
    let token: MintedToken;
    let dir: string;
    before(async () => {
      token = await s.mint('dpkg', 'hello', '48');
      dir = path.join(work, 'usage');
      await makeTree(dir, { 'x.txt': Buffer.from('x') });
    });
    const expectUsage = async (args: string[], env: NodeJS.ProcessEnv, message: RegExp): Promise<void> => {
      const t = fakeIo();
      expect(await runUploadCommand(args, env, t.io), args.join(' ')).to.equal(2);
      expect(t.stderr()).to.match(message);
      expect(t.stdout()).to.equal('');
      expect(puts(s, '/dpkg/hello/48/')).to.deep.equal([]);
    };

    it('missing credentials', async () => {
      await expectUsage([dir, token.url], {}, /ARTIFACT_USER and ARTIFACT_PASSWORD/);
      await expectUsage([dir, token.url], { ARTIFACT_USER: token.username }, /ARTIFACT_USER and ARTIFACT_PASSWORD/);
      await expectUsage([dir, token.url], { ARTIFACT_PASSWORD: token.password }, /ARTIFACT_USER and ARTIFACT_PASSWORD/);
    });

    it('DIR missing or not a directory', async () => {
      await expectUsage([path.join(work, 'nope'), token.url], credentials(token), /no such directory/);
      await expectUsage([path.join(dir, 'x.txt'), token.url], credentials(token), /not a directory/);
    });

    it('bad --parallel, --retries, options or positionals', async () => {
      const usage = /usage: artifact-repo upload \[--parallel N\] \[--retries N\] DIR URL/;
      for (const bad of ['0', '65', 'abc', '-1', '2.5', '']) await expectUsage(['--parallel', bad, dir, token.url], credentials(token), usage);
      for (const bad of ['x', '21', '-1']) await expectUsage(['--retries', bad, dir, token.url], credentials(token), usage);
      await expectUsage(['--bogus', dir, token.url], credentials(token), usage);
      await expectUsage([dir], credentials(token), usage);
      await expectUsage([dir, token.url, 'extra'], credentials(token), usage);
      await expectUsage([dir, 'ftp://example.com/x/'], credentials(token), usage);
      await expectUsage([dir, 'not a url'], credentials(token), usage);
    });

    it('credentials inside URL are refused (and not echoed)', async () => {
      const withCreds = new URL(token.url);
      withCreds.username = token.username;
      withCreds.password = token.password;
      const t = fakeIo();
      expect(await runUploadCommand([dir, withCreds.href], credentials(token), t.io)).to.equal(2);
      expect(t.stderr()).to.match(/must not contain credentials/);
      expect(t.stderr()).to.not.include(token.password);
    });
  });

  it('on a terminal draws one progress line redrawn with \\r, ends it with a newline, and still prints the summary', async () => {
    const token = await s.mint('dpkg', 'hello', '49');
    const dir = path.join(work, 'tty');
    const files = await makeTree(dir, { 'a.bin': randomBytes(2 * MiB), 'b.bin': randomBytes(MiB), 'c.txt': Buffer.from('c') });
    const t = fakeIo(true);
    expect(await runUploadCommand([dir, token.url], credentials(token), t.io), t.stderr()).to.equal(0);
    await expectStored(token.url, files);
    const err = t.stderr();
    expect(t.stderrWrites.filter((w) => w.startsWith('\r')).length).to.be.at.least(2);
    expect(err.endsWith('\n')).to.equal(true);
    expect(err.split('\n').filter(Boolean)).to.have.length(1);
    const last = err.slice(err.lastIndexOf('\r') + 1, -1).trimEnd();
    expect(last).to.match(/^\[#+\] 3\/3 files {2}3\.0 MiB \/ 3\.0 MiB {2}[\d.]+ \S?i?B\/s$/);
    for (const line of err.split(/[\r\n]/)) expect(line.length).to.be.below(100);
    expect(t.stdout()).to.not.match(/^uploaded /m);
    expect(t.stdout()).to.match(/^3 files, 3145729 bytes uploaded to \S+ in [\d.]+ s\n$/);
  });

  it('uploadDirectory reports events and a typed result', async () => {
    const token = await s.mint('dpkg', 'hello', '50');
    const dir = path.join(work, 'api');
    await makeTree(dir, { 'x/y.txt': Buffer.from('yy'), 'z.txt': Buffer.from('zzz') });
    const events: UploadEvent[] = [];
    const result = await uploadDirectory({ dir, url: token.url, username: token.username, password: token.password, parallel: 1, onEvent: (e) => events.push(e) });
    expect(result.files).to.equal(2);
    expect(result.bytes).to.equal(5);
    expect(result.bytesUploaded).to.equal(5);
    expect(result.failed).to.deep.equal([]);
    expect(result.uploaded.map((f) => [f.relative, f.size, f.sha256, f.status, f.attempts])).to.deep.equal([
      ['x/y.txt', 2, sha256(Buffer.from('yy')), 201, 1],
      ['z.txt', 3, sha256(Buffer.from('zzz')), 201, 1],
    ]);
    expect(events[0]).to.deep.equal({ type: 'scanned', files: 2, bytes: 5 });
    // Sorted walk, one file at a time: the order is reproducible.
    expect(events.filter((e) => e.type === 'uploaded').map((e) => (e.type === 'uploaded' ? e.file.relative : ''))).to.deep.equal(['x/y.txt', 'z.txt']);
    expect(events.reduce((sum, e) => sum + (e.type === 'bytes' ? e.delta : 0), 0)).to.equal(5);
  });

  describe('pure helpers', () => {
    it('percent-encodes each path segment and keeps the collection path', () => {
      const base = normaliseBaseUrl('http://h:1/dpkg/hello/42');
      expect(base.pathname).to.equal('/dpkg/hello/42/');
      expect(fileUrl(base, ['a b', 'c#d%e?.txt', 'ü']).href).to.equal('http://h:1/dpkg/hello/42/a%20b/c%23d%25e%3F.txt/%C3%BC');
    });

    it('keeps the first line of an error body, at most 200 characters', () => {
      expect(oneLine('  no such thing\nsecond line\n')).to.equal('no such thing');
      expect(oneLine('x'.repeat(500))).to.have.length(200);
      expect(oneLine('')).to.equal('');
    });

    it('redacts the password from any text', () => {
      expect(redact('bad p4ss-word here p4ss-word', 'p4ss-word')).to.equal('bad *** here ***');
      expect(redact('nothing', 'p4ss-word')).to.equal('nothing');
    });

    it('retries 5xx except 507, never 4xx', () => {
      expect([500, 502, 503, 504].every(isRetryableStatus)).to.equal(true);
      expect([400, 401, 403, 404, 409, 507].some(isRetryableStatus)).to.equal(false);
    });

    it('parses arguments with defaults', () => {
      const parsed = parseUploadArgs(['d', 'http://h/x/']);
      expect(parsed.ok && { parallel: parsed.parallel, retries: parsed.retries, dir: parsed.dir }).to.deep.equal({ parallel: 4, retries: 3, dir: 'd' });
      const custom = parseUploadArgs(['--parallel', '64', '--retries', '0', 'd', 'http://h/x/']);
      expect(custom.ok && [custom.parallel, custom.retries]).to.deep.equal([64, 0]);
    });
  });
});
