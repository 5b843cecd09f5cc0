#!/usr/bin/env node
// The build proxy measured against the same downloads made directly from the origin
// (Debian's nginx over HTTPS on 127.0.0.2) and through mitmproxy (Debian's mitmdump, with
// stream_large_bodies), in interleaved rounds on this machine. Ratios to the direct
// download in the same run are what mean anything (docs/performance.md).
//
//   npm run build && node bench/proxy-bench.mjs [--rounds N] [--quick]
//
// Rows: a large download over HTTPS recording and replaying; 1000 downloads of 4 KiB one
// after another over one keep-alive tunnel (a Node client), recording (bodies new to the
// repository, then the same downloads again) and replaying; the app's peak RSS over idle during the
// large transfers; the time to the first byte for a host never seen before (a new leaf
// certificate); mitmdump's rate for the large download; and 4 replays of a quarter of it at
// once (each its own tunnel) against one alone, with the CPU every process used meanwhile
// (the app, and the four curl clients on the same two cores). And the floors: the plainest
// proxy Node can be (bench/node-floor-proxy.mjs) passing the same downloads through, and
// answering the small ones from memory, which no proxy in Node can beat here.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, installSignalHandlers, onCleanup, run, sleep, which } from './lib-proc.mjs';
import { median, percentile, round } from './lib-report.mjs';
import { memory, resetPeak, writeRandomFile } from './lib-servers.mjs';

const MiB = 1024 * 1024;
const { values: opts } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' } } });
const quick = Boolean(opts.quick);
const ROUNDS = Number(opts.rounds ?? (quick ? 1 : 5));
const BIG = quick ? 64 * MiB : 1024 * MiB;
const BIG_LABEL = BIG === 1024 * MiB ? '1 GiB' : `${BIG / MiB} MiB`;
const QUARTER = BIG / 4;
const QUARTER_LABEL = `${QUARTER / MiB} MiB`;
const PARALLEL = 4;
const SMALL_COUNT = quick ? 200 : 1000;
const NEW_HOSTS = quick ? 50 : 200;
const log = (msg) => process.stderr.write(`[proxy-bench] ${msg}\n`);

installSignalHandlers();
for (const tool of ['curl', 'nginx', 'mitmdump', 'openssl', 'fcgiwrap', 'git']) {
  if (!(await which(tool))) {
    console.error(`proxy-bench: ${tool} is not installed (Debian packages: curl nginx mitmproxy openssl fcgiwrap git)`);
    process.exit(2);
  }
}
const { makeTempDir, mintWith, startChild, MASTER_AUTH } = await import('../dist/test/helpers/harness.js');
const { freePort } = await import('../dist/test/helpers/nginx.js');
const { startOrigin } = await import('../dist/test/helpers/origin.js');

const root = await makeTempDir('proxy-bench-');
onCleanup('temporary directory', () => rm(root, { recursive: true, force: true }));
const origin = await startOrigin();
onCleanup('origin', () => origin.remove());
const benchDir = path.join(origin.dir, 'www', 'bench');
await mkdir(benchDir);
log(`writing the ${BIG_LABEL} file`);
await writeRandomFile(path.join(benchDir, 'big.bin'), BIG);
await writeRandomFile(path.join(benchDir, 'quarter.bin'), QUARTER);
// Small files of their own for each round: a round's first recording meets bodies new to
// the repository; a second recording of the same downloads meets them kept already (as a
// build downloading yesterday's dependencies again does).
for (let r = 0; r < ROUNDS; r++) {
  await mkdir(path.join(benchDir, `small-r${r}`));
  for (let i = 0; i <= SMALL_COUNT; i++) await writeFile(path.join(benchDir, `small-r${r}`, `s${i}.bin`), randomBytes(4096));
}

const proxyPort = await freePort();
const app = await startChild(path.join(root, 'data'), { PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile, LOG_LEVEL: 'warn', NODE_ENV: 'production' });
onCleanup('app', () => app.stop());
const repoCa = path.join(root, 'repo-ca.pem');
await writeFile(repoCa, await (await fetch(`${app.baseUrl}/-/proxy/ca.pem`)).text());

// mitmproxy, the peer to beat: streaming large bodies, trusting the origin's CA.
const mitmPort = await freePort();
const mitmDir = path.join(root, 'mitmproxy');
await mkdir(mitmDir);
const mitm = spawn('mitmdump', ['--listen-host', '127.0.0.1', '--listen-port', String(mitmPort), '--set', `confdir=${mitmDir}`, '--set', 'stream_large_bodies=1m', '--set', `ssl_verify_upstream_trusted_ca=${origin.caFile}`, '-q'], { stdio: 'ignore' });
onCleanup('mitmdump', async () => {
  mitm.kill('SIGTERM');
  await new Promise((r) => mitm.once('exit', r));
});
for (let i = 0; i < 100; i++) {
  try {
    await (await import('node:fs/promises')).access(path.join(mitmDir, 'mitmproxy-ca-cert.pem'));
    break;
  } catch {
    await sleep(100);
  }
}
await sleep(500);
const mitmCa = path.join(mitmDir, 'mitmproxy-ca-cert.pem');

// The floors: one plain Node proxy per way of answering (bench/node-floor-proxy.mjs).
const floors = {};
for (const mode of ['forward', 'memory']) {
  const port = await freePort();
  const child = fork(new URL('./node-floor-proxy.mjs', import.meta.url), [String(port), mode, origin.certFile, origin.keyFile, origin.caFile, new URL(origin.httpsBase).hostname, '127.0.0.2', String(origin.httpsPort)], { stdio: 'ignore' });
  onCleanup(`floor proxy (${mode})`, () => child.kill());
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the floor proxy (${mode}) exited with ${code}`)));
  });
  floors[mode] = { port, username: 'floor', password: 'floor' };
}

const env = { PATH: process.env.PATH, HOME: root };
async function curlRate(args) {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{speed_download} %{http_code}', ...args], { timeoutMs: 600_000, env });
  const [speed, code] = stdout.trim().split(' ');
  if (code !== '200') throw new Error(`curl ${args.at(-1)}: ${code}`);
  return Number(speed) / 1e6;
}
const via = (t) => `http://${t.username}:${t.password}@127.0.0.1:${t.port ?? proxyPort}`;
const big = `${origin.httpsBase}/bench/big.bin`;
const quarter = `${origin.httpsBase}/bench/quarter.bin`;

/** CPU seconds (user + system) of a process and its children that ended, from /proc. */
async function cpuSeconds(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * PARALLEL downloads of the quarter through one token's tunnels at once (curl each): the
 * aggregate MB/s, the app's CPU seconds, and the curls' (bash's time of each).
 */
async function parallelReplays(t) {
  const app0 = await cpuSeconds(app.child.pid);
  const t0 = performance.now();
  const runs = await Promise.all(
    Array.from({ length: PARALLEL }, () =>
      run('bash', ['-c', 'TIMEFORMAT="%U %S"; { time curl "$@" ; } 2>&1', 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} ', '--cacert', repoCa, '--proxy', via(t), quarter], { timeoutMs: 600_000, env }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  let clients = 0;
  for (const { stdout } of runs) {
    const [code, user, system] = stdout.trim().split(/\s+/);
    if (code !== '200') throw new Error(`parallel replay: ${stdout}`);
    clients += Number(user) + Number(system);
  }
  return { rate: (PARALLEL * QUARTER) / 1e6 / seconds, app: (await cpuSeconds(app.child.pid)) - app0, clients, seconds };
}

/** The app's peak RSS over idle (MiB) during a transfer, and the transfer's result. */
async function withPeak(transfer) {
  await sleep(500);
  const pids = [app.child.pid];
  const idle = (await memory(pids)).rss;
  await resetPeak(pids);
  const result = await transfer();
  return { result, over: (await memory(pids)).hwm - idle };
}

/**
 * SMALL_COUNT downloads of 4 KiB, one after another over one keep-alive connection (a
 * CONNECT tunnel through a proxy). A Node client: curl's many-URL mode itself slows down as
 * its list grows, which would measure curl.
 */
async function smallRate({ ca, proxy, dir }) {
  const trust = await readFile(ca);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: trust });
  if (proxy) {
    agent.createConnection = (options, done) => {
      const connect = http.request({ host: '127.0.0.1', port: proxy.port ?? proxyPort, method: 'CONNECT', path: `${options.host}:${options.port}`, headers: { 'Proxy-Authorization': `Basic ${Buffer.from(`${proxy.username}:${proxy.password}`).toString('base64')}` } });
      connect.once('connect', (res, socket) => {
        if (res.statusCode !== 200) return done(new Error(`CONNECT: ${res.statusCode}`));
        done(null, tls.connect({ socket, servername: options.servername ?? options.host, ca: trust }));
      });
      connect.once('error', done);
      connect.end();
    };
  }
  const get = (i) =>
    new Promise((resolve, reject) => {
      https
        .get(`${origin.httpsBase}/bench/${dir}/s${i}.bin`, { agent }, (res) => {
          let n = 0;
          res.on('data', (d) => (n += d.length));
          res.on('end', () => (res.statusCode === 200 && n === 4096 ? resolve() : reject(new Error(`s${i}: ${res.statusCode}, ${n} bytes`))));
        })
        .once('error', reject);
    });
  await get(0); // the connection and its handshake are not what this row measures
  const t0 = performance.now();
  for (let i = 1; i <= SMALL_COUNT; i++) await get(i);
  const rate = SMALL_COUNT / ((performance.now() - t0) / 1000);
  agent.destroy();
  return rate;
}

const rows = {};
const add = (name, value) => (rows[name] ??= []).push(value);
let replayOf = null;
for (let r = 0; r < ROUNDS; r++) {
  log(`round ${r + 1}/${ROUNDS}`);
  await run('sync', [], {});
  add('direct', await curlRate(['--cacert', origin.caFile, big]));
  const recorder = await mintWith(app.baseUrl, { type: 'bench', project: 'proxy', build: `r${r}` });
  const rec = await withPeak(() => curlRate(['--cacert', repoCa, '--proxy', via(recorder), big]));
  if (r === 0) await curlRate(['--cacert', repoCa, '--proxy', via(recorder), quarter]); // recorded once, for the parallel replays
  add('record', rec.result);
  add('rss record', rec.over);
  const small = `small-r${r}`;
  add('small direct', await smallRate({ ca: origin.caFile, dir: small }));
  add('small record', await smallRate({ ca: repoCa, proxy: recorder, dir: small }));
  await fetch(`${app.baseUrl}/-/tokens/${recorder.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  const again = await mintWith(app.baseUrl, { type: 'bench', project: 'proxy', build: `r${r}-again` });
  add('small record kept', await smallRate({ ca: repoCa, proxy: again, dir: small }));
  await fetch(`${app.baseUrl}/-/tokens/${again.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  replayOf ??= `/bench/proxy/r${r}/`;
  const replayer = await mintWith(app.baseUrl, { type: 'bench', project: 'proxy', build: `replay${r}`, replay: replayOf });
  const rep = await withPeak(() => curlRate(['--cacert', repoCa, '--proxy', via(replayer), big]));
  add('replay', rep.result);
  add('rss replay', rep.over);
  add('small replay', await smallRate({ ca: repoCa, proxy: replayer, dir: 'small-r0' }));
  add('quarter replay', await curlRate(['--cacert', repoCa, '--proxy', via(replayer), quarter]));
  const parallel = await parallelReplays(replayer);
  add('parallel replay', parallel.rate);
  add('parallel app cpu', parallel.app / parallel.seconds);
  add('parallel clients cpu', parallel.clients / parallel.seconds);
  add('mitmdump', await curlRate(['--cacert', mitmCa, '--proxy', `http://127.0.0.1:${mitmPort}`, big]));
  add('floor forward', await curlRate(['--cacert', origin.caFile, '--proxy', via(floors.forward), big]));
  add('small floor forward', await smallRate({ ca: origin.caFile, proxy: floors.forward, dir: small }));
  add('small floor memory', await smallRate({ ca: origin.caFile, proxy: floors.memory, dir: small }));
  // A host never seen before: a new leaf certificate each (offline: no name lookup).
  const ttfb = [];
  for (let i = 0; i < NEW_HOSTS; i++) {
    const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{time_starttransfer}', '--cacert', repoCa, '--proxy', via(replayer), `https://r${r}-h${i}.new-host.test/`], { env });
    ttfb.push(Number(stdout) * 1000);
  }
  add('ttfb new host p50', percentile(ttfb, 50));
  add('ttfb new host p99', percentile(ttfb, 99));
  await fetch(`${app.baseUrl}/-/tokens/${replayer.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
}

const m = (name) => median(rows[name]);
// Whole numbers, except for small figures (cores, MiB) whose tenths matter.
const span = (name) => {
  const digits = Math.max(...rows[name]) < 10 ? 1 : 0;
  return `${round(Math.min(...rows[name]), digits)}–${round(Math.max(...rows[name]), digits)}`;
};
const line = (label, name, unit, ratioTo, goal) => {
  const ratio = ratioTo ? m(name) / m(ratioTo) : null;
  const ok = goal === undefined || ratio === null ? '' : ratio >= goal ? '✓' : '✗';
  return `${label.padEnd(44)} ${String(round(m(name), 1)).padStart(9)} ${unit.padEnd(6)} ${span(name).padStart(13)}  ${ratio === null ? '' : `${ratio.toFixed(2)}x`.padStart(6)}  ${goal === undefined ? '' : `>= ${goal}x`} ${ok}`;
};
console.log(`\nbuild proxy: ${ROUNDS} interleaved rounds, ${os.cpus().length} cores, Node ${process.version}; ratio to the direct download in the same run`);
console.log(`${'what'.padEnd(44)} ${'median'.padStart(9)} ${''.padEnd(6)} ${'min–max'.padStart(13)}  ${'ratio'.padStart(6)}  goal`);
console.log(line(`${BIG_LABEL} over HTTPS, direct from the origin`, 'direct', 'MB/s'));
console.log(line(`${BIG_LABEL} through the proxy, recording`, 'record', 'MB/s', 'direct'));
console.log(line(`${BIG_LABEL} through the proxy, replaying offline`, 'replay', 'MB/s', 'direct', 0.9));
console.log(line(`${BIG_LABEL} through mitmdump (stream_large_bodies)`, 'mitmdump', 'MB/s', 'direct'));
console.log(line(`${BIG_LABEL} through a plain Node proxy (the floor)`, 'floor forward', 'MB/s', 'direct'));
const versus = (label, a, b, goal) => `${label.padEnd(44)} ${`${(m(a) / m(b)).toFixed(2)}x`.padStart(9)}${goal === undefined ? '' : `         goal >= ${goal}x ${m(a) / m(b) >= goal ? '✓' : '✗'}`}`;
console.log(versus('proxy recording vs mitmdump', 'record', 'mitmdump', 1.2));
console.log(versus('plain Node proxy vs mitmdump', 'floor forward', 'mitmdump'));
console.log(line(`${SMALL_COUNT} x 4 KiB over one connection, direct`, 'small direct', 'req/s'));
console.log(line(`${SMALL_COUNT} x 4 KiB through one tunnel, recording`, 'small record', 'req/s', 'small direct', 0.35));
console.log(line(`  the same again, the bodies kept already`, 'small record kept', 'req/s', 'small direct', 0.35));
console.log(line(`  the floor: a plain Node proxy passing them`, 'small floor forward', 'req/s', 'small direct'));
console.log(line(`${SMALL_COUNT} x 4 KiB through one tunnel, replaying`, 'small replay', 'req/s', 'small direct', 0.8));
console.log(line(`  the floor: a plain Node proxy, from memory`, 'small floor memory', 'req/s', 'small direct'));
console.log(line(`${QUARTER_LABEL} replaying, one alone`, 'quarter replay', 'MB/s'));
console.log(line(`${PARALLEL} x ${QUARTER_LABEL} replaying at once, in all`, 'parallel replay', 'MB/s', 'quarter replay', 1.6));
console.log(line(`  meanwhile: the app's CPU, in cores`, 'parallel app cpu', 'cores'));
console.log(line(`  meanwhile: the ${PARALLEL} curl clients' CPU, in cores`, 'parallel clients cpu', 'cores'));
console.log(line('app peak RSS over idle, recording', 'rss record', 'MiB'));
console.log(line('app peak RSS over idle, replaying', 'rss replay', 'MiB'));
console.log(`${''.padEnd(44)} (goal: at most idle + 30 MiB in every round: ${Math.max(...rows['rss record'], ...rows['rss replay']) <= 30 ? '✓' : '✗'})`);
console.log(line('time to first byte, a host never seen, p50', 'ttfb new host p50', 'ms'));
console.log(line('time to first byte, a host never seen, p99', 'ttfb new host p99', 'ms'));
await cleanup();
process.exit(0);
