#!/usr/bin/env node
// One server with DATABASE_URL (Debian's PostgreSQL, started here on loopback) against one
// embedded server, in interleaved rounds on this machine: 4 KiB PUTs (files/s, 8
// connections, one token) and token checks (authenticated requests that do nothing else:
// a DELETE of a file that is not there, answered 404 after the token is checked). The
// ratio is the time per request with the database over the time without.
//
//   npm run build && node bench/database-bench.mjs [--rounds N] [--quick]
import http from 'node:http';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanup, installSignalHandlers, onCleanup, run } from './lib-proc.mjs';
import { median, round } from './lib-report.mjs';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' } } });
const ROUNDS = Number(opts.rounds ?? (opts.quick ? 1 : 5));
const PUTS = opts.quick ? 500 : 2000;
const CHECKS = opts.quick ? 1000 : 4000;
const log = (msg) => process.stderr.write(`[database-bench] ${msg}\n`);

installSignalHandlers();
const { makeTempDir, startChild, mintWith } = await import('../dist/test/helpers/harness.js');
const { postgresInstalled, startPostgres, freshDatabase } = await import('../dist/test/helpers/postgres.js');
if (!(await postgresInstalled())) {
  console.error('database-bench: PostgreSQL is not installed (Debian package: postgresql)');
  process.exit(2);
}
const root = await makeTempDir('database-bench-');
onCleanup('temporary directory', () => rm(root, { recursive: true, force: true }));
const pg = await startPostgres();
onCleanup('postgres', () => pg.remove());
const apps = {
  embedded: await startChild(path.join(root, 'embedded'), { LOG_LEVEL: 'warn', NODE_ENV: 'production' }),
  postgres: await startChild(path.join(root, 'postgres'), { LOG_LEVEL: 'warn', NODE_ENV: 'production', DATABASE_URL: await freshDatabase(pg) }),
};
for (const [name, app] of Object.entries(apps)) onCleanup(name, () => app.stop());

/** `total` authenticated DELETEs of a missing file over 8 keep-alive connections: requests/s. */
async function checkRate(baseUrl, token, total) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const auth = 'Basic ' + Buffer.from(`${token.username}:${token.password}`).toString('base64');
  const base = new URL(baseUrl);
  const one = () =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: base.hostname, port: base.port, method: 'DELETE', path: `${token.scope}missing.bin`, agent, headers: { Authorization: auth } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 404 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end();
    });
  await one(); // the first check runs argon2; the rest are what a build's requests cost
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next++ < total) await one();
  }));
  const rate = total / ((performance.now() - started) / 1000);
  agent.destroy();
  return rate;
}

async function putRate(baseUrl, token) {
  const { stdout, code, stderr } = await run(process.execPath, [path.join(import.meta.dirname, 'put-client.mjs'), `${baseUrl}${token.scope}`, token.username, token.password, String(PUTS), '8', '4096'], { timeoutMs: 600_000 });
  if (code !== 0) throw new Error(`put-client: ${stderr}`);
  return JSON.parse(stdout).rate;
}

const rows = { 'put embedded': [], 'put postgres': [], 'check embedded': [], 'check postgres': [] };
for (let r = 0; r < ROUNDS; r++) {
  log(`round ${r + 1}/${ROUNDS}`);
  for (const name of r % 2 === 0 ? ['embedded', 'postgres'] : ['postgres', 'embedded']) {
    const app = apps[name];
    const token = await mintWith(app.baseUrl, { type: 'bench', project: 'db', build: `${name}-${r}` });
    rows[`put ${name}`].push(await putRate(app.baseUrl, token));
    rows[`check ${name}`].push(await checkRate(app.baseUrl, token, CHECKS));
  }
}
const span = (xs) => `${round(Math.min(...xs), 0)}–${round(Math.max(...xs), 0)}`;
const ratio = (what) => median(rows[`${what} embedded`]) / median(rows[`${what} postgres`]);
console.log(`\nDATABASE_URL against embedded: ${ROUNDS} interleaved rounds, ${os.cpus().length} cores, Node ${process.version}`);
console.log(`4 KiB PUT, 8 connections, embedded      ${round(median(rows['put embedded']), 0)} files/s (${span(rows['put embedded'])})`);
console.log(`4 KiB PUT, 8 connections, PostgreSQL    ${round(median(rows['put postgres']), 0)} files/s (${span(rows['put postgres'])})   time per PUT ${ratio('put').toFixed(2)}x  goal <= 1.3x ${ratio('put') <= 1.3 ? '✓' : '✗'}`);
console.log(`token check (DELETE → 404), embedded    ${round(median(rows['check embedded']), 0)} req/s (${span(rows['check embedded'])})`);
console.log(`token check (DELETE → 404), PostgreSQL  ${round(median(rows['check postgres']), 0)} req/s (${span(rows['check postgres'])})   time per check ${ratio('check').toFixed(2)}x  goal <= 1.3x ${ratio('check') <= 1.3 ? '✓' : '✗'}`);
await cleanup();
process.exit(0);
