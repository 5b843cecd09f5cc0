#!/usr/bin/env node
// The mirror's download of a large file against curl fetching the same file from the same
// origin (Debian's nginx over HTTPS on 127.0.0.2), in interleaved rounds, with the app's
// peak RSS over idle while it mirrors. Ratios in the same run are what mean anything.
//
//   npm run build && node bench/mirror-bench.mjs [--rounds N] [--quick]
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, installSignalHandlers, onCleanup, run, sleep, which } from './lib-proc.mjs';
import { median, round } from './lib-report.mjs';
import { memory, resetPeak, writeRandomFile } from './lib-servers.mjs';

const MiB = 1024 * 1024;
const { values: opts } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' } } });
const ROUNDS = Number(opts.rounds ?? (opts.quick ? 1 : 3));
const BIG = opts.quick ? 64 * MiB : 1024 * MiB;
const log = (msg) => process.stderr.write(`[mirror-bench] ${msg}\n`);

installSignalHandlers();
for (const tool of ['curl', 'nginx', 'openssl', 'fcgiwrap', 'git']) {
  if (!(await which(tool))) {
    console.error(`mirror-bench: ${tool} is not installed (Debian packages: curl nginx openssl fcgiwrap git)`);
    process.exit(2);
  }
}
const { makeTempDir, startChild, MASTER_AUTH } = await import('../dist/test/helpers/harness.js');
const { startOrigin } = await import('../dist/test/helpers/origin.js');

const root = await makeTempDir('mirror-bench-');
onCleanup('temporary directory', () => rm(root, { recursive: true, force: true }));
const origin = await startOrigin();
onCleanup('origin', () => origin.remove());
const benchDir = path.join(origin.dir, 'www', 'bench');
await mkdir(benchDir);
log(`writing the ${BIG / MiB} MiB file`);
await writeRandomFile(path.join(benchDir, 'big.bin'), BIG);

const app = await startChild(path.join(root, 'data'), { PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile, LOG_LEVEL: 'warn', NODE_ENV: 'production' });
onCleanup('app', () => app.stop());
const big = `${origin.httpsBase}/bench/big.bin`;

async function curlRate() {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{speed_download} %{http_code}', '--cacert', origin.caFile, big], { timeoutMs: 600_000, env: { PATH: process.env.PATH, HOME: root } });
  const [speed, code] = stdout.trim().split(' ');
  if (code !== '200') throw new Error(`curl: ${code}`);
  return Number(speed) / 1e6;
}

/** Declares the file (a new URL each round: the same bytes, fetched again) and times it to "ok". */
async function mirrorRate(r) {
  const headers = { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' };
  const t0 = performance.now();
  const res = await fetch(`${app.baseUrl}/-/mirror`, { method: 'POST', headers, body: JSON.stringify({ url: `${big}?round=${r}` }) });
  const { id } = await res.json();
  for (;;) {
    const entry = await (await fetch(`${app.baseUrl}/-/mirror/${id}`)).json();
    if (entry.state === 'ok') break;
    if (entry.state === 'failed') throw new Error(`mirror: ${entry.reason}`);
    await sleep(20);
  }
  const seconds = (performance.now() - t0) / 1000;
  await fetch(`${app.baseUrl}/-/mirror/${id}`, { method: 'DELETE', headers });
  return BIG / seconds / 1e6;
}

const rows = { curl: [], mirror: [], rss: [] };
for (let r = 0; r < ROUNDS; r++) {
  log(`round ${r + 1}/${ROUNDS}`);
  await run('sync', [], {});
  rows.curl.push(await curlRate());
  await sleep(500);
  const pids = [app.child.pid];
  const idle = (await memory(pids)).rss;
  await resetPeak(pids);
  rows.mirror.push(await mirrorRate(r));
  rows.rss.push((await memory(pids)).hwm - idle);
}
const span = (xs) => `${round(Math.min(...xs), 0)}–${round(Math.max(...xs), 0)}`;
console.log(`\nmirror: ${ROUNDS} interleaved rounds, ${os.cpus().length} cores, Node ${process.version}`);
console.log(`${BIG / MiB} MiB over HTTPS, curl from the origin     ${round(median(rows.curl), 1)} MB/s (${span(rows.curl)})`);
console.log(`${BIG / MiB} MiB mirrored (declared to ok)           ${round(median(rows.mirror), 1)} MB/s (${span(rows.mirror)})  ${(median(rows.mirror) / median(rows.curl)).toFixed(2)}x curl`);
console.log(`app peak RSS over idle while mirroring        ${round(median(rows.rss), 1)} MiB (${span(rows.rss)}; by round: ${rows.rss.map((x) => round(x, 1)).join(", ")})`);
await cleanup();
process.exit(0);
