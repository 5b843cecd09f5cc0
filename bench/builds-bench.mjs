// Do the lists of sealed builds scale? The time of /-/latest (a project's newest build, and
// on a branch), /-/builds (the newest 50, and one project's), the front page and a search by
// revision, with 100 and with 100 000 sealed builds (1 000 projects of 100), on the embedded
// store and on PostgreSQL. Sequential requests on one keep-alive connection; the median and
// the 99th percentile of each, and the ratio of the medians (100 000 / 100).
// Usage: npm run bench:builds   (about three minutes)
import http from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { median, percentile, round } from './lib-report.mjs';

const { makeTempDir, startChild } = await import('../dist/test/helpers/harness.js');
const { postgresInstalled, startPostgres, freshDatabase } = await import('../dist/test/helpers/postgres.js');
const pg = (await import('pg')).default;

const PER_PROJECT = 100;
const REQUESTS = 300;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Build k of the repository: project k / 100, build k % 100, sealed at second k, every other on main. */
function seeded(k) {
  const project = `p${Math.floor(k / PER_PROJECT)}`;
  const build = String(k % PER_PROJECT);
  const revision = (k * 2654435761 % 2 ** 32).toString(16).padStart(8, '0') + 'c'.repeat(32);
  const record = {
    sealed: { sealedAt: new Date(Date.UTC(2026, 0, 1) + k * 1000).toISOString(), files: 3, bytes: 1000 + k, signedBy: 'SHA256:bench' },
    meta: { source: { uri: 'https://git.example.org/hello.git', revision, branch: k % 2 ? 'main' : 'dev' } },
  };
  return { project, build, revision, record };
}

async function seedFiles(root, count) {
  const base = path.join(root, 'artifacts', '.builds', 'dpkg');
  for (let k = 0; k < count; k += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - k) }, async (_, i) => {
        const { project, build, record } = seeded(k + i);
        await mkdir(path.join(base, project), { recursive: true });
        await writeFile(path.join(base, project, `${build}.json`), JSON.stringify(record));
      }),
    );
  }
}

async function seedDatabase(url, count) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let k = 0; k < count; k += 5000) {
      const rows = Array.from({ length: Math.min(5000, count - k) }, (_, i) => seeded(k + i));
      await client.query('INSERT INTO builds (scope, record) SELECT * FROM unnest($1::text[], $2::jsonb[])', [rows.map((r) => `dpkg/${r.project}/${r.build}`), rows.map((r) => JSON.stringify(r.record))]);
    }
    await client.query('ANALYZE builds');
  } finally {
    await client.end();
  }
}

function get(base, pathname) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http
      .get(`${base}${pathname}`, { agent, headers: { Accept: pathname === '/' ? 'text/html' : 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 || res.statusCode === 302 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`${pathname}: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

async function measure(base, count) {
  const projects = Math.max(1, Math.floor(count / PER_PROJECT));
  const pick = (i) => `p${(i * 7919) % projects}`;
  const revisionOf = (i) => seeded(((i * 104729) % count)).revision;
  const cases = {
    'latest': (i) => `/-/latest/dpkg/${pick(i)}/`,
    'latest on a branch': (i) => `/-/latest/dpkg/${pick(i)}/?branch=dev`,
    'builds (newest 50)': () => '/-/builds',
    "a project's builds": (i) => `/-/builds?type=dpkg&project=${pick(i)}&limit=20`,
    'front page': () => '/',
    'search by revision (prefix)': (i) => `/-/search?revision=${revisionOf(i).slice(0, 8)}`,
  };
  const out = {};
  for (const [name, url] of Object.entries(cases)) {
    for (let i = 0; i < 30; i++) await get(base, url(i));
    const times = [];
    for (let i = 0; i < REQUESTS; i++) times.push(await get(base, url(i)));
    out[name] = { median_ms: round(median(times), 2), p99_ms: round(percentile(times, 99), 2) };
  }
  return out;
}

async function run(store, count, database) {
  const root = await makeTempDir(`builds-bench-${count}-`);
  let url = null;
  if (store === 'embedded') await seedFiles(root, count);
  else url = await freshDatabase(database);
  const env = { LOG_LEVEL: 'silent', NODE_ENV: 'production', ...(url ? { DATABASE_URL: url } : {}) };
  let app = await startChild(root, env);
  try {
    if (url) await seedDatabase(url, count);
    // The embedded index is read at the first start from every record (then kept as a
    // snapshot): the first answer waits for it. The next start reads the snapshot.
    let started = Date.now();
    await get(app.baseUrl, '/-/builds?limit=1');
    const firstMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 2000)); // the snapshot written
    await app.stop();
    app = await startChild(root, env);
    started = Date.now();
    await get(app.baseUrl, '/-/builds?limit=1');
    const restartMs = Date.now() - started;
    return { first_answer_ms: firstMs, after_restart_ms: restartMs, ...(await measure(app.baseUrl, count)) };
  } finally {
    await app.stop();
    await rm(root, { recursive: true, force: true });
  }
}

const results = {};
const database = (await postgresInstalled()) ? await startPostgres() : null;
try {
  for (const store of database ? ['embedded', 'PostgreSQL'] : ['embedded']) {
    const small = await run(store, 100, database);
    const large = await run(store, 100_000, database);
    const table = {};
    for (const name of Object.keys(small)) {
      if (name === 'first_answer_ms' || name === 'after_restart_ms') continue;
      table[name] = { '100': small[name], '100000': large[name], ratio: round(large[name].median_ms / small[name].median_ms, 2) };
    }
    results[store] = { first_answer_ms: { '100': small.first_answer_ms, '100000': large.first_answer_ms }, first_answer_after_restart_ms: { '100': small.after_restart_ms, '100000': large.after_restart_ms }, ...table };
  }
} finally {
  await database?.remove();
  agent.destroy();
}
console.log(JSON.stringify(results, null, 2));
