// Which paths hold a given SHA-256: one small file per checksum under
// ARTIFACTS_DIR/.index/sha256/ab/abcd..., a line per path, appended as files are written.
// It survives restarts and answers a search without walking the tree. Entries are never
// trusted blindly: the catalog checks each against the file's metadata and prunes stale ones.
import { appendFileSync, mkdirSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TempFiles } from './meta-store.js';

export const INDEX_DIR = '.index';

export class ChecksumIndex {
  private readonly dir: string;

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.dir = path.join(artifactsDir, INDEX_DIR, 'sha256');
  }

  private fileOf(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  async add(sha256: string, href: string): Promise<void> {
    const file = this.fileOf(sha256);
    // O_APPEND: every writer adds a whole line. Synchronous, like the metadata file.
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, href + '\n');
  }

  async lookup(sha256: string): Promise<string[]> {
    try {
      const lines = (await readFile(this.fileOf(sha256), 'utf8')).split('\n').filter(Boolean);
      return [...new Set(lines)];
    } catch {
      return [];
    }
  }

  /** Keeps only `hrefs` for this checksum (after a lookup found stale entries). */
  async replace(sha256: string, hrefs: string[]): Promise<void> {
    const file = this.fileOf(sha256);
    if (hrefs.length === 0) {
      await rm(file, { force: true });
      return;
    }
    const temp = this.temps.tempPath('index');
    try {
      await writeFile(temp, hrefs.join('\n') + '\n');
      await rename(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
  }
}
