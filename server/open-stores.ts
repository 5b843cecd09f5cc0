// Where everything the repository keeps is opened: the embedded set (files in
// ARTIFACTS_DIR and TOKENS_DIR, one process) or, with DATABASE_URL, the PostgreSQL set
// (records in the database, replicas sharing the artifacts volume), and with BLOB_STORE as
// well, the tree in the database and its bytes in a bucket. The server, the admin
// CLI and the conformance suite all open stores here; only `artifact-repo migrate`
// (admin/move-to-postgres.ts) names both sets, to copy the one into the other.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { errorSummary } from './domain/errors.js';
import { ArtifactStore } from './storage/artifact-store.js';
import { ContentFiles } from './storage/content-store.js';
import { BucketContent } from './storage/pg/bucket-content.js';
import type {
  AuditTrail,
  AuthorityKeeper,
  BuildGuard,
  BuildRecords,
  ChecksumIndex,
  InputStore,
  LockStore,
  MirrorEntryStore,
  RepositorySecrets,
  ResourceRecords,
  SigningKeyStore,
  PackageCatalogue,
  JobTokenLedger,
  StoreLocation,
  TokenRecords,
  ArtifactTree,
  AptIndexStore,
  ContentStore,
} from './domain/stores.js';
import type { IncomingFiles } from './storage/incoming.js';
import { AuditFile } from './storage/audit-trail.js';
import { LocalBuildGuard } from './storage/build-guard.js';
import { BuildRecordFiles } from './storage/build-records.js';
import { ChecksumIndexFiles } from './storage/checksum-index.js';
import { MemoryLocks } from './storage/dav-locks.js';
import { InputRecordFiles } from './storage/input-records.js';
import { migrateLayout } from './storage/layout-migration.js';
import { MirrorEntryFiles } from './storage/mirror-entries.js';
import { fileKeeper } from './storage/proxy-authority.js';
import { RepositorySecretFile } from './storage/repository-secrets.js';
import { ResourceRecordFiles } from './storage/resource-records.js';
import { SigningKeyFile } from './storage/signing-keys.js';
import { PackageCatalogueFiles } from './storage/package-catalogue.js';
import { AptIndexFiles } from './storage/apt-index-files.js';
import { JobTokenLedgerFile } from './storage/job-token-ledger.js';
import { TokenFile } from './storage/token-records.js';
import { PgAuditTrail } from './storage/pg/audit-trail.js';
import { pgAuthorityKeeper } from './storage/pg/authority-keeper.js';
import { PgBuildGuard } from './storage/pg/build-guard.js';
import { PgBuildRecords } from './storage/pg/build-records.js';
import { Database, type HeldLock } from './storage/pg/database.js';
import { PgLocks } from './storage/pg/dav-locks.js';
import { PgInputRecords } from './storage/pg/input-records.js';
import { PgMirrorEntries } from './storage/pg/mirror-entries.js';
import { DEPARTED_AFTER_MS, Replicas } from './storage/pg/replicas.js';
import { PgRepositorySecrets } from './storage/pg/repository-secrets.js';
import { importVolumeRecords, PgChecksumIndex, PgResourceRecords } from './storage/pg/resource-records.js';
import { PgSigningKeys } from './storage/pg/signing-keys.js';
import { PgPackageCatalogue } from './storage/pg/package-catalogue.js';
import { PgJobTokenLedger } from './storage/pg/job-token-ledger.js';
import { PgTokenRecords } from './storage/pg/token-records.js';
import { BucketTree } from './storage/pg/bucket-tree.js';
import { PgAptIndexes } from './storage/pg/apt-indexes.js';
import { S3BlobStore } from './storage/s3-blobs.js';

// A bucket's housekeeping: an upload begun this long ago by a live replica is abandoned;
// a blob nothing refers to is kept this long (a download that opened it is still reading),
// then deleted, at most GC_BATCHES × GC_BATCH per run.
const ABANDONED_UPLOAD_MS = 24 * 3600_000;
const UNREFERENCED_GRACE_MS = 3600_000;
const GC_BATCH = 500;
const GC_BATCHES = 8;

export interface StoreOptions {
  logger: Pick<Logger, 'warn' | 'error'>;
  now?: () => number;
  /** How long a replica's hold on a build's writes lasts unrenewed (the conformance suite shortens it). */
  writeLeaseMs?: number;
}

export type { HeldLock } from './storage/pg/database.js';
/** How often a replica says it is alive. */
export { HEARTBEAT_MS } from './storage/pg/replicas.js';

/** With DATABASE_URL: this process among the replicas that share the database. */
export interface Cluster {
  replicaId: string;
  /** Says this replica is alive, and keeps its membership (a restart of the database ended the session that held it). */
  heartbeat(): Promise<void>;
  /** The lock whoever runs the scheduled work holds. */
  leaderLock(): HeldLock;
  /** Runs work while no other replica runs work under the same name. */
  alone<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** Clears what replicas gone for good left: their temporary files and set-aside records. */
  sweepDeparted(): Promise<void>;
}

/** Everything the repository keeps, each behind the interface named for what it keeps (domain/stores.ts). */
export interface Stores {
  /** The artifact tree: folders and files, and their bytes. */
  tree: ArtifactTree;
  /** This process's temporary files, on its own volume: what every store writes through. */
  incoming: IncomingFiles;
  /** Bodies named by their SHA-256: what recordings and the mirror refer to. */
  content: ContentStore;
  resources: ResourceRecords;
  checksums: ChecksumIndex;
  builds: BuildRecords;
  guard: BuildGuard;
  tokens: TokenRecords;
  audit: AuditTrail;
  inputs: InputStore;
  mirror: MirrorEntryStore;
  secrets: RepositorySecrets;
  signingKeys: SigningKeyStore;
  /** What sealed builds hold for apt and pip. */
  packages: PackageCatalogue;
  /** The projects' apt indexes, as files (served by the app, or by nginx). */
  aptIndexes: AptIndexStore;
  /** The OpenID job tokens that minted (each mints once). */
  jobTokens: JobTokenLedger;
  locks: LockStore;
  authority: AuthorityKeeper;
  cluster: Cluster | null;
  close(): Promise<void>;
}

export async function openStores(location: StoreLocation, options: StoreOptions): Promise<Stores> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const auditFailed = (err: unknown): void => logger.error({ err: errorSummary(err) }, 'audit trail write failed');
  const opened = location.databaseUrl ? await openDatabase(location.databaseUrl) : null;
  const db = opened?.db ?? null;
  const replicas = db ? new Replicas(db, `r-${randomBytes(6).toString('hex')}`) : null;
  await replicas?.register();
  const files = new ArtifactStore(location.artifactsDir, replicas?.id ?? null);
  const { staleRemoved } = await files.init();
  if (staleRemoved > 0) logger.warn({ removed: staleRemoved }, 'removed unfinished uploads left by a previous process');
  const migrated = await migrateLayout(location.artifactsDir, files.incoming);
  if (migrated) logger.warn(migrated, 'metadata converted to the current layout');
  const content = new ContentFiles(location.artifactsDir, files.incoming);
  if (!db || !replicas || !opened) {
    const guard = new LocalBuildGuard();
    const audit = new AuditFile(location.tokensDir, now, auditFailed);
    const inputs = new InputRecordFiles(location.artifactsDir);
    return {
      tree: files,
      incoming: files.incoming,
      content,
      resources: new ResourceRecordFiles(location.artifactsDir, files.incoming),
      checksums: new ChecksumIndexFiles(location.artifactsDir, files.incoming),
      builds: new BuildRecordFiles(location.artifactsDir, files.incoming),
      guard,
      tokens: await TokenFile.open(location.tokensDir),
      audit,
      inputs,
      mirror: new MirrorEntryFiles(location.artifactsDir, files.incoming),
      secrets: new RepositorySecretFile(location.tokensDir),
      signingKeys: new SigningKeyFile(location.tokensDir),
      packages: new PackageCatalogueFiles(location.artifactsDir, files.incoming),
      aptIndexes: new AptIndexFiles(location.artifactsDir, files.incoming),
      jobTokens: new JobTokenLedgerFile(location.tokensDir),
      locks: new MemoryLocks(),
      authority: fileKeeper(location.tokensDir),
      cluster: null,
      close: async () => {
        audit.close();
        inputs.close();
        await guard.close();
      },
    };
  }
  // Records an older version kept on the volume are copied in, once per database.
  const imported = await importVolumeRecords(db, new ResourceRecordFiles(location.artifactsDir, files.incoming));
  if (imported) logger.warn({ resources: imported }, 'checksum records and dead properties copied from the artifacts volume into the database');
  const resources = new PgResourceRecords(db, replicas.id);
  // BLOB_STORE: the tree in the database, its bytes in the bucket; this volume keeps only this replica's temporary files.
  const blobs = location.blobStore ? S3BlobStore.open(location.blobStore) : null;
  const bucketTree = blobs ? new BucketTree(db, blobs, files.incoming, replicas.id, { now }) : null;
  const bucketContent = blobs ? new BucketContent(db, blobs, files.incoming, replicas.id) : null;
  const guard = new PgBuildGuard(db, replicas.id, options.writeLeaseMs);
  const audit = new PgAuditTrail(db, auditFailed);
  return {
    tree: bucketTree ?? files,
    incoming: files.incoming,
    content: bucketContent ?? content,
    resources,
    checksums: new PgChecksumIndex(db),
    builds: new PgBuildRecords(db),
    guard,
    tokens: new PgTokenRecords(db),
    audit,
    inputs: new PgInputRecords(db),
    mirror: new PgMirrorEntries(db),
    secrets: new PgRepositorySecrets(db),
    signingKeys: new PgSigningKeys(db),
    packages: new PgPackageCatalogue(db),
    // With no shared volume, the apt indexes are rows too (nginx's alias finds nothing and asks the app).
    aptIndexes: bucketTree ? new PgAptIndexes(db) : new AptIndexFiles(location.artifactsDir, files.incoming),
    jobTokens: new PgJobTokenLedger(db),
    locks: new PgLocks(db),
    authority: pgAuthorityKeeper(db),
    cluster: {
      replicaId: replicas.id,
      async heartbeat() {
        await replicas.beat().catch(() => undefined);
        await opened.membership.keep();
      },
      leaderLock: () => db.leaderLock(),
      alone: (name, work) => db.withLock(name, work),
      async sweepDeparted() {
        // Each step on its own: one that fails (a permission the bucket lacks) must not stop the others.
        const step = async (what: string, work: () => Promise<unknown>): Promise<void> => {
          await work().catch((err: unknown) => logger.error({ err: errorSummary(err) }, `housekeeping: ${what} failed`));
        };
        await step('clearing departed replicas\' temporary files', () => files.incoming.sweepDeparted(() => replicas.alive(), DEPARTED_AFTER_MS));
        const alive = [...(await replicas.alive())];
        await step('clearing departed replicas\' set-aside records', () => resources.sweepDeparted(new Set(alive)));
        if (bucketTree) {
          await step('aborting abandoned uploads to the bucket', () => bucketTree.sweepUploads(alive, ABANDONED_UPLOAD_MS));
          await step('aborting abandoned uploads of bodies', async () => bucketContent?.sweepUploads(alive, ABANDONED_UPLOAD_MS));
          await step('clearing departed replicas\' set-aside folders', () => bucketTree.sweepAsides(alive));
          // Bounded per run: the leader runs this every minute.
          await step('deleting unreferenced blobs', async () => {
            for (let i = 0; i < GC_BATCHES && (await bucketTree.collectGarbage({ graceMs: UNREFERENCED_GRACE_MS, batch: GC_BATCH })) === GC_BATCH; i++);
          });
        }
        await replicas.prune();
      },
    },
    close: async () => {
      audit.close();
      await guard.close();
      await replicas.leave();
      await db.close();
      blobs?.close();
    },
  };
}

/** The database of DATABASE_URL, migrated; refused while `artifact-repo migrate` fills it. */
async function openDatabase(url: string): Promise<{ db: Database; membership: HeldLock }> {
  let db: Database;
  try {
    db = await Database.open(url);
  } catch (err) {
    throw new Error(`DATABASE_URL: the database cannot be opened (${errorSummary(err)})`);
  }
  const membership = db.replicaLock(true);
  if (!(await membership.take())) {
    await db.close();
    throw new Error('DATABASE_URL: artifact-repo migrate is copying a repository into this database; start the server once it is done');
  }
  return { db, membership };
}
