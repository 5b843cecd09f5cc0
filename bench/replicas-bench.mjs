#!/usr/bin/env node
// 1, 2 and 3 replicas of one repository (one PostgreSQL, one artifacts folder) behind
// Debian's nginx with the shipped configuration, in interleaved rounds on this machine:
// 4 KiB PUTs (files/s, 8 connections, one token) and 4 KiB GETs of an open build's files
// (req/s, 8 connections: nginx sends each from disk after asking a replica to describe
// it). Ratios are to one replica in the same run.
//
//   npm run build && node bench/replicas-bench.mjs [--rounds N] [--quick]
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, installSignalHandlers, onCleanup, run } from './lib-proc.mjs';
import { median, round } from './lib-report.mjs';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' } } });
const ROUNDS = Number(opts.rounds ?? (opts.quick ? 1 : 5));
const PUTS = opts.quick ? 500 : 2000;
const GETS = opts.quick ? 2000 : 8000;
const GET_FILES = 100;
const log = (msg) => process.stderr.write(`[replicas-bench] ${msg}\n`);

installSignalHandlers();
const { makeTempDir, startChild, mintWith } = await import('../dist/test/helpers/harness.js');
const { postgresInstalled, startPostgres, freshDatabase } = await import('../dist/test/helpers/postgres.js');
const { startNginx } = await import('../dist/test/helpers/nginx.js');
const { upstreamServers } = await import('../dist/test/helpers/replicas.js');
if (!(await postgresInstalled())) {
  console.error('replicas-bench: PostgreSQL is not installed (Debian package: postgresql)');
  process.exit(2);
}
const root = await makeTempDir('replicas-bench-');
onCleanup('temporary directory', () => rm(root, { recursive: true, force: true }));
await import('node:fs/promises').then((fs) => fs.chmod(root, 0o755));
const artifactsDir = path.join(root, 'artifacts');
await mkdir(artifactsDir, { mode: 0o755 });
const pg = await startPostgres();
onCleanup('postgres', () => pg.remove());
const databaseUrl = await freshDatabase(pg);
const replicas = [];
for (let i = 0; i < 3; i++) {
  const replica = await startChild(path.join(root, `replica-${i}`), { LOG_LEVEL: 'warn', NODE_ENV: 'production', DATABASE_URL: databaseUrl, ARTIFACTS_DIR: artifactsDir, TRUSTED_PROXIES: '127.0.0.1' });
  onCleanup(`replica ${i}`, () => replica.stop());
  replicas.push(replica);
}
const fronts = {};
for (const n of [1, 2, 3]) {
  const prefix = path.join(root, `nginx-${n}`);
  await mkdir(prefix, { mode: 0o755 });
  const ports = replicas.slice(0, n).map((r) => Number(new URL(r.baseUrl).port));
  fronts[n] = await startNginx({ prefix, upstream: upstreamServers(ports), artifactsRoot: artifactsDir, mastersAllow: 'allow all;\n', records: 'database' });
  onCleanup(`nginx ${n}`, () => fronts[n].stop());
}

/** Jiffies of the whole machine: busy and total (/proc/stat). */
async function cpuTimes() {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

const busy = {};
async function client(script, args, key) {
  const before = await cpuTimes();
  const { stdout, code, stderr } = await run(process.execPath, [path.join(import.meta.dirname, script), ...args], { timeoutMs: 600_000 });
  const after = await cpuTimes();
  if (code !== 0) throw new Error(`${script}: ${stderr}`);
  (busy[key] ??= []).push((after.busy - before.busy) / (after.total - before.total));
  return JSON.parse(stdout).rate;
}

const rows = {};
for (const n of [1, 2, 3]) rows[`put ${n}`] = [];
for (const n of [1, 2, 3]) rows[`get ${n}`] = [];
for (let r = 0; r < ROUNDS; r++) {
  log(`round ${r + 1}/${ROUNDS}`);
  const order = [[1, 2, 3], [3, 2, 1], [2, 3, 1]][r % 3];
  for (const n of order) {
    const base = fronts[n].baseUrl;
    const token = await mintWith(base, { type: 'bench', project: 'replicas', build: `${n}-${r}` });
    rows[`put ${n}`].push(await client('put-client.mjs', [`${base}${token.scope}`, token.username, token.password, String(PUTS), '8', '4096'], `put ${n}`));
    // The build stays open: each GET is described by a replica.
    rows[`get ${n}`].push(await client('get-client.mjs', [`${base}${token.scope}`, String(GETS), '8', String(GET_FILES)], `get ${n}`));
  }
}
const span = (xs) => `${round(Math.min(...xs), 0)}–${round(Math.max(...xs), 0)}`;
console.log(`\nReplicas behind nginx (one PostgreSQL, one artifacts folder): ${ROUNDS} interleaved rounds, ${os.cpus().length} cores, Node ${process.version}`);
for (const what of ['put', 'get']) {
  const one = median(rows[`${what} 1`]);
  for (const n of [1, 2, 3]) {
    const rate = median(rows[`${what} ${n}`]);
    const label = what === 'put' ? `4 KiB PUT, 8 connections, ${n} replica${n > 1 ? 's' : ''}` : `4 KiB GET, open build, ${n} replica${n > 1 ? 's' : ''}`;
    const unit = what === 'put' ? 'files/s' : 'req/s';
    const goal = n === 2 ? `   goal >= 1.5x ${rate / one >= 1.5 ? '✓' : '✗'}` : '';
    // How busy the whole machine was (both cores): what more replicas could still use.
    const cpu = `machine CPU ${Math.round(100 * median(busy[`${what} ${n}`]))} %`;
    console.log(`${label.padEnd(40)} ${String(round(rate, 0)).padStart(6)} ${unit} (${span(rows[`${what} ${n}`])})   ${(rate / one).toFixed(2)}x one replica   ${cpu}${goal}`);
  }
}
await cleanup();
process.exit(0);
