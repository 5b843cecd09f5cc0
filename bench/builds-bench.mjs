// Do the lists of sealed builds scale? The time of /-/latest (a project's newest build, and
// on a branch), /-/builds (the newest 50, and one project's), the front page and a search by
// revision, with 100 and with 100 000 sealed builds (1 000 projects of 100), on the embedded
// store and on PostgreSQL: both repositories running at once, asked in alternating batches,
// sequential requests on keep-alive connections; the median and the 99th percentile of
// each, and the ratio of the medians (100 000 / 100). Also the first answer after a start.
// Usage: npm run bench:builds   (about three minutes)
import http from 'node:http';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { median, percentile, round } from './lib-report.mjs';

const { makeTempDir, startChild } = await import('../dist/test/helpers/harness.js');
const { postgresInstalled, startPostgres, freshDatabase } = await import('../dist/test/helpers/postgres.js');
const pg = (await import('pg')).default;

const PER_PROJECT = 100;
const REQUESTS = 600;
// One connection per server, kept alive.
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

/** The requests of each case, for a repository of `count` builds. */
function cases(count) {
  const projects = Math.max(1, Math.floor(count / PER_PROJECT));
  const pick = (i) => `p${(i * 7919) % projects}`;
  const revisionOf = (i) => seeded((i * 104729) % count).revision;
  return {
    'latest': (i) => `/-/latest/dpkg/${pick(i)}/`,
    'latest on a branch': (i) => `/-/latest/dpkg/${pick(i)}/?branch=dev`,
    'builds (newest 50)': () => '/-/builds',
    "a project's builds": (i) => `/-/builds?type=dpkg&project=${pick(i)}&limit=20`,
    'front page': () => '/',
    'search by revision (prefix)': (i) => `/-/search?revision=${revisionOf(i).slice(0, 8)}`,
  };
}

/**
 * Each case on both repositories, in alternating batches of 10 (the machine's noise falls
 * on both alike): the medians, the 99th percentiles and the ratio of the medians.
 */
async function compare(small, large) {
  const [a, b] = [cases(small.count), cases(large.count)];
  const out = {};
  for (const name of Object.keys(a)) {
    const times = { small: [], large: [] };
    for (let i = 0; i < 30; i++) {
      await get(small.base, a[name](i));
      await get(large.base, b[name](i));
    }
    for (let round = 0; round < REQUESTS / 10; round++) {
      for (let i = 0; i < 10; i++) times.small.push(await get(small.base, a[name](round * 10 + i)));
      for (let i = 0; i < 10; i++) times.large.push(await get(large.base, b[name](round * 10 + i)));
    }
    const m = (xs) => ({ median_ms: round(median(xs), 2), p99_ms: round(percentile(xs, 99), 2) });
    out[name] = { [small.count]: m(times.small), [large.count]: m(times.large), ratio: round(median(times.large) / median(times.small), 2) };
  }
  return out;
}

/** A repository of `count` sealed builds, started, with its first answer timed (and after a restart). */
async function repository(store, count, database) {
  const root = await makeTempDir(`builds-bench-${count}-`);
  let url = null;
  if (store === 'embedded') await seedFiles(root, count);
  else url = await freshDatabase(database);
  const env = { LOG_LEVEL: 'silent', NODE_ENV: 'production', ...(url ? { DATABASE_URL: url } : {}) };
  let app = await startChild(root, env);
  if (url) await seedDatabase(url, count);
  // The embedded index is read at the first start from every record (then kept as a
  // snapshot): the first answer waits for it. The next start reads the snapshot.
  let started = Date.now();
  await get(app.baseUrl, '/-/builds?limit=1');
  const first = Date.now() - started;
  await new Promise((r) => setTimeout(r, 2000)); // the snapshot written
  await app.stop();
  app = await startChild(root, env);
  started = Date.now();
  await get(app.baseUrl, '/-/builds?limit=1');
  const restart = Date.now() - started;
  return {
    count,
    base: app.baseUrl,
    first,
    restart,
    stop: async () => {
      await app.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

const results = {};
const database = (await postgresInstalled()) ? await startPostgres() : null;
try {
  const only = process.env.BENCH_STORE; // one of the two, to measure it alone
  for (const store of (database ? ['embedded', 'PostgreSQL'] : ['embedded']).filter((s) => !only || s === only)) {
    const small = await repository(store, 100, database);
    const large = await repository(store, 100_000, database);
    try {
      results[store] = {
        first_answer_ms: { 100: small.first, 100000: large.first },
        first_answer_after_restart_ms: { 100: small.restart, 100000: large.restart },
        ...(await compare(small, large)),
      };
    } finally {
      await small.stop();
      await large.stop();
    }
  }
} finally {
  await database?.remove();
  agent.destroy();
}
console.log(JSON.stringify(results, null, 2));
