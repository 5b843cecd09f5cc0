// Builds: open while a token for them is live, sealed once the last one is revoked or
// expires. Sealing writes SHA256SUMS at the build's root, records the build's size, and
// makes the files read-only on disk; from then on no request may change the build. A seal
// that cannot complete (a full disk) stays recorded as pending, is retried, also after a
// restart, and keeps new tokens out until it is done.
import { Readable } from 'node:stream';
import { BUILD_DEPTH, scopeSegments, scopeString } from '../domain/tree-path.js';
import { sha256sumLine } from '../domain/checksum.js';
import { SEAL_FILES, SUMS_FILE } from '../domain/seal-files.js';
import { errorSummary, Failure } from '../domain/errors.js';
import { hasMeta, metaConflict, type BuildMeta } from '../domain/build-meta.js';
import type { ArtifactTree, TreeFile, TreePut } from '../domain/stores.js';
import type { BuildRecord, BuildRecords, PinState, SealedBuildEntry, SealedBuildQuery, SealedState } from '../domain/stores.js';
import type { BuildGuard } from '../domain/stores.js';
import type { Catalog } from './catalog.js';
import type { InputStore } from '../domain/stores.js';
import type { ResourceRecords } from '../domain/stores.js';
import type { Packages, SealedFile } from './packages.js';


/** The signed files a seal writes beside SHA256SUMS (signer.ts), given the list and the seal's time, and the key's fingerprint. */
export type SealSigner = (build: readonly string[], sums: string, sealedAt: string) => Promise<{ files: Array<{ name: string; body: string | Buffer }>; signedBy: string }>;

// How long a replica shows an open build's size without walking it again, and for how many builds.
const SHARED_SUMMARY_MS = 2_000;
const SHARED_SUMMARIES = 10_000;

/** A file of a build: `relative` is below the build root. */
export type BuildFile = TreeFile;

export interface BuildStats {
  files: number;
  bytes: number;
  modified: Date;
  sealed: SealedState | null;
  /** What its first mint said it was built from (null: nothing), from the same read. */
  meta: BuildMeta | null;
}

/** What a seal attempt found: done now, done before, still open, failed (retried), or no such build. */
export type SealOutcome = 'sealed' | 'already-sealed' | 'open' | 'pending' | 'gone';

/** The build a tree path belongs to, or null above the build level. */
export function buildOf(segments: readonly string[]): string[] | null {
  return segments.length >= BUILD_DEPTH ? segments.slice(0, BUILD_DEPTH) : null;
}

interface Summary {
  files: number;
  bytes: number;
  modifiedMs: number;
}

export class Builds {
  // The builds being sealed or deleted here: a write authorised just before its token
  // ended must finish before the build is sealed (or be cut after the grace), and none may
  // start once sealing has begun. Across replicas, the seal pending in the build's record
  // says the same.
  private readonly closing = new Set<string>();
  // File count and size of open builds, kept as writes happen (computed once otherwise):
  // pages never walk a whole build to show them.
  private readonly summaries = new Map<string, Summary>();
  /** With other replicas writing: each summary is kept this long, then walked again. */
  private readonly sharedSummaries = new Map<string, { summary: Summary; at: number }>();
  private readonly computing = new Map<string, Promise<Summary>>();

  constructor(
    private readonly store: ArtifactTree,
    private readonly meta: ResourceRecords,
    private readonly records: BuildRecords,
    /** Mints and seals one at a time per build, and the writes in flight (build-guard.ts). */
    private readonly guard: BuildGuard,
    private readonly catalog: Catalog,
    private readonly inputs: InputStore,
    /** Live tokens of a build, and tokens of it that ended (the token store keeps them a week). */
    private readonly tokensOf: (scope: string) => Promise<{ live: number; ended: number }>,
    private readonly now: () => number = Date.now,
    /** How long sealing waits for the build's writes in flight before it cuts them. */
    private readonly writeGraceMs = 30_000,
    private readonly signSeal: SealSigner | null = null,
    /** apt's and pip's view of sealed builds (packages.ts): read at the seal, forgotten at removal. */
    private readonly packages: Packages | null = null,
  ) {}

  record(build: readonly string[]): Promise<BuildRecord> {
    return this.records.get(build);
  }

  async sealedState(build: readonly string[]): Promise<SealedState | null> {
    return (await this.records.get(build)).sealed ?? null;
  }

  async isSealed(build: readonly string[]): Promise<boolean> {
    return (await this.sealedState(build)) !== null;
  }

  /**
   * For a download's headers: whether the build is sealed, or false when its state cannot
   * be read now (the database is away). Downloads come from disk and go on; only the
   * "immutable" caching waits for the database.
   */
  async sealedForServing(build: readonly string[]): Promise<boolean> {
    try {
      return await this.isSealed(build);
    } catch (err) {
      if (err instanceof Failure && err.kind === 'unavailable') return false;
      throw err;
    }
  }

  /**
   * Runs a write to this build, unless the build is sealed or being sealed or deleted (409).
   * Sealing and deleting wait until the writes already running are done; `abort` cuts this
   * one if it is still running when their grace is over.
   */
  async whileWriting<T>(scope: string, work: () => Promise<T>, abort?: () => void): Promise<T> {
    const isOpen = async (): Promise<boolean> => {
      const record = await this.records.get(scopeSegments(scope));
      return !record.sealed && !record.sealPending;
    };
    const end = await this.guard.beginWrite(scope, isOpen, abort);
    try {
      if (!end || this.closing.has(scope)) throw new Failure('conflict', `build ${scope} is sealed: its files never change`);
      return await work();
    } finally {
      await end?.();
    }
  }

  /** Marks the build as closing, waits for its writes in flight (cut after the grace), then works. */
  private async closeForWrites<T>(scope: string, work: () => Promise<T>): Promise<T> {
    this.closing.add(scope);
    try {
      await this.guard.drainWrites(scope, this.writeGraceMs);
      return await work();
    } finally {
      this.closing.delete(scope);
    }
  }

  /** Why no token may be minted for this build, or null: sealed, being sealed, or deleted by retention. */
  async mintRefusal(build: readonly string[]): Promise<string | null> {
    const record = await this.records.get(build);
    const scope = scopeString(build);
    if (record.retired) return `build ${scope} was deleted by retention (${record.retired.at}); build names are not reused`;
    if (record.sealed) return `build ${scope} is sealed: its artifacts never change, so no token can be minted for it`;
    // Its last token ended and the seal is not done: recorded as pending, or, should even
    // that record have failed (a full disk), known from the token store.
    const tokens = await this.tokensOf(scope);
    if (record.sealPending || this.closing.has(scope) || (tokens.live === 0 && tokens.ended > 0)) {
      return `build ${scope} is being sealed (its last token ended): no token can be minted for it`;
    }
    return null;
  }

  /**
   * Keeps what a mint says the build was built from: the first mint (no token yet) sets it,
   * a later one must agree. Returns the field a later mint gives differently, or null.
   * Called alone for the build (exclusive), before the token is minted.
   */
  async settleMeta(build: readonly string[], meta: BuildMeta): Promise<string | null> {
    const counts = await this.tokensOf(scopeString(build));
    if (counts.live === 0 && counts.ended === 0) {
      const record = await this.records.get(build);
      if (hasMeta(meta) || record.meta) await this.records.update(build, (r) => ({ ...r, meta: hasMeta(meta) ? meta : undefined }));
      return null;
    }
    return metaConflict((await this.records.get(build)).meta ?? {}, meta);
  }

  /** Sealed builds, newest first, from the index the build records keep. */
  sealedBuilds(query: SealedBuildQuery): Promise<SealedBuildEntry[]> {
    return this.records.sealedBuilds(query);
  }

  /** Open builds minted from a revision (whole, or a prefix of 7 or more). */
  openBuildsOf(revision: string, limit: number): Promise<string[][]> {
    return this.records.openBuildsOf(revision, limit);
  }

  /** Runs `work` alone for this build: minting and sealing never interleave (on any replica). */
  exclusive<T>(scope: string, work: () => Promise<T>): Promise<T> {
    return this.guard.exclusive(scope, work);
  }

  /**
   * Seals the build if no live token is left for it. The seal is recorded as pending
   * first, so that a failure (or a crash) leaves it to be retried, never forgotten.
   */
  async sealIfUnused(scope: string): Promise<{ outcome: SealOutcome; state?: SealedState; reason?: string }> {
    return this.exclusive(scope, async () => {
      const build = scopeSegments(scope);
      const record = await this.records.get(build);
      if (record.sealed) return { outcome: 'already-sealed' };
      if ((await this.tokensOf(scope)).live > 0) return { outcome: 'open' };
      if (!(await this.store.stat(build))?.isDirectory()) {
        if (record.sealPending) await this.records.put(build, { ...record, sealPending: undefined });
        return { outcome: 'gone' };
      }
      const pending = record.sealPending ?? { since: new Date(this.now()).toISOString(), reason: null };
      try {
        if (!record.sealPending) await this.records.put(build, { ...record, sealPending: pending });
        const state = await this.closeForWrites(scope, () => this.seal(build));
        return { outcome: 'sealed', state };
      } catch (err) {
        const reason = errorSummary(err);
        await this.records.put(build, { ...(await this.records.get(build)), sealPending: { ...pending, reason } }).catch(() => undefined);
        return { outcome: 'pending', reason };
      }
    });
  }

  /** Builds whose seal is due but not done (after a crash or a failure). */
  async pendingSeals(): Promise<string[]> {
    return (await this.records.entries()).filter((e) => e.record.sealPending).map((e) => scopeString(e.build));
  }

  async pinState(build: readonly string[]): Promise<PinState | null> {
    return (await this.records.get(build)).pin ?? null;
  }

  /** Every pinned build, from the build records (no walk of the tree). */
  async pinned(): Promise<{ build: string[]; pin: PinState }[]> {
    const found: { build: string[]; pin: PinState }[] = [];
    for (const { build, record } of await this.records.entries()) if (record.pin) found.push({ build, pin: record.pin });
    return found;
  }

  /** Pins a build (open or sealed) so retention never removes it; null if no such build. */
  async pin(build: readonly string[], by: string): Promise<{ pin: PinState; created: boolean } | null> {
    return this.exclusive(scopeString(build), async () => {
      if (!(await this.store.stat(build))?.isDirectory()) return null;
      const existing = await this.pinState(build);
      if (existing) return { pin: existing, created: false };
      const pin: PinState = { by, at: new Date(this.now()).toISOString() };
      await this.records.update(build, (r) => ({ ...r, pin }));
      return { pin, created: true };
    });
  }

  /** Unpins a build; returns whether it was pinned. */
  async unpin(build: readonly string[]): Promise<boolean> {
    return this.exclusive(scopeString(build), async () => {
      if (!(await this.pinState(build))) return false;
      await this.records.update(build, ({ pin: _dropped, ...rest }) => rest);
      return true;
    });
  }

  /**
   * Deletes a sealed, unpinned build as one step: its tombstone is recorded, then the
   * build folder is renamed out of the tree (readers see all of it or none) and emptied.
   * Checked again under the build's lock, so a pin that arrived meanwhile wins. Returns
   * what was deleted, or null.
   */
  async deleteSealed(build: readonly string[], by: string): Promise<SealedState | null> {
    const scope = scopeString(build);
    return this.exclusive(scope, () =>
      this.closeForWrites(scope, async () => {
        const record = await this.records.get(build);
        if (!record.sealed || record.pin || record.retired) return null;
        // The tombstone first: the name is never minted again, so a URL never changes what it serves.
        await this.records.put(build, { ...record, retired: { at: new Date(this.now()).toISOString(), by } });
        let aside;
        try {
          aside = await this.store.setAside(build);
        } catch (err) {
          await this.records.put(build, record).catch(() => undefined);
          throw err;
        }
        this.summaries.delete(scope);
        await this.meta.remove(build);
        // Its recorded inputs go with it; their bodies, once nothing else refers to them.
        await this.inputs.remove(build);
        // Out of the package indexes (its project's apt repository is written again).
        await this.packages?.removed(build);
        await aside.drop();
        return record.sealed;
      }),
    );
  }

  /** Every build folder in the tree as [type, project, build]. */
  async all(): Promise<string[][]> {
    const found: string[][] = [];
    // A folder removed meanwhile has no members.
    const below = async (segments: string[]): Promise<string[]> =>
      (await this.store.names(segments).catch(() => [])).filter((e) => e.collection).map((e) => e.name);
    for (const type of await below([])) {
      for (const project of await below([type])) {
        for (const build of await below([type, project])) found.push([type, project, build]);
      }
    }
    return found;
  }

  /** Every file of a build (the seal's own files excluded), in path order. */
  async files(build: readonly string[]): Promise<BuildFile[]> {
    return (await this.store.filesBelow(build)).filter((f) => !(f.relative.length === 1 && SEAL_FILES.has(f.relative[0] as string)));
  }

  /** An upload finished in an open build: its summary follows without a walk. */
  notePut(scope: string, put: Pick<TreePut, 'created' | 'size' | 'replacedSize'>): void {
    if (this.guard.shared) return;
    const summary = this.summaries.get(scope);
    if (!summary) return;
    summary.files += put.created ? 1 : 0;
    summary.bytes += put.size - put.replacedSize;
    summary.modifiedMs = this.now();
  }

  /** Some other change (DELETE, COPY, MOVE): the summary is computed again when asked for. */
  noteChange(scope: string): void {
    this.summaries.delete(scope);
  }

  async stats(build: readonly string[]): Promise<BuildStats> {
    const record = await this.records.get(build);
    const sealed = record.sealed ?? null;
    const meta = record.meta ?? null;
    if (sealed) return { files: sealed.files, bytes: sealed.bytes, modified: new Date(sealed.sealedAt), sealed, meta };
    const scope = scopeString(build);
    let summary = this.guard.shared ? this.freshShared(scope) : this.summaries.get(scope);
    if (!summary) {
      let computing = this.computing.get(scope);
      if (!computing) {
        // One walk at a time per build, shared by every page that asks meanwhile.
        computing = this.walkSummary(build).finally(() => this.computing.delete(scope));
        this.computing.set(scope, computing);
      }
      summary = await computing;
    }
    return { files: summary.files, bytes: summary.bytes, modified: new Date(summary.modifiedMs), sealed: null, meta };
  }

  private async walkSummary(build: readonly string[]): Promise<Summary> {
    const scope = scopeString(build);
    const root = await this.store.stat(build);
    const files = await this.files(build);
    const summary = { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), modifiedMs: files.reduce((max, f) => Math.max(max, f.mtimeMs), root?.mtimeMs ?? 0) };
    // A write that landed during the walk may or may not be in it: the next page walks again.
    // Other replicas write without telling this one: with them, a summary lives a few seconds.
    if (this.guard.shared) {
      if (this.sharedSummaries.size >= SHARED_SUMMARIES) this.sharedSummaries.delete(this.sharedSummaries.keys().next().value as string);
      this.sharedSummaries.set(scope, { summary, at: this.now() });
    } else if (!this.guard.writingHere(scope)) this.summaries.set(scope, summary);
    return summary;
  }

  private freshShared(scope: string): Summary | undefined {
    const kept = this.sharedSummaries.get(scope);
    if (kept && this.now() - kept.at < SHARED_SUMMARY_MS) return kept.summary;
    this.sharedSummaries.delete(scope);
    return undefined;
  }

  private async seal(build: readonly string[]): Promise<SealedState> {
    // A retry after a failure between making the tree read-only and recording the seal.
    await this.store.makeWritable(build);
    const files = await this.files(build);
    let sums = '';
    const summed: SealedFile[] = [];
    for (const file of files) {
      const sha256 = (await this.catalog.checksumOf([...build, ...file.relative], file)) ?? (await this.catalog.ensureChecksum([...build, ...file.relative]));
      sums += sha256sumLine(sha256, file.relative.join('/'));
      summed.push({ relative: file.relative, size: file.size, sha256 });
    }
    const sealedAt = new Date(this.now()).toISOString();
    // Signed before anything is written: a seal that cannot sign leaves the build as it was.
    const signed = (await this.signSeal?.(build, sums, sealedAt)) ?? null;
    // Its packages read, and its flat apt repository signed, before anything is written too.
    const packaged = (await this.packages?.atSeal(build, summed, sealedAt)) ?? null;
    const written = [{ name: SUMS_FILE, body: sums }, ...(signed?.files ?? []), ...(packaged?.sealFiles ?? [])];
    for (const { name, body } of written) {
      // Each appears whole, with its checksum recorded.
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      await this.catalog.storeFile([...build, name], Readable.from([bytes]), null, bytes.length);
    }
    const state: SealedState = {
      sealedAt,
      files: files.length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      ...(signed ? { signedBy: signed.signedBy } : {}),
    };
    await this.store.makeReadOnly(build);
    // In the catalogue before the seal is recorded: a crash between the two seals again, and
    // writes the same entry again. Its bytes are final from here (read-only, no writes).
    if (packaged && (packaged.entry.packages.length > 0 || packaged.entry.skipped.length > 0)) await this.packages?.catalogue.put(packaged.entry);
    await this.records.update(build, (r) => ({ ...r, sealed: state, sealPending: undefined }));
    this.summaries.delete(scopeString(build));
    return state;
  }
}
