// A real PostgreSQL from Debian's package, started by the test: initdb and pg_ctl in a
// temporary directory, on a free loopback port, as an unprivileged user (PostgreSQL
// refuses to run as root), stopped and removed by the test.
import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { makeTempDir, useDatabases, type TestServer } from './harness.js';
import { freePort } from './nginx.js';
import { findTool, run, skipUnlessCi } from './tools.js';

export interface Postgres {
  /** postgres://… for DATABASE_URL. */
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  remove(): Promise<void>;
}

/** Where Debian keeps initdb and pg_ctl (not on the PATH): the newest version installed. */
async function binDir(): Promise<string | null> {
  const base = '/usr/lib/postgresql';
  const versions = (await readdir(base).catch(() => [] as string[])).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(base, v, 'bin');
    if (await access(path.join(dir, 'initdb'), constants.X_OK).then(() => true, () => false)) return dir;
  }
  const initdb = findTool('initdb');
  return initdb ? path.dirname(initdb) : null;
}

export async function postgresInstalled(): Promise<boolean> {
  return (await binDir()) !== null;
}

/** The unprivileged user the server runs as when the tests run as root: postgres (the package's), else nobody. */
async function runAs(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const name of ['postgres', 'nobody']) {
    const fields = passwd.split('\n').find((l) => l.startsWith(`${name}:`))?.split(':');
    if (fields && fields[2] && fields[3]) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return { uid: 65534, gid: 65534 };
}

export async function startPostgres(): Promise<Postgres> {
  const bin = await binDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const dir = await makeTempDir('postgres-');
  const data = path.join(dir, 'data');
  const sockets = path.join(dir, 'run');
  await mkdir(data);
  await mkdir(sockets);
  const as = await runAs();
  if (as.uid !== undefined) {
    for (const d of [dir, data, sockets]) await chown(d, as.uid, as.gid as number);
  }
  await chmod(data, 0o700);
  const port = await freePort();
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir };
  const init = await run(path.join(bin, 'initdb'), ['-D', data, '-U', 'artifacts', '--auth=trust', '-E', 'UTF8', '--no-sync'], { env, ...as, timeoutMs: 120_000 });
  if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${sockets} -c fsync=off -c max_connections=100`;
  const start = async (): Promise<void> => {
    const started = await run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start'], { env, ...as, timeoutMs: 90_000 });
    if (started.code !== 0) throw new Error(`pg_ctl start failed: ${started.stderr}${started.stdout}`);
  };
  const stop = async (): Promise<void> => {
    await run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], { env, ...as, timeoutMs: 60_000 });
  };
  await start();
  return {
    url: `postgres://artifacts@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    remove: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A PostgreSQL server for a suite; skips it (under CI: fails) when PostgreSQL is not installed. */
export async function requirePostgres(ctx: Mocha.Context): Promise<Postgres> {
  if (!(await postgresInstalled())) {
    skipUnlessCi(ctx, 'PostgreSQL is not installed', 'apt-get install postgresql, as .ci/run does');
  }
  return startPostgres();
}

let created = 0;

/** A new, empty database on this server, as a DATABASE_URL. */
export async function freshDatabase(server: Postgres): Promise<string> {
  const name = `t_${process.pid}_${++created}`;
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return server.url.replace(/\/postgres$/, `/${name}`);
}

/**
 * A suite's PostgreSQL mode: a server for it, and every server it starts on a fresh
 * database. Skips (or, under CI, fails) without PostgreSQL. Returns the teardown.
 */
export async function databaseMode(ctx: Mocha.Context): Promise<() => Promise<void>> {
  const server = await requirePostgres(ctx);
  useDatabases(() => freshDatabase(server));
  return async () => {
    useDatabases(null);
    await server.remove();
  };
}

/** What the token store holds, as text (no password must be in it), and a token's stored hash. */
export async function storedTokens(s: TestServer): Promise<{ text: string; hashOf(id: string): string | null }> {
  if (!s.databaseUrl) {
    const text = await readFile(path.join(s.tokensDir, 'tokens.json'), 'utf8');
    const data = JSON.parse(text) as { tokens: Record<string, { hash: string | null }> };
    return { text, hashOf: (id) => data.tokens[id]?.hash ?? null };
  }
  const client = new pg.Client({ connectionString: s.databaseUrl });
  await client.connect();
  try {
    const tokens = await client.query<{ id: string; record: { hash: string | null } }>('SELECT id, record FROM tokens');
    const masters = await client.query('SELECT record FROM masters');
    const byId = new Map(tokens.rows.map((r) => [r.id, r.record]));
    return { text: JSON.stringify({ tokens: tokens.rows, masters: masters.rows }), hashOf: (id) => byId.get(id)?.hash ?? null };
  } finally {
    await client.end();
  }
}
