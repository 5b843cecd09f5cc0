// Which paths hold a given SHA-256 (embedded): ARTIFACTS_DIR/.index/sha256/ab/abcd.../, one small
// entry per path (named by a hash of the path), written as files are recorded. Writing the
// same path again finds its one entry: the index never grows by repetition. It survives
// restarts and answers a search without walking the tree. Entries are never trusted
// blindly: the catalog checks each against the file's record and removes stale ones.
//
// An entry is a symbolic link whose target is the path, "href:/t/p/1/a.txt": created in one
// atomic call, where a file would cost open, write, close and a rename (as Mercurial's and
// Emacs's lock files keep their data). It is only ever read with readlink, never followed;
// the prefix keeps it from naming anything on the host. Entries of earlier versions are
// files holding the path, and are read as such.
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { opendir, readFile, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { renameCreatingParents, symlinkRefused } from './file-system.js';
import type { TempFiles } from '../domain/stores.js';
import type { ChecksumIndex } from '../domain/stores.js';
import { MAX_SEARCH_HITS } from '../domain/record-rules.js';

export const INDEX_DIR = '.index';
const ENTRY_PREFIX = 'href:';

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
    // Synchronous, like the metadata file: one call on cached inodes. An entry that exists
    // says the same (same checksum, same path).
    try {
      symlinkSync(ENTRY_PREFIX + href, entry);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      // A path too long for a link's target (4095 bytes; 1024 on XFS), or a volume without links.
      if (symlinkRefused(err)) return this.addFile(entry, href);
      if (code !== 'ENOENT') throw err;
      mkdirSync(path.dirname(entry), { recursive: true });
      try {
        symlinkSync(ENTRY_PREFIX + href, entry);
      } catch (again) {
        if (symlinkRefused(again)) return this.addFile(entry, href);
        if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
      }
    }
  }

  /** The entry as a file holding the path (the format of earlier versions, still read). */
  private async addFile(entry: string, href: string): Promise<void> {
    const temp = this.temps.tempPath('index');
    try {
      writeFileSync(temp, href);
      renameCreatingParents(temp, entry);
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
        if (!entry.isSymbolicLink() && !entry.isFile()) continue;
        if (hrefs.length >= limit) {
          more = true;
          break;
        }
        const href = await this.readEntry(path.join(this.folderOf(sha256), entry.name), entry.isSymbolicLink());
        if (href) hrefs.push(href);
      }
    } finally {
      await dir.close().catch(() => undefined);
    }
    return { hrefs, more };
  }

  private async readEntry(file: string, link: boolean): Promise<string | null> {
    if (!link) return readFile(file, 'utf8').catch(() => null);
    const target = await readlink(file).catch(() => null);
    return target?.startsWith(ENTRY_PREFIX) ? target.slice(ENTRY_PREFIX.length) : null;
  }

  /** Forgets one path for this checksum (a stale entry found by a lookup). */
  async remove(sha256: string, href: string): Promise<void> {
    await rm(this.entryOf(sha256, href), { force: true });
  }
}
