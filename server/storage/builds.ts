// Builds: open while a token for them is live, sealed once the last one is revoked or
// expires. Sealing writes SHA256SUMS at the build's root, records the build's size, and
// makes the files read-only on disk; from then on no request may change the build.
import { chmod, lstat, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BUILD_DEPTH, scopeSegments, scopeString } from '../domain/tree-path.js';
import { sha256sumLine } from '../domain/checksum.js';
import { StorageError, type ArtifactStore } from './artifact-store.js';
import type { Catalog } from './catalog.js';
import type { BuildState, MetaStore, PinState } from './meta-store.js';

export const SUMS_FILE = 'SHA256SUMS';

export interface BuildFile {
  /** Segments below the build root. */
  relative: string[];
  size: number;
  mtimeMs: number;
}

export interface BuildStats {
  files: number;
  bytes: number;
  modified: Date;
  sealed: BuildState | null;
}

/** The build a tree path belongs to, or null above the build level. */
export function buildOf(segments: readonly string[]): string[] | null {
  return segments.length >= BUILD_DEPTH ? segments.slice(0, BUILD_DEPTH) : null;
}

export class Builds {
  private readonly locks = new Map<string, Promise<unknown>>();
  // Writes in flight per build, and the builds being sealed or deleted: a write authorised
  // just before its token ended must finish before the build is sealed, and none may start
  // once sealing has begun (it would land in a sealed build, or recreate a deleted one).
  private readonly writing = new Map<string, { count: number; idle: Array<() => void> }>();
  private readonly closing = new Set<string>();

  constructor(
    private readonly store: ArtifactStore,
    private readonly meta: MetaStore,
    private readonly catalog: Catalog,
    private readonly liveTokens: (scope: string) => number,
    private readonly now: () => number = Date.now,
  ) {}

  async sealedState(build: readonly string[]): Promise<BuildState | null> {
    return (await this.meta.read(build)).build ?? null;
  }

  async isSealed(build: readonly string[]): Promise<boolean> {
    return (await this.sealedState(build)) !== null;
  }

  /**
   * Runs a write to this build, unless the build is sealed or being sealed or deleted (409).
   * Sealing and deleting wait until the writes already running are done.
   */
  async whileWriting<T>(scope: string, work: () => Promise<T>): Promise<T> {
    const entry = this.writing.get(scope) ?? { count: 0, idle: [] };
    this.writing.set(scope, entry);
    entry.count++;
    try {
      // Counted first, checked second: a seal that starts after the count waits for us.
      if (this.closing.has(scope) || (await this.isSealed(scopeSegments(scope)))) {
        throw new StorageError(409, `build ${scope} is sealed: its files never change`);
      }
      return await work();
    } finally {
      entry.count--;
      if (entry.count === 0) {
        this.writing.delete(scope);
        for (const wake of entry.idle.splice(0)) wake();
      }
    }
  }

  /** Marks the build as closing and waits for the writes in flight (callers hold its lock). */
  private async closeForWrites<T>(scope: string, work: () => Promise<T>): Promise<T> {
    this.closing.add(scope);
    try {
      const entry = this.writing.get(scope);
      if (entry) await new Promise<void>((resolve) => entry.idle.push(resolve));
      return await work();
    } finally {
      this.closing.delete(scope);
    }
  }

  /** Why no token may be minted for this build, or null: sealed, or deleted by retention. */
  async mintRefusal(build: readonly string[]): Promise<string | null> {
    const meta = await this.meta.read(build);
    const scope = scopeString(build);
    if (meta.build) return `build ${scope} is sealed: its artifacts never change, so no token can be minted for it`;
    if (meta.retired) return `build ${scope} was deleted by retention (${meta.retired.at}); build names are not reused`;
    return null;
  }

  /** Runs `work` alone for this build: minting and sealing never interleave. */
  async exclusive<T>(scope: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(scope) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.catch(() => undefined);
    this.locks.set(scope, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(scope) === settled) this.locks.delete(scope);
    }
  }

  /**
   * Seals the build if no live token is left for it. Returns its new state when this call
   * sealed it, null otherwise (still open, already sealed, or gone).
   */
  async sealIfUnused(scope: string): Promise<BuildState | null> {
    return this.exclusive(scope, async () => {
      const build = scopeSegments(scope);
      if (await this.isSealed(build)) return null;
      if (this.liveTokens(scope) > 0) return null;
      if (!(await this.store.stat(build))?.isDirectory()) return null;
      return this.closeForWrites(scope, () => this.seal(build));
    });
  }

  async pinState(build: readonly string[]): Promise<PinState | null> {
    return (await this.meta.read(build)).pin ?? null;
  }

  /** Pins a build (open or sealed) so retention never removes it; null if no such build. */
  async pin(build: readonly string[], by: string): Promise<{ pin: PinState; created: boolean } | null> {
    return this.exclusive(scopeString(build), async () => {
      if (!(await this.store.stat(build))?.isDirectory()) return null;
      const existing = await this.pinState(build);
      if (existing) return { pin: existing, created: false };
      const pin: PinState = { by, at: new Date(this.now()).toISOString() };
      await this.meta.update(build, (m) => ({ ...m, pin }));
      return { pin, created: true };
    });
  }

  /** Unpins a build; returns whether it was pinned. */
  async unpin(build: readonly string[]): Promise<boolean> {
    return this.exclusive(scopeString(build), async () => {
      if (!(await this.pinState(build))) return false;
      await this.meta.update(build, ({ pin: _dropped, ...rest }) => rest);
      return true;
    });
  }

  /**
   * Deletes a sealed, unpinned build as one step: the build folder is renamed out of the
   * tree (readers see all of it or none), then emptied. Checked again under the build's
   * lock, so a pin that arrived meanwhile wins. Returns what was deleted, or null.
   */
  async deleteSealed(build: readonly string[], by: string): Promise<BuildState | null> {
    const scope = scopeString(build);
    return this.exclusive(scope, () => this.closeForWrites(scope, async () => {
      const meta = await this.meta.read(build);
      if (!meta.build || meta.pin) return null;
      const root = this.store.fsPath(build);
      const trash = this.store.tempPath('retired');
      try {
        // Moving a folder to another parent rewrites its "..": it must be writable.
        await chmod(root, 0o755);
        await rename(root, trash);
      } catch (err) {
        this.store.settle(trash);
        await chmod(root, 0o555).catch(() => undefined);
        throw err;
      }
      await this.meta.remove(build);
      // A tombstone: the name is never minted again, so a URL never changes what it serves.
      await this.meta.write(build, { props: [], retired: { at: new Date(this.now()).toISOString(), by } });
      await this.store.discard(trash);
      return meta.build;
    }));
  }

  /** Every build folder in the tree as [type, project, build] (dot-folders are internal). */
  async all(): Promise<string[][]> {
    const found: string[][] = [];
    const below = async (segments: string[]): Promise<string[]> => {
      const entries = await readdir(this.store.fsPath(segments), { withFileTypes: true }).catch(ignoreVanished);
      return (entries ?? []).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
    };
    for (const type of await below([])) {
      for (const project of await below([type])) {
        for (const build of await below([type, project])) found.push([type, project, build]);
      }
    }
    return found;
  }

  /** Every file of a build (SHA256SUMS excluded), in path order. */
  async files(build: readonly string[]): Promise<BuildFile[]> {
    const root = this.store.fsPath(build);
    const found: BuildFile[] = [];
    // An open build may change while it is walked: what vanished meanwhile is skipped.
    const walk = async (dir: string, relative: string[]): Promise<void> => {
      const names = await readdir(dir).catch(ignoreVanished);
      for (const name of (names ?? []).sort()) {
        const stats = await lstat(path.join(dir, name)).catch(ignoreVanished);
        if (!stats) continue;
        if (stats.isDirectory()) await walk(path.join(dir, name), [...relative, name]);
        else if (stats.isFile() && !(relative.length === 0 && name === SUMS_FILE)) found.push({ relative: [...relative, name], size: stats.size, mtimeMs: stats.mtimeMs });
      }
    };
    await walk(root, []);
    return found;
  }

  async stats(build: readonly string[]): Promise<BuildStats> {
    const sealed = await this.sealedState(build);
    const root = await this.store.stat(build);
    if (sealed) return { files: sealed.files, bytes: sealed.bytes, modified: new Date(sealed.sealedAt), sealed };
    const files = await this.files(build);
    const newest = files.reduce((max, f) => Math.max(max, f.mtimeMs), root?.mtimeMs ?? 0);
    return { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), modified: new Date(newest), sealed: null };
  }

  private async seal(build: readonly string[]): Promise<BuildState> {
    const files = await this.files(build);
    let sums = '';
    for (const file of files) {
      const sha256 = await this.catalog.ensureChecksum([...build, ...file.relative]);
      sums += sha256sumLine(sha256, file.relative.join('/'));
    }
    // SHA256SUMS appears whole: written beside the tree, then renamed in.
    const temp = this.store.tempPath('sums');
    try {
      await writeFile(temp, sums, { mode: 0o444 });
      await rename(temp, this.store.fsPath([...build, SUMS_FILE]));
      this.store.settle(temp);
    } catch (err) {
      await this.store.discard(temp);
      throw err;
    }
    await this.catalog.ensureChecksum([...build, SUMS_FILE]);
    const state: BuildState = {
      sealedAt: new Date(this.now()).toISOString(),
      files: files.length,
      bytes: files.reduce((n, f) => n + f.size, 0),
    };
    await this.meta.update(build, (m) => ({ ...m, build: state }));
    await makeReadOnly(this.store.fsPath(build));
    return state;
  }
}

function ignoreVanished(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
  throw err;
}

/** Files 0444, folders 0555: the kernel refuses writes to a sealed build as well. */
async function makeReadOnly(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const full = path.join(dir, name);
    const stats = await lstat(full);
    if (stats.isDirectory()) await makeReadOnly(full);
    else if (stats.isFile()) await chmod(full, 0o444);
  }
  await chmod(dir, 0o555);
}

