// The benchmark: the app alone, the shipped deployment (nginx with nginx/ in front of the
// app) and a reference nginx (Debian's nginx + dav_ext, no auth, bench/reference-nginx.conf.template),
// all started here on 127.0.0.1 and measured in interleaved rounds, every target in turn
// within a round (the machine is shared, so only ratios within one run mean anything):
//   - 1 GiB PUT and GET with curl (MB/s), and peak RSS of every server process during each;
//   - 2000 PUTs of 4 KiB, one token, 8 keep-alive connections (bench/put-client.mjs);
//   - 4 KiB GETs with wrk -t2 -c32 -d5s;
//   - token mint latency (p50, p99 of 200 sequential mints with the master credential);
//   - growth: the 4 KiB PUT and GET rates of the app with 10 000 live tokens and 10 000 files
//     in the measured build, against 10 tokens and 10 files.
// Usage: npm run build && node bench/bench.mjs [--rounds N] [--quick] [--json out.json]
// Needs curl, wrk, nginx, libnginx-mod-http-dav-ext and libnginx-mod-http-js (Debian); installs nothing. Writes
// about 1 GiB plus the uploads to a temporary directory, removed at the end (also on
// failure or Ctrl-C). Takes 10-15 minutes; --quick (2 rounds, small sizes) about 2.
import { createHash, randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, installSignalHandlers, isCleaning, onCleanup, run, sleep } from './lib-proc.mjs';
import { fmt, percentile, renderTable, round, summary } from './lib-report.mjs';
import { REPO, memory, missingPrerequisites, nginxPids, relayLog, resetPeak, startPlainNode, startReference } from './lib-servers.mjs';

const PUT_CLIENT = path.join(REPO, 'bench/put-client.mjs');
const MiB = 1024 * 1024;
const USAGE = 'usage: node bench/bench.mjs [--rounds N] [--quick] [--json out.json]   (after npm run build)';

// ---- options ----

let opts;
try {
  opts = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
} catch (err) {
  console.error(`bench: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const quick = Boolean(opts.quick);
const ROUNDS = opts.rounds === undefined ? (quick ? 2 : 5) : Number(opts.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error(`bench: --rounds must be a positive integer, not ${opts.rounds}`);
  process.exit(2);
}
const JSON_OUT = path.resolve(opts.json ?? path.join(REPO, 'bench/results.json'));
const P = quick
  ? { bigBytes: 128 * MiB, smallPuts: 500, wrkDuration: '3s', mints: 50, growth: 1000 }
  : { bigBytes: 1024 * MiB, smallPuts: 2000, wrkDuration: '5s', mints: 200, growth: 10_000 };
const BIG_LABEL = P.bigBytes === 1024 * MiB ? '1 GiB' : `${P.bigBytes / MiB} MiB`;
const MINT_CONCURRENCY = 16;
const SMALL_FEW = 10;
// How the app runs in the container (docker/Dockerfile, docker-compose.yml): production,
// access log at info (one JSON line per request, here into a file).
const APP_ENV = { HOST: '127.0.0.1', NODE_ENV: 'production', LOG_LEVEL: 'info' };

const started = performance.now();
const log = (msg) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);

// ---- prerequisites (before anything starts) ----

const missing = await missingPrerequisites();
if (missing) {
  console.error(missing);
  process.exit(1);
}
installSignalHandlers();
const { makeTempDir, mintWith, startChild, MASTER_AUTH } = await import('../dist/test/helpers/harness.js');
const { startNginx, freePort, renderTemplate } = await import('../dist/test/helpers/nginx.js');

// ---- helpers ----

function credArgs(cred) {
  return cred ? { args: ['-K', '-'], input: `user = "${cred.username}:${cred.password}"\n` } : { args: [], input: undefined };
}

async function curl(args, cred) {
  const c = credArgs(cred);
  return run('curl', ['-sS', '--fail', ...c.args, ...args], { input: c.input });
}

async function del(url, cred) {
  const { stdout } = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'DELETE', url], cred);
  if (stdout.trim() !== '204') throw new Error(`DELETE ${url}: ${stdout}`);
}

async function writeRandomFile(file, bytes) {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  const chunk = Buffer.alloc(4 * MiB);
  for (let left = bytes; left > 0; left -= chunk.length) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    randomFillSync(piece);
    hash.update(piece);
    if (!out.write(piece)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

async function rssGroups(target) {
  const groups = [];
  for (const g of target.rss) groups.push({ name: g.name, pids: await g.pids() });
  return groups;
}

/** Runs a transfer between an idle RSS reading + peak reset and a peak reading, per process group. */
async function withPeak(target, transfer) {
  await sleep(1000);
  const groups = await rssGroups(target);
  const idle = [];
  for (const g of groups) idle.push((await memory(g.pids)).rss);
  for (const g of groups) await resetPeak(g.pids);
  const result = await transfer();
  const rss = {};
  for (const [i, g] of groups.entries()) {
    const peak = (await memory(g.pids)).hwm;
    rss[g.name] = { idle_mib: round(idle[i], 1), peak_mib: round(peak, 1), over_idle_mib: round(peak - idle[i], 1) };
  }
  return { ...result, rss };
}

async function bigPut(target, name) {
  await run('sync'); // earlier uploads' dirty pages are written back before, not during, this one
  const url = target.buildUrl + name;
  const out = await withPeak(target, async () => {
    const { stdout } = await curl(['-o', '/dev/null', '-w', '%{http_code} %{size_upload} %{speed_upload}', '-T', bigFile, url], target.cred);
    const [code, size, speed] = stdout.trim().split(' ');
    if (!['201', '204'].includes(code) || Number(size) !== P.bigBytes) throw new Error(`${target.name} PUT ${url}: ${stdout}`);
    return { mb_s: Number(speed) / 1e6 };
  });
  // Not timed: the server stored what was sent (the app's recorded checksum, nginx's length).
  const { stdout: head } = await curl(['-I', url]);
  const sha = /^x-checksum-sha256:\s*([0-9a-f]{64})/im.exec(head)?.[1];
  const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1]);
  if (length !== P.bigBytes || (target.cred && sha !== bigSha)) throw new Error(`${target.name}: stored ${url} differs (length ${length}, sha256 ${sha})`);
  return out;
}

async function bigGet(target, name) {
  const url = target.buildUrl + name;
  return withPeak(target, async () => {
    const { stdout } = await curl(['-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}', url]);
    const [code, size, speed] = stdout.trim().split(' ');
    if (code !== '200' || Number(size) !== P.bigBytes) throw new Error(`${target.name} GET ${url}: ${stdout}`);
    return { mb_s: Number(speed) / 1e6 };
  });
}

/** P.smallPuts PUTs of 4 KiB over 8 keep-alive connections into a fresh folder, then DELETE it. */
async function smallPuts(target, folder) {
  // As before a big PUT: what earlier measurements wrote (1 GiB files, the last target's
  // 2000 small ones and their deletion) is written back first, so that every target starts
  // from the same clean disk rather than paying for the one measured before it.
  await run('sync');
  const url = `${target.buildUrl}${folder}/`;
  // The reference has no authentication: nginx ignores the Authorization header put-client sends.
  const [user, password] = target.cred ? [target.cred.username, target.cred.password] : ['reference', 'ignored-no-auth'];
  const { stdout } = await run(process.execPath, [PUT_CLIENT, url, user, password, String(P.smallPuts), '8', '4096']);
  const r = JSON.parse(stdout);
  await del(url, target.cred);
  return r.files / r.seconds;
}

async function wrk(url, duration = P.wrkDuration) {
  const { stdout } = await run('wrk', ['-t2', '-c32', `-d${duration}`, url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = /Socket errors:.*/.exec(stdout)?.[0] ?? null;
  if (!Number.isFinite(rps) || non2xx > 0) throw new Error(`wrk ${url}: ${non2xx} non-2xx answers\n${stdout}`);
  return { rps, socket_errors: errors };
}

async function mintOnce(base, build) {
  const res = await fetch(`${base}/-/tokens`, {
    method: 'POST',
    headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' },
    body: JSON.stringify(build),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`mint at ${base}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function mintLatency(base, build) {
  const ms = [];
  for (let i = 0; i < P.mints; i++) {
    const t0 = performance.now();
    await mintOnce(base, { type: 'bench', project: 'mint', build });
    ms.push(performance.now() - t0);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

async function stopWithin(label, stop, kill) {
  const done = stop();
  const timer = new Promise((resolve) => setTimeout(() => resolve('late'), 15_000).unref());
  if ((await Promise.race([done, timer])) === 'late') {
    process.stderr.write(`bench: ${label} did not stop within 15 s, killing it\n`);
    kill();
    await done;
  }
}

async function startApp(label, dir, env = {}) {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const server = await startChild(dir, { ...APP_ENV, ...env });
  apps.push({ label, server });
  server.child.once('exit', (code, signal) => {
    if (!isCleaning()) log(`${label} (pid ${server.child.pid}) exited unexpectedly (${signal ?? `code ${code}`}); code 0 means it was sent SIGTERM or SIGINT`);
  });
  onCleanup(label, () => stopWithin(label, () => server.stop(), () => server.child.kill('SIGKILL')));
  relayLog(server, path.join(root, 'logs', `${label.replaceAll(' ', '-')}.log`));
  // nginx workers (www-data) read the artifacts; the tokens stay 0700.
  await chmod(dir, 0o755);
  await chmod(path.join(dir, 'artifacts'), 0o755);
  return server;
}

/**
 * An app with `count` live tokens and `count` files in build bench/growth/big. Every growth
 * app first takes `warmTo` PUTs in all (the files it keeps plus, for the small one, the rest
 * in a folder deleted again), so that both are equally warm (JIT, heap sizes): without this
 * the big one, warmed by its 10 000 seeding PUTs, measured 35% faster than the small one.
 */
async function startGrowth(label, count, warmTo) {
  const dir = path.join(root, `growth-${count}`);
  const server = await startApp(label, dir);
  const big = await mintOnce(server.baseUrl, { type: 'bench', project: 'growth', build: 'big' });
  const t0 = performance.now();
  await run(process.execPath, [PUT_CLIENT, big.url, big.username, big.password, String(count), '8', '4096']);
  if (warmTo > count) {
    await run(process.execPath, [PUT_CLIENT, `${big.url}warmup/`, big.username, big.password, String(warmTo - count), '8', '4096']);
    await del(`${big.url}warmup/`, big);
  }
  const seedSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  let next = 1;
  let retries = 0;
  await Promise.all(
    Array.from({ length: Math.min(MINT_CONCURRENCY, count) }, async (_, w) => {
      while (next < count) {
        next++;
        const build = { type: 'bench', project: 'growth', build: `t${w}` };
        try {
          await mintOnce(server.baseUrl, build);
        } catch (err) {
          // Setup only, not measured: a connection lost once is retried (and reported).
          if (!(err instanceof TypeError) || retries >= 5) throw err;
          retries++;
          log(`${label}: mint failed (${err.cause?.code ?? err.cause?.message ?? err.message}), retrying`);
          await mintOnce(server.baseUrl, build);
        }
      }
    }),
  );
  const mintSeconds = (performance.now() - t1) / 1000;
  const files = (await readdir(path.join(dir, 'artifacts/bench/growth/big'))).length;
  const live = await (await fetch(`${server.baseUrl}/-/tokens`, { headers: { Authorization: MASTER_AUTH } })).json();
  // A retried mint may have been stored before its connection broke: one more live token.
  if (files !== count || live.length < count || live.length > count + retries) throw new Error(`${label}: ${files} files and ${live.length} live tokens, expected ${count}`);
  log(`${label}: ${count} files (${Math.max(warmTo, count)} PUTs) in ${seedSeconds.toFixed(1)} s, ${live.length} live tokens in ${mintSeconds.toFixed(1)} s (${(count / mintSeconds).toFixed(0)} mints/s at concurrency ${MINT_CONCURRENCY}${retries ? `, ${retries} retried after a lost connection` : ''})`);
  return {
    name: label,
    server,
    buildUrl: big.url,
    cred: big,
    setup: { files, live_tokens: live.length, warmup_puts: Math.max(warmTo, count), seed_seconds: round(seedSeconds, 1), mint_seconds: round(mintSeconds, 1), mints_per_s: round(count / mintSeconds, 1), mint_retries: retries },
  };
}

// ---- the run ----

const root = await makeTempDir('artifact-bench-');
onCleanup('temporary directory', () => rm(root, { recursive: true, force: true }));
await chmod(root, 0o755);
await mkdir(path.join(root, 'logs'));
const bigFile = path.join(root, 'big.bin');
const smallFile = path.join(root, 'small.bin');
let bigSha;

const apps = []; // every app started, for the report of one that died
const raw = {}; // metric -> target -> [per round]
const record = (metric, target, value) => ((raw[metric] ??= {})[target] ??= []).push(value);

async function main() {
  log(`writing ${BIG_LABEL} of random bytes to ${bigFile}`);
  bigSha = await writeRandomFile(bigFile, P.bigBytes);
  await writeRandomFile(smallFile, 4096);
  await run('sync');

  log('starting the app alone, the deployment (nginx + app) and the reference nginx');
  const app = await startApp('app alone', path.join(root, 'app'));
  const depApp = await startApp('deployment app', path.join(root, 'deploy'), { TRUSTED_PROXIES: '127.0.0.1' });
  const depNginx = await startNginx({ prefix: path.join(root, 'deploy-nginx'), upstream: new URL(depApp.baseUrl).host, artifactsRoot: path.join(root, 'deploy/artifacts'), mastersAllow: 'allow all;\n' });
  onCleanup('deployment nginx', () => depNginx.stop());
  const ref = await startReference({ prefix: path.join(root, 'reference'), davRoot: path.join(root, 'reference-root'), port: await freePort(), renderTemplate });
  onCleanup('reference nginx', () => ref.stop());
  const plain = await startPlainNode(path.join(root, 'plain-root'));
  onCleanup('plain Node server', () => plain.stop());

  const appTok = await mintWith(app.baseUrl, { type: 'bench', project: 'main', build: '1' });
  const depTok = await mintWith(depNginx.baseUrl, { type: 'bench', project: 'main', build: '1' });
  if (!depTok.url.startsWith(depNginx.baseUrl)) throw new Error(`deployment token URL ${depTok.url} is not nginx's`);
  const appPid = () => [app.child.pid];
  const targets = [
    { name: 'app', label: 'app alone', base: app.baseUrl, buildUrl: appTok.url, cred: appTok, rss: [{ name: 'app', pids: async () => appPid() }] },
    {
      name: 'deployment',
      label: 'deployment',
      base: depNginx.baseUrl,
      buildUrl: depTok.url,
      cred: depTok,
      rss: [
        { name: 'nginx', pids: () => nginxPids(path.join(depNginx.prefix, 'nginx.pid')) },
        { name: 'app', pids: async () => [depApp.child.pid] },
      ],
    },
    { name: 'reference', label: 'reference nginx', base: ref.baseUrl, buildUrl: `${ref.baseUrl}/bench/main/1/`, cred: null, rss: [{ name: 'nginx', pids: () => nginxPids(ref.pidFile) }] },
    // Not a goal: the floor, Node with none of the app's features, to show what bounds the app.
    { name: 'plain', label: 'plain Node floor', base: plain.baseUrl, buildUrl: `${plain.baseUrl}/bench/main/1/`, cred: null, rss: [{ name: 'node', pids: async () => [plain.child.pid] }] },
  ];
  const byName = Object.fromEntries(targets.map((t) => [t.name, t]));

  for (const t of targets) {
    const { stdout } = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-T', smallFile, `${t.buildUrl}small.bin`], t.cred);
    if (!['201', '204'].includes(stdout.trim())) throw new Error(`${t.name}: PUT small.bin answered ${stdout}`);
    const { stdout: head } = await curl(['-I', `${t.buildUrl}small.bin`]);
    if (t.cred && !/^x-checksum-sha256:/im.test(head)) throw new Error(`${t.name}: GET small.bin has no X-Checksum-Sha256`);
  }

  // A sealed build on the deployment: nginx keeps the app's description of its files, so its
  // downloads do not reach the app (an open build's do, every time).
  const sealedTok = await mintWith(depNginx.baseUrl, { type: 'bench', project: 'main', build: 'sealed' });
  await curl(['-o', '/dev/null', '-T', smallFile, `${sealedTok.url}small.bin`], sealedTok);
  await curl(['-o', '/dev/null', '-X', 'DELETE', `${depNginx.baseUrl}/-/tokens/${sealedTok.id}`], sealedTok);
  const sealedUrl = `${sealedTok.url}small.bin`;
  for (let i = 0; !/^cache-control:.*immutable/im.test((await curl(['-I', sealedUrl])).stdout); i++) {
    if (i === 50) throw new Error(`${sealedUrl} is not served as a sealed build's file`);
    await sleep(100); // sealing follows the revocation
  }

  log(`growth: minting ${P.growth} tokens and putting ${P.growth} files into one build (takes a while)`);
  const growth = [await startGrowth(`app with ${SMALL_FEW} tokens and files`, SMALL_FEW, P.growth), await startGrowth(`app with ${P.growth} tokens and files`, P.growth, P.growth)];
  const [gFew, gMany] = growth;

  log(`warming up (${P.smallPuts} small PUTs, deleted again, and 1 s of wrk per target)`);
  for (const t of targets) await smallPuts(t, 'warmup');
  for (const t of [...targets, ...growth]) await wrk(`${t.buildUrl}${growth.includes(t) ? 'f0.bin' : 'small.bin'}`, '1s');

  const rotate = (list, r) => list.map((_, i) => list[(i + r) % list.length]);
  for (let r = 0; r < ROUNDS; r++) {
    log(`round ${r + 1}/${ROUNDS}`);
    for (const t of rotate(targets, r)) {
      const name = `big-r${r}.bin`;
      const put = await bigPut(t, name);
      const get = await bigGet(t, name);
      await del(t.buildUrl + name, t.cred);
      record('put_big_mb_s', t.name, put.mb_s);
      record('get_big_mb_s', t.name, get.mb_s);
      for (const [group, v] of Object.entries(put.rss)) record(`rss_put_big.${group}`, t.name, v);
      for (const [group, v] of Object.entries(get.rss)) record(`rss_get_big.${group}`, t.name, v);
      log(`  ${t.label.padEnd(15)} ${BIG_LABEL} PUT ${fmt(put.mb_s)} MB/s, GET ${fmt(get.mb_s)} MB/s; peak RSS over idle ${Object.entries(put.rss).map(([g, v]) => `${g} +${v.over_idle_mib}/+${get.rss[g].over_idle_mib}`).join(', ')} MiB`);
    }
    for (const t of rotate(targets, r)) {
      const rate = await smallPuts(t, `r${r}`);
      record('put_4k_files_s', t.name, rate);
      log(`  ${t.label.padEnd(15)} 4 KiB PUT ${fmt(rate)} files/s`);
    }
    for (const t of rotate(targets, r)) {
      const w = await wrk(`${t.buildUrl}small.bin`);
      record('get_4k_req_s', t.name, w.rps);
      if (w.socket_errors) record('wrk_socket_errors', t.name, w.socket_errors);
      log(`  ${t.label.padEnd(15)} 4 KiB GET ${fmt(w.rps)} req/s`);
    }
    {
      const w = await wrk(sealedUrl);
      record('get_4k_req_s', 'deployment-sealed', w.rps);
      log(`  deployment, sealed build: 4 KiB GET ${fmt(w.rps)} req/s`);
      const m = await wrk(`${byName.plain.base}/-/memory-4k`);
      record('get_4k_req_s', 'plain-memory', m.rps);
      log(`  plain Node, 4 KiB from memory: ${fmt(m.rps)} req/s`);
    }
    for (const t of rotate([byName.app, byName.deployment], r)) {
      const m = await mintLatency(t.base, `r${r}`);
      record('mint_p50_ms', t.name, m.p50);
      record('mint_p99_ms', t.name, m.p99);
      log(`  ${t.label.padEnd(15)} mint p50 ${fmt(m.p50)} ms, p99 ${fmt(m.p99)} ms`);
    }
    for (const g of rotate(growth, r)) {
      const rate = await smallPuts(g, `r${r}`);
      record('growth_put_4k_files_s', g.name, rate);
      log(`  ${g.name}: 4 KiB PUT ${fmt(rate)} files/s`);
    }
    for (const g of rotate(growth, r)) {
      const w = await wrk(`${g.buildUrl}f0.bin`);
      record('growth_get_4k_req_s', g.name, w.rps);
      log(`  ${g.name}: 4 KiB GET ${fmt(w.rps)} req/s`);
    }
  }

  return { targets, growth, gFew, gMany, depNginx, ref };
}

function report({ targets, gFew, gMany, growthSetup }) {
  const S = {}; // metric -> target -> summary
  for (const [metric, byTarget] of Object.entries(raw)) {
    if (metric.startsWith('rss_') || metric === 'wrk_socket_errors') continue;
    for (const [target, values] of Object.entries(byTarget)) {
      const numbers = values.map((v) => (typeof v === 'number' ? v : v.over_idle_mib));
      (S[metric] ??= {})[target] = summary(numbers);
    }
  }
  const ratio = (metric, target) => (S[metric]?.[target] && S[metric]?.reference ? round(S[metric][target].median / S[metric].reference.median, 3) : null);
  // Issue 17's targets: each a ratio of medians to another target of the same run.
  const BASES = { reference: 'nginx', plain: 'floor', app: 'app alone' };
  const goals = {
    'put_big_mb_s.app': { of: 'reference', min: 0.8 },
    'put_big_mb_s.deployment': { of: 'app', min: 0.9 },
    'get_big_mb_s.app': { of: 'reference', min: 0.8 },
    'get_big_mb_s.deployment': { of: 'reference', min: 0.95 },
    'put_4k_files_s.app': { of: 'plain', min: 1.0 },
    'put_4k_files_s.deployment': { of: 'app', min: 0.9 },
    'get_4k_req_s.app': { of: 'reference', min: 0.2 },
    'get_4k_req_s.deployment': { of: 'reference', min: 0.5 },
    'get_4k_req_s.deployment-sealed': { of: 'reference', min: 0.9 },
  };
  const ratioTo = (metric, target, of) => (S[metric]?.[target] && S[metric]?.[of] ? round(S[metric][target].median / S[metric][of].median, 3) : null);
  const rows = [];
  const verdicts = [];
  const throughput = [
    ['put_big_mb_s', `${BIG_LABEL} PUT, MB/s`],
    ['get_big_mb_s', `${BIG_LABEL} GET, MB/s`],
    ['put_4k_files_s', `4 KiB PUT, files/s (${P.smallPuts}, 8 conns)`],
    ['get_4k_req_s', `4 KiB GET, req/s (wrk -c32 ${P.wrkDuration})`],
  ];
  rows.push({ section: 'Throughput (higher is better; x ref = median / reference nginx median; for GETs the reference serves statically, so x static is the same ratio)' });
  const sealedRow = { name: 'deployment-sealed', label: 'deployment, sealed build' };
  // Not a goal: one Node process answering from memory, the ceiling of a one-thread server.
  const memoryRow = { name: 'plain-memory', label: 'Node http, from memory' };
  for (const [metric, label] of throughput) {
    const rowTargets = metric === 'get_4k_req_s' ? [...targets.slice(0, 2), sealedRow, ...targets.slice(2), memoryRow] : targets;
    for (const t of rowTargets) {
      const r = t.name === 'reference' ? null : ratio(metric, t.name);
      const goal = goals[`${metric}.${t.name}`];
      const value = goal === undefined ? null : ratioTo(metric, t.name, goal.of);
      const pass = goal === undefined ? null : value >= goal.min;
      const isGet = metric.startsWith('get_');
      const goalText = goal === undefined ? '' : `${value.toFixed(2)}x ${BASES[goal.of]} >= ${goal.min.toFixed(2)}x`;
      rows.push({ metric: t === targets[0] ? label : '', target: t.label, stat: S[metric][t.name], ratio: r, ratio2: isGet && t.name.startsWith('deployment') ? r : null, goal: goalText, pass });
      if (goal !== undefined) verdicts.push({ goal: `${t.label}: ${label} >= ${goal.min}x ${BASES[goal.of]}`, value, pass });
    }
  }
  rows.push({ section: 'Token mint latency, ms (sequential, master credential)' });
  for (const [metric, label] of [['mint_p50_ms', `p50 of ${P.mints}`], ['mint_p99_ms', `p99 of ${P.mints}`]]) {
    for (const name of ['app', 'deployment']) rows.push({ metric: name === 'app' ? label : '', target: targets.find((t) => t.name === name).label, stat: S[metric][name] });
  }
  rows.push({ section: `Memory during the ${BIG_LABEL} transfers, MiB (VmHWM after clear_refs minus VmRSS just before; nginx = master + workers summed)` });
  const groups = [['app', 'app', 'app alone'], ['deployment', 'app', 'deployment: app'], ['deployment', 'nginx', 'deployment: nginx'], ['reference', 'nginx', 'reference nginx'], ['plain', 'node', 'plain Node floor']];
  for (const [dir, label] of [['put', 'PUT'], ['get', 'GET']]) {
    const present = groups.filter(([target, group]) => raw[`rss_${dir}_big.${group}`]?.[target]);
    const idleRows = [];
    const overRows = [];
    for (const [i, [target, group, glabel]] of present.entries()) {
      const values = raw[`rss_${dir}_big.${group}`][target];
      const idle = summary(values.map((v) => v.idle_mib));
      const over = summary(values.map((v) => v.over_idle_mib));
      const pass = over.max <= 20;
      idleRows.push({ metric: i === 0 ? `idle RSS before ${label}` : '', target: glabel, stat: idle });
      overRows.push({ metric: i === 0 ? `peak over idle, ${label}` : '', target: glabel, stat: over, goal: target === 'plain' ? '' : '<= +20 (every round)', pass: target === 'plain' ? null : pass });
      if (target !== 'plain') verdicts.push({ goal: `${glabel}: peak RSS during ${BIG_LABEL} ${label} <= idle + 20 MiB in every round`, value: over.max, pass });
      S[`rss_${dir}_idle_mib`] ??= {};
      S[`rss_${dir}_idle_mib`][`${target}.${group}`] = idle;
      S[`rss_${dir}_over_idle_mib`] ??= {};
      S[`rss_${dir}_over_idle_mib`][`${target}.${group}`] = over;
    }
    rows.push(...idleRows, ...overRows);
  }
  rows.push({ section: `Growth (app alone): ${P.growth} live tokens and ${P.growth} files in the measured build vs ${SMALL_FEW}; cost = time per request relative to ${SMALL_FEW}` });
  const growthSummary = {};
  for (const [metric, label] of [['growth_put_4k_files_s', `4 KiB PUT, files/s`], ['growth_get_4k_req_s', `4 KiB GET, req/s`]]) {
    const few = S[metric][gFew.name];
    const many = S[metric][gMany.name];
    const cost = round(few.median / many.median, 3);
    const pass = cost <= 1.15;
    rows.push({ metric: label, target: `${SMALL_FEW} tokens, ${SMALL_FEW} files`, stat: few });
    rows.push({ metric: '', target: `${P.growth} tokens, ${P.growth} files`, stat: many, goal: `cost ${cost.toFixed(2)}x <= 1.15x`, pass });
    verdicts.push({ goal: `${P.growth} tokens and files: ${label} cost per request <= 1.15x of ${SMALL_FEW}`, value: cost, pass });
    growthSummary[metric] = { few, many, cost_ratio: cost };
  }
  return { S, rows, verdicts, growthSummary, ratio };
}

let exitCode = 0;
try {
  const ctx = await main();
  const versions = {};
  for (const [name, cmd, args] of [['nginx', 'nginx', ['-v']], ['curl', 'curl', ['--version']], ['wrk', 'wrk', ['--version']]]) {
    const { stdout, stderr } = await run(cmd, args, { allowFail: true });
    versions[name] = (stdout + stderr).trim().split('\n')[0];
  }
  const { S, rows, verdicts, growthSummary, ratio } = report(ctx);
  const table = renderTable(rows);
  const missed = verdicts.filter((v) => !v.pass);
  const lines = [
    '',
    `artifact-repo benchmark: ${ROUNDS} interleaved rounds${quick ? ' (--quick: smaller sizes, not comparable with a full run)' : ''}, ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}, ${versions.nginx}`,
    '',
    table,
    '',
    `Targets met: ${verdicts.length - missed.length} of ${verdicts.length}.${missed.length ? ' Missed:' : ''}`,
    ...missed.map((v) => `  ✗ ${v.goal} (${typeof v.value === 'number' ? v.value.toFixed(2) : v.value})`),
    '',
  ];
  console.log(lines.join('\n'));
  const out = {
    generated_at: new Date().toISOString(),
    options: { rounds: ROUNDS, quick, ...P, big_label: BIG_LABEL, mint_concurrency_growth: MINT_CONCURRENCY },
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, mem_gib: round(os.totalmem() / 1024 ** 3, 1), kernel: os.release(), node: process.version, ...versions },
    setup: {
      app_env: APP_ENV,
      deployment: 'startNginx (nginx/nginx.conf + nginx/templates/default.conf.template) in front of a second app with TRUSTED_PROXIES=127.0.0.1',
      reference: 'bench/reference-nginx.conf.template: nginx + dav_ext, no auth, sendfile, open_file_cache',
      rss: 'VmRSS read 1 s after the previous step, then clear_refs 5, transfer, VmHWM; nginx = master + workers summed',
      growth: Object.fromEntries(ctx.growth.map((g) => [g.name, g.setup])),
    },
    summary: S,
    ratios_to_reference: Object.fromEntries(
      ['put_big_mb_s', 'get_big_mb_s', 'put_4k_files_s', 'get_4k_req_s'].map((m) => [m, { app: ratio(m, 'app'), deployment: ratio(m, 'deployment'), plain_node_floor: ratio(m, 'plain'), ...(m === 'get_4k_req_s' ? { deployment_sealed: ratio(m, 'deployment-sealed') } : {}) }]),
    ),
    ratios_to_nginx_static: { get_big_mb_s: { deployment: ratio('get_big_mb_s', 'deployment') }, get_4k_req_s: { deployment: ratio('get_4k_req_s', 'deployment'), deployment_sealed: ratio('get_4k_req_s', 'deployment-sealed') } },
    growth: growthSummary,
    targets: verdicts,
    targets_missed: missed.map((v) => v.goal),
    raw,
    table,
  };
  await mkdir(path.dirname(JSON_OUT), { recursive: true });
  await writeFile(JSON_OUT, JSON.stringify(out, null, 2) + '\n');
  log(`results written to ${JSON_OUT}`);
} catch (err) {
  if (!isCleaning()) {
    console.error(`bench: failed: ${err.stack ?? err.message}${err.cause ? `\n  cause: ${err.cause.stack ?? err.cause}` : ''}`);
    for (const { label, server } of apps) {
      if (server.child.exitCode !== null || server.child.signalCode !== null) {
        console.error(`bench: ${label} exited (${server.child.signalCode ?? server.child.exitCode}); its last output:\n${server.output().slice(-3000)}`);
      }
    }
    exitCode = 1;
  }
} finally {
  log('stopping every process and removing the temporary directory');
  await cleanup();
}
process.exit(exitCode);
