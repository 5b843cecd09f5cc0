// The repository without its HTTP edge: storage, builds, tokens, audit trail, retention
// and housekeeping, wired once. The server (app.ts) puts HTTP in front of it; the admin
// CLI opens it directly when no server is running.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { ArtifactStore } from './storage/artifact-store.js';
import { MetaStore } from './storage/meta-store.js';
import { Catalog } from './storage/catalog.js';
import { ChecksumIndex } from './storage/checksum-index.js';
import { Builds } from './storage/builds.js';
import { BuildRecords } from './storage/build-records.js';
import { ContentStore } from './storage/content-store.js';
import { InputRecordFiles, summariseInputs, type InputStore } from './storage/input-records.js';
import { MirrorEntryFiles } from './storage/mirror-entries.js';
import { Mirror } from './mirror/mirror.js';
import { migrateLayout } from './storage/migrate.js';
import { errorSummary } from './domain/errors.js';
import { LockManager } from './webdav/lock-manager.js';
import { TokenFile, type TokenRecords } from '../token-service/store.js';
import { Database } from './storage/pg/database.js';
import { PgTokenRecords } from './storage/pg/token-records.js';
import { PgAuditTrail } from './storage/pg/audit-trail.js';
import { PgInputRecords } from './storage/pg/input-records.js';
import { PgMirrorEntries } from './storage/pg/mirror-entries.js';
import { pgAuthorityKeeper } from './storage/pg/authority-keeper.js';
import { fileKeeper, type AuthorityKeeper } from './proxy/authority.js';
import { TokenService } from '../token-service/token-service.js';
import { AuditFile, type AuditTrail } from './audit/audit-log.js';
import { fanOut, type EventSink } from './domain/events.js';
import { Retention } from './retention/retention.js';
import { scopeSegments } from './domain/tree-path.js';
import { Gate } from './gate.js';

export interface RepositoryOptions {
  logger: Logger;
  now?: () => number;
  /** false turns the argon2 proof cache off (for measuring what it saves). */
  cacheProofs?: boolean;
  /** Also told of every event (the metrics). */
  onEvent?: EventSink;
  /**
   * Create or update MASTER_USER from the configuration (the server does). The admin CLI
   * does not: it must never generate a master password nobody sees.
   */
  provisionMaster?: boolean;
}

export interface Repository {
  config: Config;
  store: ArtifactStore;
  meta: MetaStore;
  catalog: Catalog;
  builds: Builds;
  /** Bodies by checksum: what builds downloaded through the build proxy. */
  content: ContentStore;
  /** Each build's recorded inputs. */
  inputs: InputStore;
  /** Declared external files and images, kept for ever (the server fetches them). */
  mirror: Mirror;
  /** Removes from the content store every body no build (and no mirror entry) refers to. */
  sweepContent(): Promise<number>;
  tokens: TokenService;
  locks: LockManager;
  audit: AuditTrail;
  retention: Retention;
  /** Where every event goes: the audit trail and whoever else asked. */
  emit: EventSink;
  pageGate: Gate;
  compareGate: Gate;
  /** After a revoke: whether the build is sealed now, still being sealed, or still open. */
  sealStatus(scope: string): Promise<'sealed' | 'pending' | 'open'>;
  /** Set when no master existed and none was configured: show it once. */
  generatedMasterPassword: string | null;
  /** Where the build proxy's certificate authority is kept: the tokens volume, or the database. */
  authorityKeeper: AuthorityKeeper;
  /** Closes the database connections, if any (after the servers have stopped). */
  close(): Promise<void>;
  /** Starts the timers (token purge, .incoming sweep, failed seals, retention). */
  startHousekeeping(): void;
  stopHousekeeping(): void;
}

const PURGE_EVERY_MS = 60_000;
// A revoke answers once its build is sealed, or after this long with the seal still going.
const SEAL_WAIT_MS = 5_000;

export async function openRepository(config: Config, options: RepositoryOptions): Promise<Repository> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const store = new ArtifactStore(config.artifactsDir);
  const { staleRemoved } = await store.init();
  if (staleRemoved > 0) logger.warn({ removed: staleRemoved }, 'removed unfinished uploads left by a previous process');
  const migrated = await migrateLayout(config.artifactsDir, store);
  if (migrated) logger.warn(migrated, 'metadata converted to the current layout');
  const db = config.databaseUrl ? await openDatabase(config.databaseUrl) : null;
  const tokenStore: TokenRecords = db ? new PgTokenRecords(db) : await TokenFile.open(config.tokensDir);
  const auditFailed = (err: unknown): void => logger.error({ err: errorSummary(err) }, 'audit trail write failed');
  const audit: AuditTrail = db ? new PgAuditTrail(db, auditFailed) : new AuditFile(config.tokensDir, now, auditFailed);
  const emit = fanOut((event) => audit.record(event), ...(options.onEvent ? [options.onEvent] : []));
  const meta = new MetaStore(config.artifactsDir, store);
  const buildRecords = new BuildRecords(config.artifactsDir, store);
  const content = new ContentStore(config.artifactsDir, store);
  const inputs: InputStore = db ? new PgInputRecords(db) : new InputRecordFiles(config.artifactsDir);
  const mirror = await Mirror.open(db ? new PgMirrorEntries(db) : new MirrorEntryFiles(config.artifactsDir, store), emit, now);
  const catalog = new Catalog(store, meta, new ChecksumIndex(config.artifactsDir, store));
  // The token service and the builds know each other: a token's end may seal its build,
  // and sealing asks whether a live token is left.
  let builds: Builds | null = null;
  const tokens = new TokenService(tokenStore, {
    now,
    cacheProofs: options.cacheProofs ?? config.proofCache,
    masterFailureLimit: config.masterFailureLimit,
    masterLockoutMs: config.masterLockoutSeconds * 1000,
    tokenFailureLimit: config.tokenFailureLimit,
    tokenLockoutMs: config.tokenLockoutSeconds * 1000,
    // argon2 runs in the thread pool that file I/O uses: two at a time leave it room,
    // and a flood of guesses waits in a bounded queue, then gets 503.
    verificationLimit: new Gate('credential checks', 2, 64),
    onEvent: emit,
    afterTokenEnded: async (token, how) => {
      logger.info({ token: token.id, scope: token.scope, how }, 'token ended');
      // The answer waits for the seal a little; a seal held up by uploads in flight goes on.
      const sealing = seal(token.scope);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sealing, new Promise((resolve) => (timer = setTimeout(resolve, SEAL_WAIT_MS)))]);
      clearTimeout(timer);
    },
  });
  builds = new Builds(store, meta, buildRecords, catalog, inputs, (scope) => tokens.tokenCounts(scope), now, config.sealGraceSeconds * 1000);
  // Seals that failed (a full disk, say) are tried again by the housekeeping timer, also
  // after a restart: they are recorded in the build's record, and builds whose tokens have
  // all ended are in the token store, on the other volume, should that record have failed.
  const sealsToRetry = new Set<string>([...(await builds.pendingSeals()), ...(await tokens.scopesWithOnlyEndedTokens())]);
  async function seal(scope: string): Promise<void> {
    try {
      const result = await (builds as Builds).sealIfUnused(scope);
      if (result.outcome === 'sealed' && result.state) {
        logger.info({ scope }, 'build sealed');
        emit({ event: 'build.sealed', build: scope, files: result.state.files, bytes: result.state.bytes });
        const recorded = summariseInputs(await inputs.read(scopeSegments(scope)));
        if (recorded.exchanges.length + recorded.misses.length > 0) emit({ event: 'build.inputs', build: scope, exchanges: recorded.exchanges.length, misses: recorded.misses.length });
      }
      if (result.outcome === 'pending') {
        sealsToRetry.add(scope);
        logger.error({ scope, reason: result.reason }, 'sealing failed; will retry');
      } else sealsToRetry.delete(scope);
    } catch (err) {
      sealsToRetry.add(scope);
      logger.error({ scope, reason: errorSummary(err) }, 'sealing failed; will retry');
    }
  }
  let generatedPassword: string | null = null;
  if (options.provisionMaster !== false) {
    const provisioned = await tokens.provisionMaster(config.masterUser, config.masterPassword);
    generatedPassword = provisioned.generatedPassword;
    if (provisioned.removedByAdmin) logger.warn({ master: config.masterUser }, 'MASTER_USER was removed with the admin CLI and is not created again; add it back with: artifact-repo master add NAME');
  }
  await tokens.purge();
  // Bodies go once nothing refers to them: marked from every recording, then every body
  // not marked and not written or used since the marking began is removed.
  async function sweepContent(): Promise<number> {
    const started = now();
    const keep = mirror.keeps();
    for (const build of await inputs.all()) for (const line of await inputs.read(build)) if (line.kind === 'exchange') keep.add(line.sha256);
    return content.sweep(keep, started - 1000);
  }
  const retention = new Retention(builds, config.retentionPolicy, emit, now, sweepContent);

  const timers: NodeJS.Timeout[] = [];
  function runRetention(): void {
    retention
      .run({ dryRun: false, by: 'retention schedule' })
      .then((report) => {
        if (report.deleted.length > 0) logger.info({ deleted: report.deleted.map((d) => d.build), kept: report.kept }, 'retention removed builds');
      })
      .catch((err: unknown) => logger.error({ err: String(err) }, 'retention run failed'));
  }
  return {
    config,
    store,
    meta,
    catalog,
    builds,
    content,
    inputs,
    mirror,
    sweepContent,
    tokens,
    locks: new LockManager(now, (id) => tokens.isLive(id)),
    audit,
    retention,
    emit,
    pageGate: new Gate('listings', 8, 64),
    compareGate: new Gate('compares', 2, 8),
    async sealStatus(scope) {
      const record = await (builds as Builds).record(scopeSegments(scope));
      if (record.sealed) return 'sealed';
      return record.sealPending || sealsToRetry.has(scope) ? 'pending' : 'open';
    },
    generatedMasterPassword: generatedPassword,
    startHousekeeping() {
      // End expired tokens, and clear `.incoming` of anything no operation of this process
      // owns (what a crash or a bug left behind).
      timers.push(
        setInterval(() => {
          tokens.purge().catch((err: unknown) => logger.error({ err: String(err) }, 'token purge failed'));
          store.sweepIncoming().catch((err: unknown) => logger.error({ err: String(err) }, 'sweep of .incoming failed'));
          for (const scope of sealsToRetry) void seal(scope);
          db?.keepSoleReplica().then(
            (ours) => ours || logger.error('another server took this database while it was unreachable: stop one of them (one server per database)'),
            () => undefined,
          );
        }, PURGE_EVERY_MS),
      );
      // Seals a previous process left pending are tried at once.
      for (const scope of sealsToRetry) void seal(scope);
      if (config.retentionPolicy && config.retentionIntervalSeconds > 0) timers.push(setInterval(runRetention, config.retentionIntervalSeconds * 1000));
      for (const timer of timers) timer.unref();
    },
    stopHousekeeping() {
      for (const timer of timers.splice(0)) clearInterval(timer);
    },
    authorityKeeper: db ? pgAuthorityKeeper(db) : fileKeeper(config.tokensDir),
    close: async () => {
      await db?.close();
    },
  };
}

/** The database of DATABASE_URL, migrated and held by this process alone (see claimSoleReplica). */
async function openDatabase(url: string): Promise<Database> {
  let db: Database;
  try {
    db = await Database.open(url);
  } catch (err) {
    throw new Error(`DATABASE_URL: the database cannot be opened (${errorSummary(err)})`);
  }
  if (!(await db.claimSoleReplica())) {
    await db.close();
    throw new Error('DATABASE_URL: another server already uses this database; this version runs one server per database');
  }
  return db;
}
