// The server as `npm start` runs it, in a child process: restarts keep tokens and files,
// SIGTERM lets an upload in flight finish and exits 0, a bad setting stops the start
// with one clear line, and nothing secret reaches the logs.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { chmod, chown, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { basic, makeTempDir, MASTER_PASSWORD, mintWith, REPO_ROOT, startChild } from '../helpers/harness.js';
import { putGenerated } from '../helpers/raw-http.js';
import { skipUnlessCi } from '../helpers/tools.js';

describe('server process', function () {
  this.timeout(60_000);
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await makeTempDir();
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('a restart keeps tokens and files', async () => {
    const first = await startChild(dataDir);
    const t = await mintWith(first.baseUrl, { type: 'dpkg', project: 'restart', build: '1' });
    const put = await fetch(`${t.url}kept.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'survives' });
    expect(put.status).to.equal(201);
    expect(await first.stop()).to.equal(0);

    const second = await startChild(dataDir);
    try {
      expect(await (await fetch(`${second.baseUrl}/dpkg/restart/1/kept.txt`)).text()).to.equal('survives');
      const again = await fetch(`${second.baseUrl}/dpkg/restart/1/more.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'x' });
      expect(again.status).to.equal(201);
    } finally {
      await second.stop();
    }
  });

  it('kill -9 mid-upload: after a restart no partial file is visible and .incoming is empty', async () => {
    const server = await startChild(dataDir);
    const t = await mintWith(server.baseUrl, { type: 'dpkg', project: 'killed', build: '1' });
    const url = new URL(`${t.url}half.bin`);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { Authorization: basic(t.username, t.password), 'Content-Length': 64 * 1024 * 1024 } });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(8 * 1024 * 1024, 1));
    const incoming = path.join(dataDir, 'artifacts', '.incoming');
    for (let i = 0; i < 100 && (await readdir(incoming)).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await readdir(incoming)).length).to.equal(1);
    await server.stop('SIGKILL');
    req.destroy();
    const again = await startChild(dataDir);
    try {
      expect(await readdir(incoming)).to.deep.equal([]);
      expect((await fetch(`${again.baseUrl}/dpkg/killed/1/half.bin`)).status).to.equal(404);
      const put = await fetch(`${t.url.replace(server.baseUrl, again.baseUrl)}whole.bin`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'ok' });
      expect(put.status).to.equal(201);
    } finally {
      await again.stop();
    }
  });

  it('dead properties (PROPPATCH) survive a restart, stored outside the public tree', async () => {
    const first = await startChild(dataDir);
    const t = await mintWith(first.baseUrl, { type: 'dav', project: 'props', build: '1' });
    const auth = basic(t.username, t.password);
    await fetch(`${t.url}file.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'x' });
    const patch = await fetch(`${t.url}file.txt`, {
      method: 'PROPPATCH',
      headers: { Authorization: auth, 'Content-Type': 'application/xml' },
      body: '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Q:commit xmlns:Q="urn:x-ci:">0123abcd</Q:commit></D:prop></D:set></D:propertyupdate>',
    });
    expect(patch.status).to.equal(207);
    await first.stop();
    const second = await startChild(dataDir);
    try {
      const find = await fetch(`${second.baseUrl}/dav/props/1/file.txt`, { method: 'PROPFIND', headers: { Depth: '0' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Q:commit xmlns:Q="urn:x-ci:"/></D:prop></D:propfind>' });
      const xml = await find.text();
      expect(xml).to.include('0123abcd').and.include('HTTP/1.1 200 OK');
      // Nothing of it is reachable through the tree, where nginx serves files from disk.
      const listing = await (await fetch(`${second.baseUrl}/dav/props/1/`, { headers: { Accept: 'application/json' } })).json();
      expect((listing as { entries: { name: string }[] }).entries.map((e) => e.name)).to.deep.equal(['file.txt']);
    } finally {
      await second.stop();
    }
  });

  // Over TCP, and through LISTEN_SOCKET as nginx reaches the app in the compose deployment.
  for (const via of ['tcp', 'socket'] as const) {
    it(`SIGTERM lets an upload in flight finish (${via}), refuses new connections, and exits 0`, async () => {
      const socketPath = path.join(dataDir, 'run', 'app.sock');
      const server = await startChild(dataDir, { SHUTDOWN_GRACE: '20', ...(via === 'socket' ? { LISTEN_SOCKET: socketPath } : {}) });
      const t = await mintWith(server.baseUrl, { type: 'dpkg', project: 'drain', build: '1' });
      const url = new URL(`${t.url}slow.bin`);
      const total = 4 * 1024 * 1024;
      const target = via === 'socket' ? { socketPath } : { host: url.hostname, port: url.port };
      const upload = new Promise<number>((resolve, reject) => {
        const req = http.request({ ...target, path: url.pathname, method: 'PUT', headers: { Authorization: basic(t.username, t.password), 'Content-Length': total } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        let sent = 0;
        const chunk = Buffer.alloc(256 * 1024, 7);
        const tick = setInterval(() => {
          req.write(chunk);
          sent += chunk.length;
          if (sent >= total) {
            clearInterval(tick);
            req.end();
          }
        }, 100);
      });
      await new Promise((r) => setTimeout(r, 300));
      const exited = server.stop('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const refused = await fetch(`${server.baseUrl}/-/health`).then(
        () => false,
        () => true,
      );
      expect(refused, 'new connections are refused while draining').to.equal(true);
      expect(await upload).to.equal(201);
      expect(await exited).to.equal(0);
      const again = await startChild(dataDir);
      try {
        const res = await fetch(`${again.baseUrl}/dpkg/drain/1/slow.bin`, { method: 'HEAD' });
        expect(Number(res.headers.get('content-length'))).to.equal(total);
      } finally {
        await again.stop();
      }
    });
  }

  it('streams, not buffers: a 512 MiB PUT and GET keep peak RSS within idle + 30 MiB', async () => {
    const server = await startChild(dataDir);
    const pid = server.child.pid as number;
    const rss = async (key: 'VmRSS' | 'VmHWM'): Promise<number> => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
    try {
      const t = await mintWith(server.baseUrl, { type: 'dpkg', project: 'rss', build: '1' });
      const url = new URL(`${t.url}big.bin`);
      const size = 512 * 1024 * 1024;
      await new Promise((r) => setTimeout(r, 500));
      const idle = await rss('VmRSS');
      // Forget the peak of the master's argon2 login: only the transfers count.
      await writeFile(`/proc/${pid}/clear_refs`, '5');
      const status = await putGenerated(url.href, basic(t.username, t.password), size);
      expect(status).to.equal(201);
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        http.get(url, (res) => {
          res.on('data', (c: Buffer) => (received += c.length));
          res.on('end', resolve);
        }).on('error', reject);
      });
      expect(received).to.equal(size);
      const peak = await rss('VmHWM');
      expect(peak - idle, `idle ${idle.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB`).to.be.lessThan(30);
    } finally {
      await server.stop();
    }
  });

  it('the access log has one line per request, with the token id and never a secret', async () => {
    const server = await startChild(dataDir, { LOG_LEVEL: 'info' });
    let t;
    try {
      t = await mintWith(server.baseUrl, { type: 'dpkg', project: 'logs', build: '1' });
      await fetch(`${t.url}a.txt?secret=query`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'abc' });
      await fetch(`${t.url}a.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, 'wrong-password') }, body: 'abc' });
      await fetch(`${server.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: basic(t.username, t.password) } });
    } finally {
      await server.stop();
    }
    const lines = server.output().split('\n').filter((l) => l.startsWith('{'));
    const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    const put = requests.find((r) => r.method === 'PUT' && r.status === 201);
    expect(put).to.include({ path: '/dpkg/logs/1/a.txt', token: t.id, bytes_in: 3 });
    expect(put).to.have.property('ms').that.is.a('number');
    expect(requests.map((r) => r.method)).to.deep.equal(['POST', 'PUT', 'PUT', 'DELETE']);
    const all = server.output();
    for (const secret of [t.password, MASTER_PASSWORD, 'wrong-password', Buffer.from(`${t.username}:${t.password}`).toString('base64'), '$argon2', 'secret=query']) {
      expect(all).to.not.include(secret);
    }
  });

  for (const [env, message] of [
    [{ PORT: 'eighty' }, /^configuration error: PORT must be a whole number/],
    [{ TOKEN_TTL_MAX: '-1' }, /^configuration error: TOKEN_TTL_MAX/],
    [{ MASTER_PASSWORD_FILE: '/nonexistent/secret' }, /^configuration error: MASTER_PASSWORD_FILE cannot be read/],
  ] as const) {
    it(`a bad setting (${Object.keys(env)[0]}) stops the start with one clear line`, async () => {
      const child = spawn('sh', [path.join(REPO_ROOT, 'docker/entrypoint.sh')], { env: { ...process.env, DATA_DIR: dataDir, PORT: '0', MASTER_PASSWORD: '', ...env } });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise((r) => child.on('exit', r));
      expect(code).to.equal(2);
      expect(stderr.trim().split('\n')).to.have.length(1);
      expect(stderr.trim()).to.match(message);
    });
  }

  it('started as root with RUN_AS_USER, reads a root-only secret, then runs and writes as that user', async function () {
    if (process.getuid?.() !== 0) skipUnlessCi(this, 'not root', 'this case starts the server as root, as the container does; CI runs as root');
    // The secret as an admin creates it (root, 0600) in a folder only root can enter.
    const secrets = await makeTempDir('secrets-');
    const secret = path.join(secrets, 'master_password');
    await writeFile(secret, `${MASTER_PASSWORD}\n`, { mode: 0o600 });
    await chmod(dataDir, 0o755);
    await mkdir(path.join(dataDir, 'tokens'));
    await mkdir(path.join(dataDir, 'artifacts'));
    for (const dir of [dataDir, path.join(dataDir, 'tokens'), path.join(dataDir, 'artifacts')]) await chown(dir, 65534, 65534);
    const server = await startChild(dataDir, { MASTER_PASSWORD: '', MASTER_PASSWORD_FILE: secret, RUN_AS_USER: 'nobody' });
    try {
      const status = await readFile(`/proc/${server.child.pid}/status`, 'utf8');
      expect(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)?.slice(1)).to.deep.equal(['65534', '65534', '65534', '65534']);
      expect(/^Groups:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/)).to.not.include('0');
      const t = await mintWith(server.baseUrl, { type: 'dpkg', project: 'runas', build: '1' });
      expect((await fetch(`${t.url}f.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'x' })).status).to.equal(201);
      expect((await stat(path.join(dataDir, 'tokens', 'tokens.json'))).uid).to.equal(65534);
      expect((await stat(path.join(dataDir, 'artifacts', 'dpkg', 'runas', '1', 'f.txt'))).uid).to.equal(65534);
    } finally {
      await server.stop();
      await rm(secrets, { recursive: true, force: true });
    }
  });

  it('RUN_AS_USER naming another user without root stops the start with one clear line', async () => {
    // Not root (as nobody when the tests run as root): it cannot become root.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = spawn('sh', [path.join(REPO_ROOT, 'docker/entrypoint.sh')], { env: { ...process.env, DATA_DIR: dataDir, PORT: '0', RUN_AS_USER: 'root' }, ...asNobody });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((r) => child.on('exit', r))).to.equal(2);
    expect(stderr.trim()).to.match(/^configuration error: RUN_AS_USER is root \(uid 0\), but the process runs as uid \d+/);
  });

  it('with no master configured, generates one and shows its password once', async () => {
    const first = await startChild(dataDir, { MASTER_PASSWORD: '' });
    await first.stop();
    const shown = /password: (\S+)/.exec(first.output())?.[1];
    expect(shown).to.match(/^[A-Za-z0-9]{32}$/);
    const second = await startChild(dataDir, { MASTER_PASSWORD: '' });
    try {
      expect(second.output()).to.not.include(shown as string);
      // The signing key's public half is printed at every start, the same key after a restart, for pinning.
      const printed = (out: string): string | undefined => /sealed builds are signed with (SHA256:\S+): (ssh-ed25519 \S+)/.exec(out)?.[2];
      expect(printed(first.output())).to.be.a('string');
      expect(printed(second.output())).to.equal(printed(first.output()));
      expect(`${(await (await fetch(`${second.baseUrl}/-/signing-key`)).text()).split(' ').slice(0, 2).join(' ')}`).to.equal(printed(second.output()));
      const res = await fetch(`${second.baseUrl}/-/tokens`, { headers: { Authorization: basic('buildbot', shown as string) } });
      expect(res.status).to.equal(200);
    } finally {
      await second.stop();
    }
  });
});
