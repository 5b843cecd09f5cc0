// Builds: open while a token for them is live, sealed once the last one is revoked or
// expires. Sealing writes SHA256SUMS at the build's root, records the build's size, and
// makes the files read-only on disk; from then on no request may change the build.
import { chmod, lstat, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BUILD_DEPTH, scopeSegments } from '../domain/tree-path.js';
import { sha256sumLine } from '../domain/checksum.js';
import type { ArtifactStore } from './artifact-store.js';
import type { Catalog } from './catalog.js';
import type { BuildState, MetaStore } from './meta-store.js';

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

  /** Seals the build if no live token is left for it. Returns whether it is sealed now. */
  async sealIfUnused(scope: string): Promise<boolean> {
    return this.exclusive(scope, async () => {
      const build = scopeSegments(scope);
      if (await this.isSealed(build)) return true;
      if (this.liveTokens(scope) > 0) return false;
      if (!(await this.store.stat(build))?.isDirectory()) return false;
      await this.seal(build);
      return true;
    });
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

  private async seal(build: readonly string[]): Promise<void> {
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

