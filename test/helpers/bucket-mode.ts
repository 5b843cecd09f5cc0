// A suite's S3 mode (issue 32): every server it starts keeps its tree in a fresh
// PostgreSQL database and its bytes in a fresh bucket of a real OpenStack Swift (s3api),
// both started by the test on loopback; the server's own folder holds only its temporary
// files. The AWS SDK finds the credentials where it always does: the environment.
import { rm } from 'node:fs/promises';
import { Database } from '../../server/storage/pg/database.js';
import { S3BlobStore } from '../../server/storage/s3-blobs.js';
import { requireCeph, startCeph } from './ceph.js';
import type { RunningS3 } from './daemons.js';
import { makeTempDir, useStoreSettings } from './harness.js';
import { freshDatabase, requirePostgres, type Postgres } from './postgres.js';
import { requireSwift, startSwift, type RunningSwift } from './swift.js';

let buckets = 0;

/** The settings of S3 mode on a fresh bucket of this Swift (the database is the caller's). */
export async function s3Settings(swift: RunningSwift): Promise<Record<string, string>> {
  return {
    BLOB_STORE: `s3://${await swift.bucket(`repo-${process.pid}-${++buckets}`)}/tree`,
    S3_ENDPOINT: swift.endpoint,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/** Gives the AWS SDK this server's credentials through the environment, as an operator would; returns what puts the old ones back. */
export function useS3Credentials(swift: RunningSwift): () => void {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = swift.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = swift.secretAccessKey;
  return () => {
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

/** Turns S3 mode on; returns what turns it off (and stops PostgreSQL and Swift). */
export async function bucketMode(ctx: Mocha.Context): Promise<{ swift: RunningSwift; teardown: () => Promise<void> }> {
  const postgres = await requirePostgres(ctx);
  requireSwift(ctx);
  const swift = await startSwift();
  const restore = useS3Credentials(swift);
  useStoreSettings(async () => ({ DATABASE_URL: await freshDatabase(postgres), ...(await s3Settings(swift)) }));
  return {
    swift,
    teardown: async () => {
      useStoreSettings(null);
      restore();
      await swift.stop();
      await postgres.remove();
    },
  };
}

// ---- the bucket backends of the storage conformance suites ----

/** An S3 server a conformance suite's bucket backend runs on. */
export interface S3ServerKind {
  name: string;
  require(ctx: Mocha.Context): void;
  /** The one server of this kind, started by the first suite that needs it. */
  start(): Promise<RunningS3>;
}

let sharedPostgres: Postgres | null = null;
let sharedSwift: RunningSwift | null = null;
let sharedCeph: RunningS3 | null = null;

export const SWIFT_SERVER: S3ServerKind = { name: 'OpenStack Swift', require: requireSwift, start: async () => (sharedSwift ??= await startSwift()) };
export const CEPH_SERVER: S3ServerKind = { name: 'Ceph RGW', require: requireCeph, start: async () => (sharedCeph ??= await startCeph()) };

/**
 * What a store over a bucket stands on in a conformance suite: a fresh database, a fresh
 * bucket on `server` (its blob store below 'repo/'), and a temporary folder; close() lets
 * go of the database and the folder (the servers are stopped by stopBucketServers).
 */
export async function bucketBackend(ctx: Mocha.Context, server: S3ServerKind, label: string): Promise<{ db: Database; s3: RunningS3; blobs: S3BlobStore; dir: string; close(): Promise<void> }> {
  server.require(ctx);
  sharedPostgres ??= await requirePostgres(ctx);
  const s3 = await server.start();
  const db = await Database.open(await freshDatabase(sharedPostgres));
  const name = await s3.bucket(`${label}-${Math.random().toString(36).slice(2, 8)}`);
  const dir = await makeTempDir(`${label}-temp-`);
  return {
    db,
    s3,
    blobs: new S3BlobStore({ client: s3.client, bucket: name, prefix: 'repo/' }),
    dir,
    close: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Stops the servers bucketBackend started (each suite's root `after` calls it; the first to run stops them). */
export async function stopBucketServers(): Promise<void> {
  await sharedSwift?.stop();
  sharedSwift = null;
  await sharedCeph?.stop();
  sharedCeph = null;
  await sharedPostgres?.remove();
  sharedPostgres = null;
}
