// The apt indexes of projects, as files: ARTIFACTS_DIR/.apt/TYPE/PROJECT/dists/SUITE/...,
// served at /-/apt/TYPE/PROJECT/dists/... (by the app, or by nginx from this folder). Each
// file appears whole (written beside, renamed in). By-hash copies are named by their
// SHA-256 and never change; the ones no suite lists are removed an hour after they were
// replaced, so that a client that read the previous InRelease still finds its indexes.
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AptIndexStore, TempFiles } from '../domain/stores.js';

export const APT_DIR = '.apt';

export class AptIndexFiles implements AptIndexStore {
  readonly base: string;

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.base = path.join(artifactsDir, APT_DIR);
  }

  /** The file below a project's folder; the segments are the repository's own (never a request's). */
  private fileOf(project: readonly string[], relative: string): string {
    return path.join(this.base, ...project, ...relative.split('/'));
  }

  /** Writes one file whole, replacing what was there. */
  async replace(project: readonly string[], relative: string, body: Buffer | string): Promise<void> {
    const file = this.fileOf(project, relative);
    const temp = this.temps.tempPath('apt');
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(temp, body);
      await rename(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
  }

  /**
   * Keeps `body` under `dir/by-hash/SHA256/<sha256>`: written if absent, its time set to now
   * if present (it is listed again: the hour before removal counts from its last listing).
   */
  async keepByHash(project: readonly string[], dir: string, sha256: string, body: Buffer, now: Date): Promise<void> {
    const relative = `${dir}/by-hash/SHA256/${sha256}`;
    const file = this.fileOf(project, relative);
    if (await utimes(file, now, now).then(() => true, () => false)) return;
    await this.replace(project, relative, body);
    await utimes(file, now, now);
  }

  /** Sets a by-hash copy's time to now (it stopped being listed: its hour starts), if it is there. */
  async touchByHash(project: readonly string[], dir: string, sha256: string, now: Date): Promise<void> {
    await utimes(this.fileOf(project, `${dir}/by-hash/SHA256/${sha256}`), now, now).catch(() => undefined);
  }

  /** Removes named files below a folder (an architecture's indexes a suite no longer has). */
  async removeNamed(project: readonly string[], dir: string, names: readonly string[]): Promise<void> {
    for (const name of names) await rm(this.fileOf(project, `${dir}/${name}`), { force: true });
  }

  /** A file's bytes and time, or null. The path is checked by the caller (the route). */
  async read(project: readonly string[], relative: string): Promise<{ body: Buffer; mtime: Date } | null> {
    const file = this.fileOf(project, relative);
    try {
      const [body, stats] = await Promise.all([readFile(file), stat(file)]);
      return stats.isFile() ? { body, mtime: stats.mtime } : null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
      throw err;
    }
  }

  /**
   * Removes the by-hash copies below `dir` that are not in `keep` and were last listed
   * before `before` (ms). Returns how many went.
   */
  async sweepByHash(project: readonly string[], dir: string, keep: ReadonlySet<string>, before: number): Promise<number> {
    const folder = this.fileOf(project, `${dir}/by-hash/SHA256`);
    let removed = 0;
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (keep.has(name)) continue;
      const stats = await stat(path.join(folder, name)).catch(() => null);
      if (stats && stats.mtimeMs < before) {
        await rm(path.join(folder, name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** The suites' folders below a project's dists (to sweep the ones no longer written). */
  async directoriesBelow(project: readonly string[], relative: string): Promise<string[]> {
    const entries = await readdir(this.fileOf(project, relative), { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }
}
