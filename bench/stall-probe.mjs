#!/usr/bin/env node
// How long a health probe waits while one client sends the heavy requests that the
// hardening issues found (#12: findings 1, 4, 6 and 7; #26: findings 1 and 4, as r1 and
// r4). A probe asks GET /-/health every 10 ms on its own connection; each scenario reports
// the heavy request's time and the probe's worst and 99th-percentile latency meanwhile.
// Nothing here is a pass/fail test: it prints figures (docs/performance.md quotes them).
//
//   node bench/stall-probe.mjs [--app DIR] [--files N] [--only 1,4,6,7,r1,r4]
//
// --app runs the server from another checkout's build (to measure before a change);
// --files sets the size of the big build (default 20000); --only picks findings.
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startApp } from './lib-servers.mjs';

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

const { freePort } = await import('../dist/test/helpers/nginx.js');

const PROXY_PORT = await freePort();

function startServer() {
  return startApp(APP, { PROXY_PORT: String(PROXY_PORT), PROXY_ALLOW_NETWORKS: '127.0.0.0/8', MASTER_PASSWORD: MASTER, MASTER_FAILURE_LIMIT: '10000', TOKEN_FAILURE_LIMIT: '100000' });
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

async function mint(port, build, extra = {}) {
  const res = await new Promise((resolve, reject) => {
    const body = JSON.stringify({ type: 'dpkg', project: 'probe', build, ...extra });
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

/** Absolute-form GETs through the build proxy, `parallel` at a time, until `urls` runs dry or `stop()` says so; the statuses counted. */
async function throughProxy(token, urls, parallel, stop = () => false) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel });
  const statuses = {};
  let next = 0;
  const worker = async () => {
    while (next < urls.length && !stop()) {
      const url = urls[next++];
      const status = await new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: PROXY_PORT, path: url, agent, headers: { 'Proxy-Authorization': token.auth } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', () => resolve('error'));
        req.end();
      });
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  agent.destroy();
  return statuses;
}

/** One CONNECT tunnel to `host`, its TLS handshake with the proxy's certificate, then closed; the CONNECT status. */
function tunnel(token, host) {
  return new Promise((resolve) => {
    const socket = net.connect(PROXY_PORT, '127.0.0.1');
    socket.on('error', () => resolve('error'));
    socket.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\nProxy-Authorization: ${token.auth}\r\n\r\n`);
    let head = '';
    const onData = (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const status = Number(head.slice(9, 12));
      if (status !== 200) {
        socket.destroy();
        return resolve(status);
      }
      const secure = tls.connect({ socket, servername: host, rejectUnauthorized: false });
      secure.on('error', () => resolve('tls error'));
      secure.once('secureConnect', () => {
        secure.destroy();
        resolve(200);
      });
    };
    socket.on('data', onData);
  });
}

/** A plain HTTP origin on 127.0.0.2 answering every GET at once with a few bytes. */
async function startOrigin() {
  const origin = http.createServer((req, res) => res.end(`origin ${req.url.length}\n`));
  await new Promise((resolve) => origin.listen(0, '127.0.0.2', resolve));
  return { base: `http://127.0.0.2:${origin.address().port}`, close: () => new Promise((resolve) => origin.close(resolve)) };
}

async function revoke(port, token) {
  return request({ port, method: 'DELETE', path: `/-/tokens/${token.id}`, headers: { Authorization: masterAuth } });
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

  // The big build: FILES files in one folder (for findings 6 and 7).
  if (wanted('6') || wanted('7')) {
    const started = performance.now();
    await putMany(port, t, '/dpkg/probe/1/many/', FILES);
    process.stdout.write(`(${FILES} files uploaded in ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }

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

  // Issue 26, finding 1: recordings as large as their limits allow (the defaults: 50 000
  // lines, 32 MiB, URLs of 8 192 characters), filled through the proxy as a hostile build
  // would, then sealed, compared (anonymously), listed and replayed.
  if (wanted('r1')) {
    const origin = await startOrigin();
    try {
      const byBytes = await mint(port, 'r1-bytes');
      const byLines = await mint(port, 'r1-lines');
      const long = (i) => `${origin.base}/${String(i).padStart(8, '0')}/${'u'.repeat(8100)}`;
      await scenario('r1. fill a recording with 8 100-character URLs until 507 (16 at a time)', port, async () => {
        let full = 0;
        const statuses = await throughProxy(byBytes, Array.from({ length: 10_000 }, (_, i) => long(i)), 16, () => full > 16);
        full = statuses[507] ?? 0;
        return `statuses ${JSON.stringify(statuses)}`;
      });
      await scenario('r1. fill a recording with 50 000 short URLs until 507 (16 at a time)', port, async () => {
        const statuses = await throughProxy(byLines, Array.from({ length: 50_100 }, (_, i) => `${origin.base}/${i}`), 16);
        return `statuses ${JSON.stringify(statuses)}`;
      });
      await scenario('r1. revoke (seal) the build of 50 000 lines', port, async () => {
        const r = await revoke(port, byLines);
        return `status ${r.status}`;
      });
      await scenario('r1. revoke (seal) the build of 32 MiB', port, async () => {
        const r = await revoke(port, byBytes);
        return `status ${r.status}`;
      });
      for (let i = 1; i <= 3; i++) {
        await scenario(`r1. anonymous /-/compare of the two full builds, #${i}`, port, async () => {
          const r = await request({ port, path: '/-/compare?from=/dpkg/probe/r1-bytes/&to=/dpkg/probe/r1-lines/', headers: { Accept: 'application/json' } });
          return `status ${r.status}, ${r.bytes} B`;
        });
      }
      await scenario('r1. /-/inputs of the build of 50 000 lines (master)', port, async () => {
        const r = await request({ port, path: '/-/inputs?build=/dpkg/probe/r1-lines/', headers: { Authorization: masterAuth, Accept: 'application/json' } });
        return `status ${r.status}, ${r.bytes} B`;
      });
      await scenario('r1. /-/inputs of the build of 32 MiB (master)', port, async () => {
        const r = await request({ port, path: '/-/inputs?build=/dpkg/probe/r1-bytes/', headers: { Authorization: masterAuth, Accept: 'application/json' } });
        return `status ${r.status}, ${r.bytes} B`;
      });
      const replay = await mint(port, 'r1-replay', { replay: '/dpkg/probe/r1-lines/' });
      await scenario('r1. replay 5 000 of its requests offline (16 at a time; the first reads the recording)', port, async () => {
        const statuses = await throughProxy(replay, Array.from({ length: 5000 }, (_, i) => `${origin.base}/${i * 10}`), 16);
        return `statuses ${JSON.stringify(statuses)}`;
      });
    } finally {
      await origin.close();
    }
  }

  // Issue 26, finding 4: CONNECT tunnels from one offline token, 32 at a time for 10 s, to
  // a new host name each (a certificate each), then to one name.
  if (wanted('r4')) {
    const offline = await mint(port, 'r4', { proxy: 'offline' });
    for (const [label, hostOf] of [
      ['a new name each', (i) => `h${i}-${Math.random().toString(36).slice(2)}.example`],
      ['one name', () => 'same.example'],
    ]) {
      await scenario(`r4. CONNECT + TLS, 32 at a time for 10 s, ${label}`, port, async () => {
        const until = performance.now() + 10_000;
        const statuses = {};
        let i = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (performance.now() < until) {
              const status = await tunnel(offline, hostOf(i++));
              statuses[status] = (statuses[status] ?? 0) + 1;
            }
          }),
        );
        return `tunnels ${JSON.stringify(statuses)}`;
      });
    }
  }

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
