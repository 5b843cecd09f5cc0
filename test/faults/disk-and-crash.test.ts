// Faults that must lose nothing: a full disk (ARTIFACTS_DIR on a size-limited tmpfs),
// kill -9 in the middle of a 200 MB upload, and a client that gives up at every stage of
// a PUT. Always against the real server process.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { basic, makeTempDir, MASTER_AUTH, mintWith, startChild, type ChildServer, type MintedToken } from '../helpers/harness.js';
import { findTool, run, skipUnlessCi } from '../helpers/tools.js';
import { putGenerated } from '../helpers/raw-http.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('faults: a full disk', function () {
  this.timeout(120_000);
  let mountPoint: string;
  let dataDir: string;
  let app: ChildServer;
  let t: MintedToken;
  let mounted = false;

  before(async function () {
    dataDir = await makeTempDir('full-disk-');
    mountPoint = path.join(dataDir, 'artifacts');
    await mkdir(mountPoint);
    const mount = await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]);
    if (mount.code !== 0) {
      skipUnlessCi(this, `cannot mount a small tmpfs here (${mount.stderr.trim()})`, 'run as root, as CI does');
    }
    mounted = true;
    app = await startChild(dataDir, { ARTIFACTS_DIR: mountPoint });
    t = await mintWith(app.baseUrl, { type: 'disk', project: 'full', build: '1' });
  });

  after(async () => {
    await app?.stop();
    if (mounted) await run('umount', [mountPoint]);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('an upload larger than the free space gets 507, leaves nothing, and reads go on', async () => {
    const kept = Buffer.alloc(4 * 1024 * 1024, 0x62);
    expect(await putGenerated(`${t.url}kept.bin`, basic(t.username, t.password), kept.length)).to.equal(201);
    const status = await putGenerated(`${t.url}too-big.bin`, basic(t.username, t.password), 40 * 1024 * 1024);
    // The server answers 507 as soon as the disk is full; a client still sending may see the
    // connection close instead, and must then find nothing stored either.
    expect(status).to.be.oneOf([507, 0]);
    const direct = await fetch(`${t.url}too-big.bin`);
    expect(direct.status).to.equal(404);
    expect(await readdir(path.join(mountPoint, '.incoming'))).to.deep.equal([]);
    const back = Buffer.from(await (await fetch(`${t.url}kept.bin`)).arrayBuffer());
    expect(back.length).to.equal(kept.length);
    expect((await fetch(`${app.baseUrl}/-/health`)).status).to.equal(200);
    // Space came back with the removed temporary file: small writes work again.
    expect(await putGenerated(`${t.url}small.bin`, basic(t.username, t.password), 1000)).to.equal(201);
  });

  it('with the disk filled to the brim: writes get 507 with a clear message, nothing half-written, reads go on', async () => {
    // Leave almost nothing: a filler file beside the tree (not part of it).
    const free = Number((await run('df', ['--output=avail', '-B1', mountPoint])).stdout.trim().split('\n')[1]);
    await writeFile(path.join(mountPoint, 'filler'), Buffer.alloc(Math.max(0, free - 16 * 1024)));
    const res = await fetch(`${t.url}no-room.bin`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: Buffer.alloc(512 * 1024, 1) });
    expect(res.status).to.equal(507);
    expect(await res.text()).to.match(/insufficient storage/);
    expect((await fetch(`${t.url}no-room.bin`)).status).to.equal(404);
    const propPatch = await fetch(`${t.url}kept.bin`, {
      method: 'PROPPATCH',
      headers: { Authorization: basic(t.username, t.password), 'Content-Type': 'application/xml' },
      body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><x xmlns="urn:y">${'v'.repeat(64 * 1024)}</x></D:prop></D:set></D:propertyupdate>`,
    });
    expect(propPatch.status).to.be.oneOf([507, 207]);
    expect(await readdir(path.join(mountPoint, '.incoming'))).to.deep.equal([]);
    expect((await fetch(`${t.url}kept.bin`)).status).to.equal(200);
    // Revoking still works on a full disk (the token store is on another volume), but the
    // seal cannot be written: it stays pending, and no new token may be minted meanwhile.
    // (The last few KiB taken too.)
    for (let i = 0; ; i++) {
      try {
        await writeFile(path.join(mountPoint, `filler-${i}`), Buffer.alloc(4096));
      } catch {
        break;
      }
    }
    const revoke = await fetch(`${app.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    expect(revoke.status).to.equal(204);
    expect(revoke.headers.get('x-artifact-repo-seal')).to.equal('pending');
    expect((await fetch(`${t.url}SHA256SUMS`)).status).to.equal(404);
    const mint = await fetch(`${app.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'disk', project: 'full', build: '1' }) });
    expect(mint.status).to.equal(409);
    expect(((await mint.json()) as { error: string }).error).to.match(/being sealed/);
    expect(app.child.exitCode).to.equal(null);
    // The failure is logged without the server's paths.
    expect(app.output()).to.include('sealing failed').and.not.include(mountPoint);
  });

  it('the pending seal survives a restart, keeps mints out, and completes once there is room again', async () => {
    await app.stop();
    app = await startChild(dataDir, { ARTIFACTS_DIR: mountPoint });
    const stillFull = await fetch(`${app.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'disk', project: 'full', build: '1' }) });
    expect(stillFull.status).to.equal(409);
    expect((await fetch(`${app.baseUrl}/disk/full/1/SHA256SUMS`)).status).to.equal(404);
    for (const name of await readdir(mountPoint)) if (name.startsWith('filler')) await rm(path.join(mountPoint, name));
    await app.stop();
    app = await startChild(dataDir, { ARTIFACTS_DIR: mountPoint });
    // Retried at start: the build is sealed with the files it had.
    let sums = await fetch(`${app.baseUrl}/disk/full/1/SHA256SUMS`);
    for (let i = 0; i < 50 && sums.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      sums = await fetch(`${app.baseUrl}/disk/full/1/SHA256SUMS`);
    }
    expect(sums.status).to.equal(200);
    expect(await sums.text()).to.include('kept.bin').and.include('small.bin');
    const mint = await fetch(`${app.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'disk', project: 'full', build: '1' }) });
    expect(mint.status).to.equal(409);
    expect(((await mint.json()) as { error: string }).error).to.match(/is sealed/);
  });
});

describe('faults: kill -9 during a 200 MB upload', function () {
  this.timeout(120_000);
  it('after a restart: no partial file, temporary files cleaned, tokens and earlier files intact', async () => {
    const dataDir = await makeTempDir('kill9-');
    try {
      const first = await startChild(dataDir);
      const t = await mintWith(first.baseUrl, { type: 'crash', project: 'kill', build: '1' });
      const earlier = Buffer.from('uploaded before the crash\n');
      expect((await fetch(`${t.url}earlier.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: earlier })).status).to.equal(201);
      const upload = putGenerated(`${t.url}big.bin`, basic(t.username, t.password), 200 * 1024 * 1024, 256 * 1024);
      const incoming = path.join(dataDir, 'artifacts', '.incoming');
      // Kill once a good part of the body is on disk.
      for (let i = 0; i < 500; i++) {
        const names = await readdir(incoming);
        const sizes = await Promise.all(names.map(async (n) => (await import('node:fs/promises')).stat(path.join(incoming, n)).then((s) => s.size, () => 0)));
        if (sizes.some((s) => s > 50 * 1024 * 1024)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await first.stop('SIGKILL')).to.equal(null);
      expect(await upload).to.equal(0);
      expect((await readdir(incoming)).length, 'the killed upload left its temporary file').to.equal(1);
      const second = await startChild(dataDir);
      try {
        expect(await readdir(incoming)).to.deep.equal([]);
        expect(existsSync(path.join(dataDir, 'artifacts/crash/kill/1/big.bin'))).to.equal(false);
        expect((await fetch(`${second.baseUrl}/crash/kill/1/big.bin`)).status).to.equal(404);
        const back = Buffer.from(await (await fetch(`${second.baseUrl}/crash/kill/1/earlier.txt`)).arrayBuffer());
        expect(sha256(back)).to.equal(sha256(earlier));
        // The token survived too: the build can upload again.
        expect((await fetch(`${second.baseUrl}/crash/kill/1/after.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'x' })).status).to.equal(201);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('faults: a client that gives up at every stage of a PUT', function () {
  this.timeout(60_000);
  let dataDir: string;
  let app: ChildServer;
  let t: MintedToken;
  before(async () => {
    dataDir = await makeTempDir('abort-');
    app = await startChild(dataDir);
    t = await mintWith(app.baseUrl, { type: 'abort', project: 'put', build: '1' });
  });
  after(async () => {
    await app?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const body = Buffer.alloc(2 * 1024 * 1024, 0x63);
  const head = (name: string): string => `PUT ${new URL(t.url).pathname}${name} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic(t.username, t.password)}\r\nContent-Length: ${body.length}\r\n`;
  const stages: [string, (name: string) => Buffer[]][] = [
    ['in the middle of the request line', () => [Buffer.from('PUT /abort/put/1/')]],
    ['in the middle of the headers', (n) => [Buffer.from(head(n).slice(0, 40))]],
    ['after the headers, before any body', (n) => [Buffer.from(head(n) + '\r\n')]],
    ['after the first body byte', (n) => [Buffer.from(head(n) + '\r\n'), body.subarray(0, 1)]],
    ['in the middle of the body', (n) => [Buffer.from(head(n) + '\r\n'), body.subarray(0, body.length / 2)]],
    ['one byte before the end of the body', (n) => [Buffer.from(head(n) + '\r\n'), body.subarray(0, body.length - 1)]],
    ['after the whole body, before reading the answer', (n) => [Buffer.from(head(n) + '\r\n'), body]],
    ['with Expect: 100-continue, before sending the body', (n) => [Buffer.from(head(n) + 'Expect: 100-continue\r\n\r\n')]],
  ];

  for (const [stage, parts] of stages) {
    it(`${stage}: nothing partial is visible, no temporary file stays, the server serves on`, async () => {
      const name = `f-${stage.replace(/\W+/g, '-')}.bin`;
      const socket = net.connect(Number(new URL(app.baseUrl).port), '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.on('error', () => undefined);
      for (const part of parts(name)) await new Promise((r) => socket.write(part, r));
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      const incoming = path.join(dataDir, 'artifacts', '.incoming');
      for (let i = 0; i < 100 && (await readdir(incoming)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await readdir(incoming)).to.deep.equal([]);
      const res = await fetch(`${t.url}${name}`);
      if (stage.startsWith('after the whole body')) {
        // The body was complete: storing it is right, and it must be whole.
        if (res.status === 200) expect(sha256(Buffer.from(await res.arrayBuffer()))).to.equal(sha256(body));
        else expect(res.status).to.equal(404);
      } else {
        expect(res.status).to.equal(404);
      }
      expect((await fetch(`${app.baseUrl}/-/health`)).status).to.equal(200);
      expect(app.child.exitCode).to.equal(null);
    });
  }
});

// A real crash at each step of publishing a small upload (received whole, written in a
// few system calls): strace, attached to the server, kills it with SIGKILL on entry to the
// chosen call, so the steps before it are done and it and those after are not.
describe('faults: kill -9 at each step of publishing a small upload', function () {
  this.timeout(120_000);
  let dataDir: string;
  before(async function () {
    if (!findTool('strace')) {
      skipUnlessCi(this, 'strace is not installed', 'apt-get install strace, as .ci/run does');
    }
    dataDir = await makeTempDir('kill-steps-');
  });
  after(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const older = Buffer.from('the file as it was before\n');
  const newer = Buffer.alloc(4096, 0x6e);

  /** Starts the server, lets `prepare` run, then kills it on entry to the `when`-th `call` during a PUT of `newer`. */
  async function crashDuring(name: string, call: string, when: number, prepare: (app: ChildServer, t: MintedToken) => Promise<void>): Promise<void> {
    const app = await startChild(dataDir);
    const t = await mintWith(app.baseUrl, { type: 'crash', project: 'steps', build: '1' });
    await prepare(app, t);
    const tracer = spawnTracer(app.child.pid as number, call, when);
    await tracer.attached;
    const status = await fetch(`${t.url}${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: newer }).then(
      (r) => r.status,
      () => 0,
    );
    expect(status, `the server answered the PUT instead of dying at ${call} #${when}`).to.equal(0);
    expect(await app.stop('SIGKILL')).to.equal(null);
    await tracer.done;
  }

  const steps: [string, string, number][] = [
    ['writing the body to its temporary file', 'write', 1],
    ['writing its checksum record', 'write', 2],
    ['renaming the record into place', 'rename', 1],
    ['adding it to the checksum index', 'symlink', 1],
    ['renaming it into the tree', 'rename', 2],
  ];
  for (const [step, call, when] of steps) {
    it(`a new file, killed before ${step}: after a restart it is not there, nothing is left over, and it can be uploaded`, async () => {
      const name = `new-${call}-${when}.bin`;
      await crashDuring(name, call, when, async () => undefined);
      const again = await startChild(dataDir);
      try {
        expect(await readdir(path.join(dataDir, 'artifacts', '.incoming'))).to.deep.equal([]);
        expect((await fetch(`${again.baseUrl}/crash/steps/1/${name}`)).status).to.equal(404);
        const t = await mintWith(again.baseUrl, { type: 'crash', project: 'steps', build: '1' });
        const put = await fetch(`${t.url}${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: newer });
        expect(put.status).to.equal(201);
        const get = await fetch(`${t.url}${name}`);
        expect(sha256(Buffer.from(await get.arrayBuffer()))).to.equal(sha256(newer));
        expect(get.headers.get('x-checksum-sha256')).to.equal(sha256(newer));
      } finally {
        await again.stop();
      }
    });
  }

  // Replacing: the new record is written beside the old one and renamed over it, then the file.
  const replaceSteps: [string, string, number][] = [
    ['writing the body', 'write', 1],
    ['writing the new checksum record', 'write', 2],
    ['replacing the checksum record', 'rename', 1],
    ['renaming the new file over the old', 'rename', 2],
  ];
  for (const [step, call, when] of replaceSteps) {
    it(`a replaced file, killed before ${step}: after a restart the old bytes are served with their own checksum`, async () => {
      const name = `old-${call}-${when}.txt`;
      await crashDuring(name, call, when, async (_app, t) => {
        expect((await fetch(`${t.url}${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: older })).status).to.equal(201);
      });
      const again = await startChild(dataDir);
      try {
        expect(await readdir(path.join(dataDir, 'artifacts', '.incoming'))).to.deep.equal([]);
        const get = await fetch(`${again.baseUrl}/crash/steps/1/${name}`);
        expect(get.status).to.equal(200);
        expect(Buffer.from(await get.arrayBuffer()).equals(older)).to.equal(true);
        expect(get.headers.get('x-checksum-sha256')).to.equal(sha256(older));
        // The search by the new bytes' checksum finds nothing that holds other bytes.
        const search = (await (await fetch(`${again.baseUrl}/-/search?sha256=${sha256(newer)}`, { headers: { Accept: 'application/json' } })).json()) as { results: { path: string }[] };
        expect(search.results.map((r) => r.path)).to.not.include(`/crash/steps/1/${name}`);
      } finally {
        await again.stop();
      }
    });
  }
});

/** strace attached to a process (all its threads), killing it on entry to the `when`-th `call`. */
function spawnTracer(pid: number, call: string, when: number): { attached: Promise<void>; done: Promise<void> } {
  const tracer = spawn('strace', ['-f', '-p', String(pid), '-o', '/dev/null', '-e', `trace=${call}`, '-e', `inject=${call}:signal=SIGKILL:when=${when}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const attached = new Promise<void>((resolve, reject) => {
    tracer.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/attached/.test(stderr)) resolve();
    });
    tracer.once('exit', (code) => reject(new Error(`strace exited (${code}) before attaching: ${stderr}`)));
  });
  const done = new Promise<void>((resolve) => tracer.once('exit', () => resolve()));
  return { attached, done };
}
