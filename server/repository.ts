// The repository without its HTTP edge: storage, builds, tokens, audit trail, retention
// and housekeeping, wired once. The server (app.ts) puts HTTP in front of it; the admin
// CLI opens it directly when no server is running.
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { Signer } from './services/signer.js';
import { provenanceChecker } from './services/provenance-check.js';
import { PROVENANCE_FILE } from './domain/seal-files.js';
import { parseSums } from './domain/provenance.js';
import { Catalog } from './services/catalog.js';
import { Builds, type SealSigner } from './services/builds.js';
import { Packages } from './services/packages.js';
import type { Fetch } from './services/mirror.js';
import { InputRecorder } from './services/recorder.js';
import { UNBOUNDED } from './domain/recording-lines.js';
import { type RecordingLimits } from './domain/stores.js';
import { addRecordedBodies, countInputs, dependenciesOf } from './services/input-reading.js';
import { HEARTBEAT_MS, openStores, type HeldLock } from './open-stores.js';
import { keyedHash, newSecret, RECORDING_HASH_SECRET } from './domain/keyed-hash.js';
import { Mirror } from './services/mirror.js';
import { errorSummary } from './domain/errors.js';
import { LockManager } from './services/lock-manager.js';
import { TokenService } from '../token-service/token-service.js';
import { fanOut, type EventSink } from './domain/events.js';
import { Retention } from './services/retention.js';
import { scopeSegments, scopeString } from './domain/tree-path.js';
import { Gate } from './domain/gate.js';
import type { Services } from './services/services.js';

export interface RepositoryOptions {
  logger: Logger;
  now?: () => number;
  /** false turns the argon2 proof cache off (for measuring what it saves). */
  cacheProofs?: boolean;
  /** Also told of every event (the metrics). */
  onEvent?: EventSink;
  /** Told of each run of a scheduled job here (the metrics). */
  onJob?: (job: 'expiry' | 'retention') => void;
  /**
   * Create or update MASTER_USER from the configuration (the server does). The admin CLI
   * does not: it must never generate a master password nobody sees.
   */
  provisionMaster?: boolean;
}

const PURGE_EVERY_MS = 60_000;
// How soon another replica takes over the scheduled work of one that died.
const LEADER_CHECK_MS = 5_000;
// A revoke answers once its build is sealed, or after this long with the seal still going.
const SEAL_WAIT_MS = 5_000;

/** The repository as the composition root holds it: the services, and their life. */
export interface Repository extends Services {
  /** Set when no master existed and none was configured: show it once. */
  generatedMasterPassword: string | null;
  /** Closes the database connections, if any (after the servers have stopped). */
  close(): Promise<void>;
  /**
   * Starts the timers (token purge, .incoming sweep, failed seals, retention) and the
   * mirror's downloads: with DATABASE_URL, on the one replica that holds the leader lock.
   */
  startHousekeeping(mirrorFetch: Fetch): void;
  /** This process's replica id with DATABASE_URL (null: embedded). */
  replicaId: string | null;
  /** Whether this process runs the scheduled work now. */
  isLeader(): boolean;
  stopHousekeeping(): void;
}

export async function openRepository(config: Config, options: RepositoryOptions): Promise<Repository> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const stores = await openStores(config, { logger, now });
  const { tree: store, incoming, content, resources: meta, inputs, audit, cluster } = stores;
  const tokenStore = stores.tokens;
  const emit = fanOut((event) => audit.record(event), ...(options.onEvent ? [options.onEvent] : []));
  const inputLimits: RecordingLimits = { maxLines: config.inputs.maxLines, maxBytes: config.inputs.maxBytes };
  const recordingHash = keyedHash(await stores.secrets.getOrCreate(RECORDING_HASH_SECRET, newSecret));
  const mirror = await Mirror.open(stores.mirror, emit, now, cluster ? { alone: (work) => cluster.alone('mirror', work) } : undefined);
  const catalog = new Catalog(store, meta, stores.checksums);
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
  // The sealed builds' index is read once (an embedded repository reads every build record):
  // begun now, in the background, rather than by the first visitor of the front page.
  stores.builds.sealedBuilds({ limit: 1 }).catch(() => undefined);
  const signer = await Signer.open(stores.signingKeys, now);
  // What the repository saw of a build, signed at its seal: the outputs it stored, the
  // masters that minted its tokens, and what it downloaded through the build proxy.
  const signSeal: SealSigner = async (build, sums, sealedAt) => {
    const scope = scopeString(build);
    const minted = await tokenStore.tokensOf(scope);
    const depended = await dependenciesOf(inputs, build, inputLimits);
    return signer.sealFiles(
      sums,
      {
        publicUrl: config.publicUrl?.href ?? null,
        build: scope,
        mintedBy: minted.map((t) => t.created_by),
        replayOf: minted.flatMap((t) => (t.replay ? [t.replay] : [])),
        outputs: parseSums(sums),
        // What the build depended on: bodies it got (a POST's answer or a 404 is not an input).
        inputs: depended.inputs,
        inputsTruncated: depended.truncated,
        meta: (await stores.builds.get(build)).meta ?? null,
        startedOn: minted.map((t) => t.created_at).sort()[0] ?? null,
        finishedOn: sealedAt,
      },
      recordingHash,
    );
  };
  const packages = new Packages(store, stores.packages, stores.aptIndexes, signer, (key, work) => stores.guard.exclusive(key, work), now, (project, err) =>
    logger.error({ project, reason: errorSummary(err) }, 'writing the apt indexes failed; tried again in a minute'),
  );
  builds = new Builds(store, meta, stores.builds, stores.guard, catalog, inputs, (scope) => tokens.tokenCounts(scope), now, config.sealGraceSeconds * 1000, signSeal, packages);
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
        // Its project's apt repository follows (written again every minute until it could be).
        await packages.sealed(scopeSegments(scope)).catch((err: unknown) => logger.error({ scope, reason: errorSummary(err) }, 'writing the apt indexes failed'));
        const recorded = await countInputs(inputs, scopeSegments(scope), inputLimits);
        if (recorded.exchanges + recorded.misses + recorded.partials > 0) emit({ event: 'build.inputs', build: scope, exchanges: recorded.exchanges, misses: recorded.misses, partials: recorded.partials });
        // What its provenance says, read once now in the checking thread: a compare of the new build does not wait for it.
        void signer
          .publicKeys()
          .then((keys) => provenanceChecker.digests(store, [...scopeSegments(scope), PROVENANCE_FILE], keys.map((k) => k.key)))
          .catch(() => undefined);
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
    // Every line of every recording, whatever today's limits: a body any of them names stays.
    for (const build of await inputs.all()) await addRecordedBodies(inputs, build, UNBOUNDED, keep);
    return content.sweep(keep, started - 1000);
  }
  const retention = new Retention(builds, config.retentionPolicy, emit, now, sweepContent);

  const timers: NodeJS.Timeout[] = [];
  // Embedded: this process is the only one. With a database: whoever holds the leader lock.
  const leadership: HeldLock | null = cluster?.leaderLock() ?? null;
  let leading = leadership === null;
  let fetchMirror: Fetch | null = null;
  let retrying = false;
  /** Seals due, one after the other: each may wait for a build's writes, holding a lock connection. */
  async function retrySeals(): Promise<void> {
    if (retrying) return;
    retrying = true;
    try {
      for (const scope of [...sealsToRetry]) await seal(scope);
    } finally {
      retrying = false;
    }
  }
  let ticks = 0;
  /** Work only one replica does, including the seals any replica left undone. */
  async function scheduledWork(takingOver = false): Promise<void> {
    options.onJob?.('expiry');
    tokens.purge().catch((err: unknown) => logger.error({ err: String(err) }, 'token purge failed'));
    stores.jobTokens.purge(new Date(now()).toISOString()).catch((err: unknown) => logger.error({ err: String(err) }, 'purge of used job tokens failed'));
    if (cluster) {
      cluster.sweepDeparted().catch((err: unknown) => logger.error({ err: String(err) }, 'sweep of departed replicas failed'));
      // Seals that failed on another replica: recorded as pending, or (should even that
      // have failed) builds whose tokens have all ended.
      for (const scope of await (builds as Builds).pendingSeals().catch(() => [] as string[])) sealsToRetry.add(scope);
      // (Every token of the last week is read for that: at takeover, then every ten runs.)
      if (takingOver || ++ticks % 10 === 0) {
        for (const scope of await tokens.scopesWithOnlyEndedTokens().catch(() => [] as string[])) {
          if (!(await (builds as Builds).isSealed(scopeSegments(scope)).catch(() => true))) sealsToRetry.add(scope);
        }
      }
    }
    void retrySeals();
  }
  async function checkLeadership(): Promise<void> {
    if (!leadership) return;
    const now = await leadership.keep();
    if (now === leading) return;
    leading = now;
    if (now) {
      logger.info({ replica: cluster?.replicaId }, 'this replica runs the scheduled work now');
      if (fetchMirror) mirror.start(fetchMirror);
      void refreshAptIndexes();
      await scheduledWork(true);
    } else {
      logger.warn({ replica: cluster?.replicaId }, 'another replica runs the scheduled work now');
      await mirror.pause();
    }
  }
  /** Every project's apt indexes written again: a crash may have come between a seal and its project's index. */
  async function refreshAptIndexes(): Promise<void> {
    await packages.refreshAll((project, err) => logger.error({ project, reason: errorSummary(err) }, 'writing the apt indexes failed'), true).catch(() => undefined);
  }
  function runRetention(): void {
    options.onJob?.('retention');
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
    incoming,
    meta,
    catalog,
    builds,
    content,
    inputs,
    inputLimits,
    recorder: new InputRecorder(inputs, inputLimits),
    recordingHash,
    mirror,
    sweepContent,
    tokens,
    locks: new LockManager(stores.locks, now, (ids) => tokens.liveAmong(ids)),
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
    replicaId: cluster?.replicaId ?? null,
    isLeader: () => leading,
    startHousekeeping(mirrorFetch) {
      fetchMirror = mirrorFetch;
      // Every replica clears its own `.incoming` of anything no operation of it owns (what
      // a crash or a bug left behind); the leader ends expired tokens and retries seals.
      timers.push(
        setInterval(() => {
          incoming.sweep().catch((err: unknown) => logger.error({ err: String(err) }, 'sweep of .incoming failed'));
          // Every replica writes again the apt indexes it failed to write.
          packages.retryFailed().catch(() => undefined);
          if (leading) void scheduledWork();
        }, PURGE_EVERY_MS),
      );
      if (cluster && leadership) {
        timers.push(
          setInterval(() => {
            void cluster.heartbeat().catch(() => undefined);
            // The leader clears the folders of replicas it has not heard of: this one's, if cut off long enough.
            incoming.ensure().catch(() => undefined);
            checkLeadership().catch((err: unknown) => logger.error({ err: String(err) }, 'leader check failed'));
          }, Math.min(LEADER_CHECK_MS, HEARTBEAT_MS)),
        );
        void checkLeadership().catch((err: unknown) => logger.error({ err: String(err) }, 'leader check failed'));
      } else {
        mirror.start(mirrorFetch);
        // Seals a previous process left pending are tried at once.
        void retrySeals();
        void refreshAptIndexes();
      }
      if (config.retentionPolicy && config.retentionIntervalSeconds > 0) timers.push(setInterval(() => leading && runRetention(), config.retentionIntervalSeconds * 1000));
      for (const timer of timers) timer.unref();
    },
    stopHousekeeping() {
      for (const timer of timers.splice(0)) clearInterval(timer);
    },
    authorityKeeper: stores.authority,
    signer,
    packages,
    jobTokenLedger: stores.jobTokens,
    close: () => stores.close(),
  };
}
