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
import { LockManager } from './webdav/lock-manager.js';
import { TokenStore } from '../token-service/store.js';
import { TokenService } from '../token-service/token-service.js';
import { AuditLog } from './audit/audit-log.js';
import { fanOut, type EventSink } from './domain/events.js';
import { Retention } from './retention/retention.js';

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
  tokens: TokenService;
  locks: LockManager;
  audit: AuditLog;
  retention: Retention;
  /** Where every event goes: the audit trail and whoever else asked. */
  emit: EventSink;
  /** Set when no master existed and none was configured: show it once. */
  generatedMasterPassword: string | null;
  /** Starts the timers (token purge, .incoming sweep, failed seals, retention). */
  startHousekeeping(): void;
  stopHousekeeping(): void;
}

const PURGE_EVERY_MS = 60_000;

export async function openRepository(config: Config, options: RepositoryOptions): Promise<Repository> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const store = new ArtifactStore(config.artifactsDir);
  const { staleRemoved } = await store.init();
  if (staleRemoved > 0) logger.warn({ removed: staleRemoved }, 'removed unfinished uploads left by a previous process');
  const tokenStore = await TokenStore.open(config.tokensDir);
  const audit = new AuditLog(config.tokensDir, now, (err) => logger.error({ err: String(err) }, 'audit trail write failed'));
  const emit = fanOut((event) => audit.record(event), ...(options.onEvent ? [options.onEvent] : []));
  const meta = new MetaStore(config.artifactsDir, store);
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
    onEvent: emit,
    afterTokenEnded: async (token, how) => {
      logger.info({ token: token.id, scope: token.scope, how }, 'token ended');
      await sealOrRetryLater(token.scope);
    },
  });
  builds = new Builds(store, meta, catalog, (scope) => tokens.liveTokenCount(scope), now);
  // A build whose sealing failed (a full disk, say) is tried again by the housekeeping timer.
  const sealsToRetry = new Set<string>();
  async function sealOrRetryLater(scope: string): Promise<void> {
    try {
      const sealed = await builds?.sealIfUnused(scope);
      if (sealed) {
        logger.info({ scope }, 'build sealed');
        emit({ event: 'build.sealed', build: scope, files: sealed.files, bytes: sealed.bytes });
      }
      sealsToRetry.delete(scope);
    } catch (err) {
      sealsToRetry.add(scope);
      logger.error({ scope, err: String(err) }, 'sealing failed; will retry');
    }
  }
  let generatedPassword: string | null = null;
  if (options.provisionMaster !== false) {
    const provisioned = await tokens.provisionMaster(config.masterUser, config.masterPassword);
    generatedPassword = provisioned.generatedPassword;
    if (provisioned.removedByAdmin) logger.warn({ master: config.masterUser }, 'MASTER_USER was removed with the admin CLI and is not created again; add it back with: artifact-repo master add NAME');
  }
  await tokens.purge();
  const retention = new Retention(builds, config.retentionPolicy, emit, now);

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
    tokens,
    locks: new LockManager(now, (id) => tokens.isLive(id)),
    audit,
    retention,
    emit,
    generatedMasterPassword: generatedPassword,
    startHousekeeping() {
      // End expired tokens, and clear `.incoming` of anything no operation of this process
      // owns (what a crash or a bug left behind).
      timers.push(
        setInterval(() => {
          tokens.purge().catch((err: unknown) => logger.error({ err: String(err) }, 'token purge failed'));
          store.sweepIncoming().catch((err: unknown) => logger.error({ err: String(err) }, 'sweep of .incoming failed'));
          for (const scope of sealsToRetry) void sealOrRetryLater(scope);
        }, PURGE_EVERY_MS),
      );
      if (config.retentionPolicy && config.retentionIntervalSeconds > 0) timers.push(setInterval(runRetention, config.retentionIntervalSeconds * 1000));
      for (const timer of timers) timer.unref();
    },
    stopHousekeeping() {
      for (const timer of timers.splice(0)) clearInterval(timer);
    },
  };
}
