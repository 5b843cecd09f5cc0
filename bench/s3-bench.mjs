#!/usr/bin/env node
// S3 mode (issue 32: BLOB_STORE=s3://…, the tree in PostgreSQL) against the same operations
// made directly with the AWS SDK, on one OpenStack Swift with s3api and one PostgreSQL
// (Debian's, both started here on loopback), in interleaved rounds in the same run:
//   - 1 GiB PUT: through the app (a streamed HTTP body with its Content-Length) against the
//     request the app makes of it, one streamed PutObject, MB/s;
//   - 1 GiB GET: through the app against GetObject, both read to the end, MB/s;
//   - 2000 PUTs of 4 KiB, 8 at once on either side (one token, keep-alive), files/s.
// A third side, the floor, is the same through the plainest Node server that keeps files in
// the bucket (bench/plain-s3-server.mjs: no authentication, database or checksum): what one
// more hop through any Node process costs on this machine, so that the app's own cost is
// the column "x floor". A second floor also hashes each upload with SHA-256 as it streams,
// as the app must: the bound of a 1 GiB PUT. The CPU time every process of the machine
// spent (from /proc: the app, PostgreSQL, Swift, the floor, this client) is read around
// each operation, so that where two cores went is in the report. Each side goes first in turn. Every body is distinct (the app stores identical bytes once). The app runs as its own
// process (docker/entrypoint.sh, as `npm start`); its RSS is read from /proc: idle before the
// runs, then VmHWM over each of its transfers (reset with clear_refs before each).
// The 1 GiB objects are deleted after each GET (the app's through WebDAV, then its blob
// object, which the app's garbage collector would only take after an hour); at most about
// 1 GiB is in the bucket at a time. A small PUT the app answers 503 ("try again shortly") is
// sent again and counted (a warning under the table); its time is in the figures. Exits
// non-zero on an error only, not on a missed goal. About 5 minutes; --quick (128 MiB, 500
// small PUTs) about 2.
//
//   npm run build && node bench/s3-bench.mjs [--rounds N (default 3)] [--quick]
import { randomBytes, createHash } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { cleanup, installSignalHandlers, onCleanup, sleep, which } from './lib-proc.mjs';
import { median, renderTable, summary } from './lib-report.mjs';
import { memory, resetPeak, startFloor } from './lib-servers.mjs';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' } } });
const MiB = 1024 * 1024;
const ROUNDS = Number(opts.rounds ?? 3);
const BIG = opts.quick ? 128 * MiB : 1024 * MiB;
const BIG_LABEL = BIG === 1024 * MiB ? '1 GiB' : `${BIG / MiB} MiB`;
const SMALL_PUTS = opts.quick ? 500 : 2000;
const SMALL = 4096;
const CONCURRENCY = 8;
const RSS_GOAL_MIB = 64;
const RATIO_GOAL = 0.8;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error(`s3-bench: --rounds must be a positive integer, not ${opts.rounds}`);
  process.exit(2);
}
const started = performance.now();
const log = (msg) => process.stderr.write(`[s3-bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);

installSignalHandlers();
const { makeTempDir, startChild, mintWith, basic } = await import('../dist/test/helpers/harness.js');
const { postgresInstalled, startPostgres, freshDatabase } = await import('../dist/test/helpers/postgres.js');
const { startSwift, SWIFT_PACKAGES } = await import('../dist/test/helpers/swift.js');
const { s3Settings, useS3Credentials } = await import('../dist/test/helpers/bucket-mode.js');
const { PutObjectCommand, GetObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
const { s3Client } = await import('../dist/server/storage/s3-blobs.js');
const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
const { startNginx } = await import('../dist/test/helpers/nginx.js');
const { default: pg } = await import('pg');

if (!(await postgresInstalled())) {
  console.error('s3-bench: PostgreSQL is not installed (Debian package: postgresql)');
  process.exit(2);
}
for (const tool of ['swift-proxy-server', 'swift-object-server', 'swift-ring-builder', 'memcached']) {
  if (!(await which(tool))) {
    console.error(`s3-bench: ${tool} is not installed (Debian packages: ${SWIFT_PACKAGES})`);
    process.exit(2);
  }
}

// ---- bodies: distinct, generated while sent (no 1 GiB buffer, no file) ----

const BASE_CHUNK = randomBytes(MiB);
const BASE_SMALL = randomBytes(SMALL);

function stamped(base, stamp) {
  const copy = Buffer.from(base);
  copy.write(`${stamp}\n`, 0, 'latin1');
  return copy;
}

/** `bytes` of data: the first MiB stamped (so each object's bytes are its own), then one random MiB repeated. */
function bigBody(stamp) {
  const first = stamped(BASE_CHUNK, stamp);
  let sent = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      while (sent < BIG) {
        const n = Math.min(MiB, BIG - sent);
        const chunk = (sent === 0 ? first : BASE_CHUNK).subarray(0, n);
        sent += n;
        if (!this.push(chunk)) return;
      }
      this.push(null);
    },
  });
}

async function bigSha(stamp) {
  const hash = createHash('sha256');
  for await (const chunk of bigBody(stamp)) hash.update(chunk);
  return hash.digest('hex');
}

const smallBodies = (stamp) => Array.from({ length: SMALL_PUTS }, (_, i) => stamped(BASE_SMALL, `${stamp}-${i}`));

/** Runs work(i) for i in 0..n-1, `CONCURRENCY` at once. */
async function pool(n, work) {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await work(next++);
  }));
}

function request(url, { method, headers = {}, agent, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, resolve);
    req.on('error', reject);
    if (body instanceof Readable) pipeline(body, req).catch(reject);
    else req.end(body);
  });
}

async function text_(res) {
  let text = '';
  for await (const chunk of res) text += chunk;
  return text;
}

async function drain(stream) {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

let appOutput = null;

/** Which of this machine's processes a command line is, for the CPU figures (null: none of the bench's). */
function processKind(cmdline, pid, appPid) {
  if (pid === appPid) return 'app';
  if (pid === process.pid) return 'client';
  if (/postgres/.test(cmdline)) return 'PostgreSQL';
  if (/swift-|memcached/.test(cmdline)) return 'Swift';
  if (/plain-s3-server/.test(cmdline)) return 'floor';
  return null;
}

/** CPU seconds (user + system) every process has used so far, summed by kind. */
async function cpuByKind(appPid) {
  const ticks = 100; // USER_HZ, as /proc counts
  const total = {};
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const kind = processKind(cmdline, Number(entry), appPid);
      if (!kind) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total[kind] = (total[kind] ?? 0) + (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      // a process that ended between the listing and the read
    }
  }
  return total;
}

/**
 * The bound of the deployment's downloads (nginx/bucket.conf: the app redirects to a
 * presigned URL, nginx fetches it): Debian's nginx proxying a presigned GetObject URL to
 * the S3 server unchanged, with no app at all. Started here, on a free port; stop() ends it.
 */
async function startPresignedProxy(prefix, s3Host) {
  const { freePort } = await import('../dist/test/helpers/nginx.js');
  await mkdir(prefix, { recursive: true });
  const port = await freePort();
  const conf = `worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    proxy_temp_path ${prefix}/proxy_temp;
    client_body_temp_path ${prefix}/client_temp;
    upstream bucket { server ${s3Host}; keepalive 16; }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://bucket;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host ${s3Host};
        }
    }
}
`;
  await writeFile(path.join(prefix, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; ; i++) {
    const up = await new Promise((resolve) => http.get(`http://127.0.0.1:${port}/`, (res) => resolve(res.resume() && true)).on('error', () => resolve(false)));
    if (up) break;
    if (i > 200 || child.exitCode !== null) throw new Error('the presigned proxy (nginx) did not start');
    await sleep(50);
  }
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT');
        await exited;
      }
    },
  };
}

async function main() {
  // ---- servers ----

  const root = await makeTempDir('s3-bench-');
  onCleanup('temporary directory', () => import('node:fs/promises').then((fs) => fs.rm(root, { recursive: true, force: true })));
  log('starting PostgreSQL and Swift (s3api)');
  const postgres = await startPostgres();
  onCleanup('postgres', () => postgres.remove());
  const swift = await startSwift();
  onCleanup('swift', () => swift.stop());
  useS3Credentials(swift); // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, for the app and the direct client alike
  const databaseUrl = await freshDatabase(postgres);
  const settings = await s3Settings(swift);
  const bucket = /^s3:\/\/([^/]+)\/(.*)$/.exec(settings.BLOB_STORE);
  const [BUCKET, APP_PREFIX] = [bucket[1], `${bucket[2]}/`];
  log(`starting the app in S3 mode (${settings.BLOB_STORE})`);
  const app = await startChild(path.join(root, 'app'), { LOG_LEVEL: 'warn', NODE_ENV: 'production', DATABASE_URL: databaseUrl, ...settings });
  onCleanup('app', () => app.stop());
  const appPid = app.child.pid; // the entrypoint execs node
  appOutput = app.output;
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  onCleanup('database client', () => db.end());

  // The direct side: a client made as the app makes its own (s3Client), credentials from the environment.
  const direct = s3Client({ region: 'us-east-1', forcePathStyle: true, endpoint: swift.endpoint, requestHandler: { connectionTimeout: 5_000, socketTimeout: 60_000 } });
  onCleanup('direct client', () => direct.destroy());
  log('starting nginx in front of the app (the deployment) and an nginx that proxies presigned URLs');
  // nginx's workers run as www-data: what they read and write is theirs to reach, as in the container.
  for (const dir of [root, path.join(root, 'app'), path.join(root, 'app', 'artifacts')]) await chmod(dir, 0o755);
  const nginxFor = (name, bucket) => startNginx({ prefix: path.join(root, name), upstream: new URL(app.baseUrl).host, artifactsRoot: path.join(root, 'app', 'artifacts'), mastersAllow: 'allow all;\n', records: 'database', bucket });
  // As deployed (docker-compose.s3.yml: nginx/bucket.conf, whole files fetched by nginx), and without that file (the app streams).
  const deployment = await nginxFor('deploy-nginx', true);
  onCleanup('deployment nginx', () => deployment.stop());
  const streaming = await nginxFor('streaming-nginx', false);
  onCleanup('streaming nginx', () => streaming.stop());
  const presigning = await startPresignedProxy(path.join(root, 'presigned-nginx'), new URL(swift.endpoint).host);
  onCleanup('presigned proxy', () => presigning.stop());
  log('starting the floor (bench/plain-s3-server.mjs)');
  const floor = await startFloor('plain-s3-server.mjs', [swift.endpoint, BUCKET, 'floor/']);
  onCleanup('floor', () => floor.stop());
  const hashingFloor = await startFloor('plain-s3-server.mjs', [swift.endpoint, BUCKET, 'floor-sha256/', '--sha256']);
  onCleanup('hashing floor', () => hashingFloor.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  onCleanup('http agent', () => agent.destroy());

  // ---- the operations, each side ----

  const ops = {
    app: {
      async bigPut(token, name, stamp) {
        const t0 = performance.now();
        const res = await request(`${token.url}${name}`, { method: 'PUT', agent, headers: { Authorization: token.auth, 'Content-Length': BIG }, body: bigBody(stamp) });
        await drain(res);
        const s = (performance.now() - t0) / 1000;
        if (res.statusCode !== 201 && res.statusCode !== 204) throw new Error(`app PUT ${name}: ${res.statusCode}`);
        return BIG / 1e6 / s;
      },
      async bigGet(token, name, sha) {
        const t0 = performance.now();
        const res = await request(`${token.url}${name}`, { method: 'GET', agent });
        const bytes = await drain(res);
        const s = (performance.now() - t0) / 1000;
        if (res.statusCode !== 200 || bytes !== BIG) throw new Error(`app GET ${name}: ${res.statusCode}, ${bytes} bytes`);
        if (res.headers['x-checksum-sha256'] !== sha) throw new Error(`app GET ${name}: stored SHA-256 ${res.headers['x-checksum-sha256']}, sent ${sha}`);
        return BIG / 1e6 / s;
      },
      /** Deletes the file, then its blob's object (the garbage collector would take it an hour later). */
      async bigDelete(token, name) {
        const { rows } = await db.query('SELECT blob FROM tree_entries WHERE name = $1 AND NOT collection', [name]);
        const res = await request(`${token.url}${name}`, { method: 'DELETE', agent, headers: { Authorization: token.auth } });
        await drain(res);
        if (res.statusCode !== 204 || !rows[0]?.blob) throw new Error(`app DELETE ${name}: ${res.statusCode}, blob ${rows[0]?.blob}`);
        await direct.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${APP_PREFIX}${rows[0].blob}` }));
      },
      /** A 503 ("try again shortly") is counted and the PUT sent again, as a client does; its time counts. */
      async smallPuts(token, folder, bodies) {
        const t0 = performance.now();
        await pool(bodies.length, async (i) => {
          for (let attempt = 1; ; attempt++) {
            const res = await request(`${token.url}${folder}/f${i}.bin`, { method: 'PUT', agent, headers: { Authorization: token.auth, 'Content-Length': SMALL }, body: bodies[i] });
            const text = await text_(res);
            if (res.statusCode === 201) return;
            if (res.statusCode !== 503 || attempt >= 5) throw new Error(`app PUT ${folder}/f${i}.bin: ${res.statusCode} ${text.slice(0, 300)}`);
            unavailable.push(text.trim().slice(0, 120));
          }
        });
        return bodies.length / ((performance.now() - t0) / 1000);
      },
    },
    floor: {
      async bigPut(_token, name, stamp) {
        const t0 = performance.now();
        const res = await request(`${floor.baseUrl}/${name}`, { method: 'PUT', agent, headers: { 'Content-Length': BIG }, body: bigBody(stamp) });
        await drain(res);
        if (res.statusCode !== 201) throw new Error(`floor PUT ${name}: ${res.statusCode}`);
        return BIG / 1e6 / ((performance.now() - t0) / 1000);
      },
      async bigGet(_token, name) {
        const t0 = performance.now();
        const res = await request(`${floor.baseUrl}/${name}`, { method: 'GET', agent });
        const bytes = await drain(res);
        if (res.statusCode !== 200 || bytes !== BIG) throw new Error(`floor GET ${name}: ${res.statusCode}, ${bytes} bytes`);
        return BIG / 1e6 / ((performance.now() - t0) / 1000);
      },
      async bigDelete(_token, name) {
        await direct.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `floor/${name}` }));
      },
      async smallPuts(_token, folder, bodies) {
        const t0 = performance.now();
        await pool(bodies.length, async (i) => {
          const res = await request(`${floor.baseUrl}/${folder}/f${i}.bin`, { method: 'PUT', agent, headers: { 'Content-Length': SMALL }, body: bodies[i] });
          await drain(res);
          if (res.statusCode !== 201) throw new Error(`floor PUT ${folder}/f${i}.bin: ${res.statusCode}`);
        });
        return bodies.length / ((performance.now() - t0) / 1000);
      },
    },
    /** The floor that hashes what it uploads; its 1 GiB PUT only. */
    hashing: {
      async bigPut(_token, name, stamp, sha) {
        const t0 = performance.now();
        const res = await request(`${hashingFloor.baseUrl}/${name}`, { method: 'PUT', agent, headers: { 'Content-Length': BIG }, body: bigBody(stamp) });
        await drain(res);
        if (res.statusCode !== 201 || res.headers['x-checksum-sha256'] !== sha) throw new Error(`hashing floor PUT ${name}: ${res.statusCode}, SHA-256 ${res.headers['x-checksum-sha256']}`);
        return BIG / 1e6 / ((performance.now() - t0) / 1000);
      },
      async bigDelete(_token, name) {
        await direct.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `floor-sha256/${name}` }));
      },
    },
    direct: {
      async bigPut(_token, name, stamp) {
        const t0 = performance.now();
        await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: `direct/${name}`, Body: bigBody(stamp), ContentLength: BIG }));
        return BIG / 1e6 / ((performance.now() - t0) / 1000);
      },
      async bigGet(_token, name) {
        const t0 = performance.now();
        const answer = await direct.send(new GetObjectCommand({ Bucket: BUCKET, Key: `direct/${name}` }));
        const bytes = await drain(answer.Body);
        const s = (performance.now() - t0) / 1000;
        if (bytes !== BIG) throw new Error(`direct GET ${name}: ${bytes} bytes`);
        return BIG / 1e6 / s;
      },
      async bigDelete(_token, name) {
        await direct.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `direct/${name}` }));
      },
      async smallPuts(_token, folder, bodies) {
        const t0 = performance.now();
        await pool(bodies.length, (i) => direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: `direct/${folder}/f${i}.bin`, Body: bodies[i] })));
        return bodies.length / ((performance.now() - t0) / 1000);
      },
    },
  };

  /** The app's peak RSS (VmHWM, reset just before) during `work`, over the idle RSS read before the runs. */
  const rssOver = { bigPut: [], bigGet: [], smallPuts: [] };
  /** The app's 503 answers to small PUTs (each sent again). */
  const unavailable = [];
  let idleMiB = NaN;
  /** CPU seconds by process kind during each operation: cpu[kind][side] is one record per round. */
  const cpu = { bigPut: {}, bigGet: {}, smallPuts: {} };
  async function measured(side, kind, work) {
    if (side === 'app') await resetPeak([appPid]);
    const before = await cpuByKind(appPid);
    const result = await work();
    const after = await cpuByKind(appPid);
    (cpu[kind][side] ??= []).push(Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] ?? 0)])));
    if (side === 'app') rssOver[kind].push((await memory([appPid])).hwm - idleMiB);
    return result;
  }

  async function mint(build) {
    const token = await mintWith(app.baseUrl, { type: 'bench', project: 's3', build });
    token.auth = basic(token.username, token.password);
    return token;
  }

  // ---- warm-up (every code path once, untimed), then the idle RSS ----

  log('warm-up');
  {
    const token = await mint('warm-up');
    await ops.app.smallPuts(token, 'warm', smallBodies('warm-app').slice(0, 50));
    await ops.direct.smallPuts(token, 'warm', smallBodies('warm-direct').slice(0, 50));
    const res = await request(`${token.url}warm/f0.bin`, { method: 'GET', agent });
    await drain(res);
    if (res.statusCode !== 200) throw new Error(`warm-up GET: ${res.statusCode}`);
  }
  unavailable.length = 0; // only the timed PUTs' are reported
  await sleep(2000);
  idleMiB = (await memory([appPid])).rss;
  log(`app idle RSS ${idleMiB.toFixed(1)} MiB`);

  // ---- interleaved rounds ----

  const rates = Object.fromEntries(['bigPut', 'bigGet', 'smallPuts'].map((kind) => [kind, { app: [], floor: [], direct: [] }]));
  rates.bigPut.hashing = [];
  const nginxRates = { deployment: [], streaming: [], presigned: [] };
  /** A GET read to the end, MB/s; its checksum header checked when one is expected. */
  async function nginxGet(url, sha) {
    const t0 = performance.now();
    const res = await request(url, { method: 'GET', agent });
    const bytes = await drain(res);
    const s = (performance.now() - t0) / 1000;
    if (res.statusCode !== 200 || bytes !== BIG) throw new Error(`GET ${url.slice(0, 80)}: ${res.statusCode}, ${bytes} bytes`);
    if (sha !== null && res.headers['x-checksum-sha256'] !== sha) throw new Error(`GET through nginx: X-Checksum-Sha256 ${res.headers['x-checksum-sha256']}, not ${sha}`);
    return BIG / 1e6 / s;
  }
  const runId = `${process.pid}`;
  for (let r = 0; r < ROUNDS; r++) {
    // Each side first in turn (the page cache and Swift's own caches warm differently).
    const order = [['app', 'floor', 'direct'], ['direct', 'app', 'floor'], ['floor', 'direct', 'app']][r % 3];
    const token = await mint(`round-${r}`);
    await ops.app.smallPuts(token, 'auth', smallBodies(`auth-${r}`).slice(0, 1)); // the token's first check (argon2), untimed
    for (const side of order) {
      const name = `big-${runId}-${r}-${side}.bin`;
      const stamp = `${runId}-${r}-${side}`;
      const sha = await bigSha(stamp);
      const put = await measured(side, 'bigPut', () => ops[side].bigPut(token, name, stamp));
      rates.bigPut[side].push(put);
      const get = await measured(side, 'bigGet', () => ops[side].bigGet(token, name, sha));
      rates.bigGet[side].push(get);
      if (side === 'app') {
        // The same object with nginx in front: as deployed (the app redirects to a presigned
        // URL, nginx fetches it), without nginx/bucket.conf (the app streams it), and nginx
        // alone proxying a presigned URL of its blob (the redirect's bound).
        nginxRates.deployment.push(await nginxGet(`${token.url.replace(app.baseUrl, deployment.baseUrl)}${name}`, sha));
        nginxRates.streaming.push(await nginxGet(`${token.url.replace(app.baseUrl, streaming.baseUrl)}${name}`, sha));
        const { rows } = await db.query('SELECT blob FROM tree_entries WHERE name = $1 AND NOT collection', [name]);
        const signed = await getSignedUrl(direct, new GetObjectCommand({ Bucket: BUCKET, Key: `${APP_PREFIX}${rows[0].blob}` }), { expiresIn: 300 });
        const url = new URL(signed);
        nginxRates.presigned.push(await nginxGet(`${presigning.baseUrl}${url.pathname}${url.search}`, null));
      }
      await ops[side].bigDelete(token, name);
      log(`round ${r + 1}/${ROUNDS} ${side.padEnd(6)} ${BIG_LABEL} PUT ${put.toFixed(0)} MB/s, GET ${get.toFixed(0)} MB/s`);
      if (side === 'floor') {
        const hashed = await measured('hashing', 'bigPut', () => ops.hashing.bigPut(token, name, stamp, sha));
        rates.bigPut.hashing.push(hashed);
        await ops.hashing.bigDelete(token, name);
        log(`round ${r + 1}/${ROUNDS} floor + SHA-256 ${BIG_LABEL} PUT ${hashed.toFixed(0)} MB/s`);
      }
    }
    for (const side of order) {
      const bodies = smallBodies(`${runId}-${r}-${side}`);
      const before = unavailable.length;
      const rate = await measured(side, 'smallPuts', () => ops[side].smallPuts(token, `small-${r}`, bodies));
      rates.smallPuts[side].push(rate);
      const again = unavailable.length - before;
      log(`round ${r + 1}/${ROUNDS} ${side.padEnd(6)} ${SMALL_PUTS} × 4 KiB PUT ${rate.toFixed(0)} files/s${again ? ` (${again} answered 503 and were sent again)` : ''}`);
    }
  }

  // ---- report ----

  const LABELS = { bigPut: `${BIG_LABEL} PUT, MB/s`, bigGet: `${BIG_LABEL} GET, MB/s`, smallPuts: `${SMALL_PUTS} × 4 KiB PUT (${CONCURRENCY} at once), files/s` };
  const rows = [{ section: 'throughput (direct = the AWS SDK on the same Swift; floor = a bare Node server in between, bench/plain-s3-server.mjs; app = through the app in S3 mode)' }];
  for (const kind of Object.keys(rates)) {
    const { app: a, floor: f, direct: d } = rates[kind];
    const perRound = a.map((x, i) => x / d[i]);
    const ratio = median(perRound);
    const floorRatio = median(f.map((x, i) => x / d[i]));
    rows.push({ metric: LABELS[kind], target: 'direct', stat: summary(d) });
    rows.push({ metric: LABELS[kind], target: 'floor', stat: summary(f), ratio: floorRatio });
    rows.push({ metric: LABELS[kind], target: 'app', stat: summary(a), ratio, ratio2: median(a.map((x, i) => x / f[i])), goal: `>= ${RATIO_GOAL}x`, pass: ratio >= RATIO_GOAL, note: `per round ${perRound.map((x) => `${x.toFixed(2)}x`).join(' ')}` });
  }
  {
    const { app: a, hashing: h, direct: d } = rates.bigPut;
    rows.push({ metric: `${LABELS.bigPut} (hashed while sent)`, target: 'floor+sha256', stat: summary(h), ratio: median(h.map((x, i) => x / d[i])), note: `the app x this: ${median(a.map((x, i) => x / h[i])).toFixed(2)}x` });
  }
  rows.push({ section: `${BIG_LABEL} GET with nginx in front (x direct: against the round's direct GET)` });
  for (const [target, label] of [
    ['deployment', 'as deployed: the app redirects, nginx fetches'],
    ['streaming', 'without nginx/bucket.conf: the app streams'],
    ['presigned', 'nginx alone proxying a presigned URL'],
  ]) {
    const got = nginxRates[target];
    rows.push({ metric: label, target, stat: summary(got), ratio: median(got.map((x, i) => x / rates.bigGet.direct[i])) });
  }
  rows.push({ section: `app peak RSS over idle (idle ${idleMiB.toFixed(1)} MiB before the runs), MiB` });
  for (const kind of Object.keys(rssOver)) {
    const peak = Math.max(...rssOver[kind]);
    rows.push({ metric: `during ${LABELS[kind].replace(/, (MB|files)\/s$/, '')}`, target: 'app', stat: summary(rssOver[kind]), goal: `<= ${RSS_GOAL_MIB} (max)`, pass: peak <= RSS_GOAL_MIB });
  }
  // Where the two cores went: CPU of each kind of process per operation, median of the rounds.
  const UNITS = { bigPut: ['s per GiB', BIG / (1024 * MiB)], bigGet: ['s per GiB', BIG / (1024 * MiB)], smallPuts: ['ms per PUT', SMALL_PUTS / 1000] };
  rows.push({ section: 'CPU of this machine\'s processes per operation (from /proc, median of the rounds; total, then by process)' });
  for (const kind of Object.keys(cpu)) {
    const [unit, per] = UNITS[kind];
    for (const side of Object.keys(cpu[kind])) {
      const records = cpu[kind][side];
      const kinds = [...new Set(records.flatMap((r) => Object.keys(r)))];
      const by = Object.fromEntries(kinds.map((k) => [k, median(records.map((r) => (r[k] ?? 0) / per))]));
      const totals = records.map((r) => Object.values(r).reduce((x, y) => x + y, 0) / per);
      const parts = kinds.filter((k) => by[k] >= 0.005).sort((x, y) => by[y] - by[x]).map((k) => `${k} ${by[k].toFixed(2)}`).join(', ');
      rows.push({ metric: `${LABELS[kind].replace(/, (MB|files)\/s$/, '')}, CPU ${unit}`, target: side === 'hashing' ? 'floor+sha256' : side, stat: summary(totals), note: parts });
    }
  }
  console.log(`\nS3 mode against the AWS SDK direct: ${ROUNDS} interleaved rounds, OpenStack Swift s3api and PostgreSQL on 127.0.0.1, ${os.cpus().length} cores, Node ${process.version}`);
  console.log(renderTable(rows, { ratioHeader: 'x direct', ratio2Header: 'x floor' }));
  if (unavailable.length) {
    const kinds = [...new Set(unavailable)].map((m) => `"${m}"`).join(', ');
    console.log(`\nwarning: ${unavailable.length} of the app's ${ROUNDS * SMALL_PUTS} timed 4 KiB PUTs answered 503 (${kinds}) and were sent again; their time is in the figures`);
  }
}

try {
  await main();
} catch (err) {
  console.error(`s3-bench: ${err.stack ?? err}`);
  if (appOutput) console.error(`the app's last output:\n${appOutput().slice(-3000)}`);
  await cleanup();
  process.exit(1);
}
await cleanup();
process.exit(0);
