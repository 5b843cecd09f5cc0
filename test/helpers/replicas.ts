// Several replicas of the server, one repository: one PostgreSQL database, one shared
// ARTIFACTS_DIR (or, in S3 mode, one bucket and no shared folder at all: each replica its
// own empty one), a TOKENS_DIR each (its admin socket), and Debian's nginx with the shipped
// configuration in front, balancing round robin, so that consecutive requests land on
// different replicas. The set looks like one TestServer whose address is nginx's.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeTempDir, mintWith, startServer, type TestServer } from './harness.js';
import { freePort, startNginx, type RunningNginx } from './nginx.js';
import { freshDatabase, requirePostgres, type Postgres } from './postgres.js';
import { requireTool } from './tools.js';
import { s3Settings, useS3Credentials } from './bucket-mode.js';
import { requireSwift, startSwift, type RunningSwift } from './swift.js';

export interface ReplicaSet extends TestServer {
  replicas: TestServer[];
  nginx: RunningNginx;
  /** Starts one more replica on the same repository (not behind nginx). */
  addReplica(env?: Record<string, string>): Promise<TestServer>;
}

/** nginx's upstream block takes one `server` per replica: the placeholder is filled with all of them. */
export function upstreamServers(ports: readonly number[]): string {
  return ports.map((port) => `127.0.0.1:${port}`).join(';\n    server ');
}

/**
 * `proxy`: each replica runs the build proxy, balanced by nginx/stream.conf (nginx.proxyPort).
 * `bucket`: S3 mode on this Swift (a fresh bucket; the caller has set its credentials):
 * each replica has its own empty folder, and nginx's volume is an empty one too.
 */
export async function startReplicas(pg: Postgres, count = 3, env: Record<string, string> = {}, options: { proxy?: boolean; bucket?: RunningSwift } = {}): Promise<ReplicaSet> {
  const root = await makeTempDir('replicas-');
  // nginx's workers run as www-data and read the artifacts from disk, as in the container.
  await chmod(root, 0o755);
  const artifactsDir = path.join(root, 'artifacts');
  await mkdir(artifactsDir, { mode: 0o755 });
  const databaseUrl = await freshDatabase(pg);
  const bucket = options.bucket ? await s3Settings(options.bucket) : null;
  let n = 0;
  const replicaEnv = (): Record<string, string> => ({
    TRUSTED_PROXIES: '127.0.0.1',
    ...env,
    DATABASE_URL: databaseUrl,
    ...(bucket ?? { ARTIFACTS_DIR: artifactsDir }),
    DATA_DIR: path.join(root, `replica-${++n}`),
  });
  const replicas: TestServer[] = [];
  const extra: TestServer[] = [];
  let nginx: RunningNginx | null = null;
  try {
    // One after the other: the first creates the schema and the master.
    const proxyPorts: number[] = [];
    for (let i = 0; i < count; i++) {
      const proxy: Record<string, string> = {};
      if (options.proxy) {
        proxyPorts.push(await freePort());
        proxy.PROXY_PORT = String(proxyPorts[proxyPorts.length - 1]);
      }
      replicas.push(await startServer({ ...replicaEnv(), ...proxy }));
    }
    const prefix = await mkdtemp(path.join(tmpdir(), 'replicas-nginx-'));
    await chmod(prefix, 0o755);
    nginx = await startNginx({
      prefix,
      upstream: upstreamServers(replicas.map((r) => r.port)),
      artifactsRoot: artifactsDir,
      mastersAllow: 'allow all;\n',
      records: 'database',
      // Bytes in a bucket: nginx fetches whole files from it (nginx/bucket.conf), as deployed.
      bucket: bucket !== null,
      ...(options.proxy ? { proxyUpstreams: proxyPorts.map((p) => `127.0.0.1:${p}`) } : {}),
    });
  } catch (err) {
    for (const r of replicas) await r.close();
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const front = nginx;
  const first = replicas[0] as TestServer;
  return {
    replicas,
    nginx: front,
    app: first.app,
    baseUrl: front.baseUrl,
    port: front.port,
    dataDir: root,
    databaseUrl,
    artifactsDir,
    tokensDir: first.tokensDir,
    get logLines() {
      return replicas.flatMap((r) => r.logLines);
    },
    // Every replica's clock moves together.
    clock: {
      get offsetMs() {
        return first.clock.offsetMs;
      },
      set offsetMs(value: number) {
        for (const r of [...replicas, ...extra]) r.clock.offsetMs = value;
      },
    },
    mint: (type = 'dpkg', project = 'hello', build = '42', ttl?: number) => mintWith(front.baseUrl, { type, project, build, ...(ttl ? { ttl } : {}) }),
    addReplica: async (more = {}) => {
      const replica = await startServer({ ...replicaEnv(), ...more });
      replica.clock.offsetMs = first.clock.offsetMs;
      extra.push(replica);
      return replica;
    },
    close: async () => {
      await front.stop();
      await rm(front.prefix, { recursive: true, force: true });
      await Promise.all([...replicas, ...extra].map((r) => r.close()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * A suite's three-replica mode: a PostgreSQL server for it; `start` makes a replica set
 * on a fresh database. Skips (under CI: fails) without PostgreSQL or nginx.
 */
export async function replicaMode(ctx: Mocha.Context, options: { bucket?: boolean } = {}): Promise<{ start(env?: Record<string, string>): Promise<ReplicaSet>; teardown(): Promise<void> }> {
  requireTool(ctx, 'nginx', 'nginx');
  const pg = await requirePostgres(ctx);
  if (options.bucket) requireSwift(ctx);
  const swift = options.bucket ? await startSwift() : null;
  const restore = swift ? useS3Credentials(swift) : null;
  return {
    start: (env = {}) => startReplicas(pg, 3, env, swift ? { bucket: swift } : {}),
    teardown: async () => {
      restore?.();
      await swift?.stop();
      await pg.remove();
    },
  };
}
