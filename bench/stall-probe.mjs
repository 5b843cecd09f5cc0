#!/usr/bin/env node
// How long a health probe waits while one client sends the heavy requests that the
// hardening issue found (#12: findings 1, 4, 6 and 7). A probe asks GET /-/health every
// 10 ms on its own connection; each scenario reports the heavy request's time and the
// probe's worst and 99th-percentile latency meanwhile. Nothing here is a pass/fail test:
// it prints figures (docs/performance.md quotes them).
//
//   node bench/stall-probe.mjs [--app DIR] [--files N] [--only 1,4,6,7]
//
// --app runs the server from another checkout's build (to measure before a change);
// --files sets the size of the big build (default 20000); --only picks findings.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { app: { type: 'string' }, files: { type: 'string' }, only: { type: 'string' } } });
const ONLY = values.only ? new Set(values.only.split(',')) : null;
const wanted = (finding) => !ONLY || ONLY.has(finding);
const APP = path.resolve(values.app ?? path.join(here, '..'));
const FILES = Number(values.files ?? 20000);
const MASTER = 'correct-horse-battery-staple';
const masterAuth = 'Basic ' + Buffer.from(`buildbot:${MASTER}`).toString('base64');

function request({ port, method = 'GET', path: p, headers = {}, body, localAddress, agent = false }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}) }, localAddress, agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode, bytes, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startServer() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'stall-probe-'));
  const child = spawn('sh', [path.join(APP, 'docker/entrypoint.sh')], {
    env: { ...process.env, DATA_DIR: dataDir, PORT: '0', MASTER_PASSWORD: MASTER, LOG_LEVEL: 'silent', MASTER_FAILURE_LIMIT: '10000', TOKEN_FAILURE_LIMIT: '100000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const port = await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Probes /-/health every 10 ms until stopped; returns the latencies. */
function probe(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const { ms } = await request({ port, path: '/-/health', agent });
      latencies.push(ms);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return async () => {
    running = false;
    await done;
    agent.destroy();
    const sorted = [...latencies].sort((a, b) => a - b);
    return { max: sorted.at(-1) ?? 0, p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0, n: sorted.length };
  };
}

const rows = [];
async function scenario(name, port, work) {
  const stop = probe(port);
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  const detail = await work();
  const ms = performance.now() - started;
  const health = await stop();
  rows.push({ name, ms, health, detail });
  process.stdout.write(`${name.padEnd(58)} ${(ms / 1000).toFixed(2).padStart(7)} s   health max ${health.max.toFixed(0).padStart(6)} ms, p99 ${health.p99.toFixed(0).padStart(5)} ms   ${detail ?? ''}\n`);
}

async function mint(port, build) {
  const res = await new Promise((resolve, reject) => {
    const body = JSON.stringify({ type: 'dpkg', project: 'probe', build });
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/-/tokens', headers: { Authorization: masterAuth, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (r) => {
      let text = '';
      r.on('data', (c) => (text += c));
      r.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end(body);
  });
  return { ...res, auth: 'Basic ' + Buffer.from(`${res.username}:${res.password}`).toString('base64') };
}

async function putMany(port, token, prefix, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const r = await request({ port, method: 'PUT', path: `${prefix}f${String(i).padStart(6, '0')}.txt`, headers: { Authorization: token.auth }, body: `file ${i}\n`, agent });
      if (r.status !== 201 && r.status !== 204) throw new Error(`PUT ${i}: ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  agent.destroy();
}

const server = await startServer();
const { port } = server;
try {
  process.stdout.write(`server from ${APP}, big build of ${FILES} files\n\n`);
  const t = await mint(port, '1');
  await request({ port, method: 'PUT', path: '/dpkg/probe/1/props.txt', headers: { Authorization: t.auth }, body: 'x' });

  // 1. Dead properties: 9 990 empty properties in one PROPPATCH, three times; then a
  //    PROPFIND asking for 9 990 names.
  const names = Array.from({ length: 9990 }, (_, i) => `<Z:p${i}/>`).join('');
  const patch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>${names}</D:prop></D:set></D:propertyupdate>`;
  for (let i = 1; i <= 3 && wanted('1'); i++) {
    await scenario(`1. PROPPATCH 9 990 properties (${Buffer.byteLength(patch)} B), #${i}`, port, async () => {
      const r = await request({ port, method: 'PROPPATCH', path: '/dpkg/probe/1/props.txt', headers: { Authorization: t.auth, 'Content-Type': 'application/xml' }, body: patch });
      return `status ${r.status}`;
    });
  }
  const find = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Y="urn:y"><D:prop>${Array.from({ length: 9990 }, (_, i) => `<Y:m${i}/>`).join('')}</D:prop></D:propfind>`;
  if (wanted('1')) await scenario('1. PROPFIND Depth 0 for 9 990 missing names (anonymous)', port, async () => {
    const r = await request({ port, method: 'PROPFIND', path: '/dpkg/probe/1/props.txt', headers: { Depth: '0', 'Content-Type': 'application/xml' }, body: find });
    return `status ${r.status}, ${r.bytes} B`;
  });

  // 4. 180 wrong master passwords, 9 from each of 20 addresses, while public downloads go on.
  await request({ port, method: 'PUT', path: '/dpkg/probe/1/small.bin', headers: { Authorization: t.auth }, body: 'y'.repeat(4096) });
  if (wanted('4')) await scenario('4. 180 wrong master passwords from 20 addresses', port, async () => {
    const downloads = [];
    let guessing = true;
    const downloader = (async () => {
      while (guessing) {
        const r = await request({ port, path: '/dpkg/probe/1/small.bin', localAddress: '127.0.0.99' });
        downloads.push(r.ms);
      }
    })();
    const guesses = [];
    for (let a = 0; a < 20; a++) {
      for (let g = 0; g < 9; g++) {
        const auth = 'Basic ' + Buffer.from(`buildbot:wrong-${a}-${g}-${createHash('sha1').update(`${a}${g}`).digest('hex')}`).toString('base64');
        guesses.push(request({ port, path: '/-/tokens', headers: { Authorization: auth }, localAddress: `127.0.0.${10 + a}` }));
      }
    }
    const answers = await Promise.all(guesses);
    guessing = false;
    await downloader;
    const statuses = {};
    for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    const worst = Math.max(...downloads);
    return `answers ${JSON.stringify(statuses)}, public download worst ${worst.toFixed(0)} ms`;
  });

  // The big build: FILES files in one folder.
  const started = performance.now();
  await putMany(port, t, '/dpkg/probe/1/many/', FILES);
  process.stdout.write(`(${FILES} files uploaded in ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);

  // 7. Public pages over the big build.
  if (wanted('7')) await scenario('7. /-/compare of the big build with itself', port, async () => {
    const r = await request({ port, path: '/-/compare?from=/dpkg/probe/1/&to=/dpkg/probe/1/' });
    return `status ${r.status}, ${r.bytes} B`;
  });
  if (wanted('7')) await scenario('7. 8 parallel /-/compare', port, async () => {
    const rs = await Promise.all(Array.from({ length: 8 }, () => request({ port, path: '/-/compare?from=/dpkg/probe/1/&to=/dpkg/probe/1/' })));
    return `statuses ${[...new Set(rs.map((r) => r.status))].join(',')}, ${rs.reduce((n, r) => n + r.bytes, 0)} B in all`;
  });
  if (wanted('7')) await scenario('7. the build page (open build)', port, async () => {
    const r = await request({ port, path: '/dpkg/probe/1/' });
    return `status ${r.status}, ${r.bytes} B`;
  });
  if (wanted('7')) await scenario('7. the folder of the big build', port, async () => {
    const r = await request({ port, path: '/dpkg/probe/1/many/' });
    return `status ${r.status}, ${r.bytes} B`;
  });
  if (wanted('7')) await scenario('7. the project page (walks open builds)', port, async () => {
    const r = await request({ port, path: '/dpkg/probe/' });
    return `status ${r.status}, ${r.bytes} B`;
  });

  // 6. 32 shared depth-infinity locks with 4 000-byte owners on the folder, then an
  //    anonymous PROPFIND Depth 1 of it.
  let locked = 0;
  for (let i = 0; i < 32 && wanted('6'); i++) {
    const owner = `<D:href>${'o'.repeat(3980)}</D:href>`;
    const body = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
    const r = await request({ port, method: 'LOCK', path: '/dpkg/probe/1/many/', headers: { Authorization: t.auth, Depth: 'infinity', 'Content-Type': 'application/xml' }, body });
    if (r.status === 200) locked++;
  }
  if (wanted('6')) await scenario(`6. PROPFIND Depth 1 of the folder under ${locked} locks`, port, async () => {
    const r = await request({ port, method: 'PROPFIND', path: '/dpkg/probe/1/many/', headers: { Depth: '1' } });
    return `status ${r.status}, ${(r.bytes / 1e6).toFixed(1)} MB`;
  });
} finally {
  await server.stop();
}
