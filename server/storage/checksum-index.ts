// Which paths hold a given SHA-256 (embedded): ARTIFACTS_DIR/.index/sha256/ab/abcd.../, one small
// entry per path (named by a hash of the path, holding the path), written as files are
// recorded. Writing the same path again rewrites its one entry: the index never grows by
// repetition. It survives restarts and answers a search without walking the tree. Entries
// are never trusted blindly: the catalog checks each against the file's record and
// removes stale ones.
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { opendir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TempFiles } from './meta-store.js';

export const INDEX_DIR = '.index';
/** A search reads at most this many entries: its cost is bounded whatever was stored. */
export const MAX_SEARCH_HITS = 1000;

/** Which paths hold a given SHA-256. Entries may be stale: the catalog checks each hit. */
export interface ChecksumIndex {
  add(sha256: string, href: string): Promise<void>;
  /** Up to `limit` paths recorded for this checksum, and whether there were more. */
  lookup(sha256: string, limit?: number): Promise<{ hrefs: string[]; more: boolean }>;
  /** Forgets one path for this checksum (a stale entry found by a lookup). */
  remove(sha256: string, href: string): Promise<void>;
}

export class ChecksumIndexFiles implements ChecksumIndex {
  readonly dir: string;

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.dir = path.join(artifactsDir, INDEX_DIR, 'sha256');
  }

  folderOf(sha256: string): string {
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  private entryOf(sha256: string, href: string): string {
    return path.join(this.folderOf(sha256), createHash('sha256').update(href).digest('hex').slice(0, 32));
  }

  async add(sha256: string, href: string): Promise<void> {
    const entry = this.entryOf(sha256, href);
    const temp = this.temps.tempPath('index');
    try {
      // Synchronous, like the metadata file: a few bytes on cached inodes.
      mkdirSync(path.dirname(entry), { recursive: true });
      writeFileSync(temp, href);
      renameSync(temp, entry);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
  }

  /** Up to `limit` paths recorded for this checksum, and whether there were more. */
  async lookup(sha256: string, limit = MAX_SEARCH_HITS): Promise<{ hrefs: string[]; more: boolean }> {
    const hrefs: string[] = [];
    let dir;
    try {
      dir = await opendir(this.folderOf(sha256));
    } catch {
      return { hrefs, more: false };
    }
    let more = false;
    try {
      for await (const entry of dir) {
        if (!entry.isFile()) continue;
        if (hrefs.length >= limit) {
          more = true;
          break;
        }
        const href = await readFile(path.join(this.folderOf(sha256), entry.name), 'utf8').catch(() => null);
        if (href) hrefs.push(href);
      }
    } finally {
      await dir.close().catch(() => undefined);
    }
    return { hrefs, more };
  }

  /** Forgets one path for this checksum (a stale entry found by a lookup). */
  async remove(sha256: string, href: string): Promise<void> {
    await rm(this.entryOf(sha256, href), { force: true });
  }
}
