// `.incoming`: where work that must appear in the tree all at once is made first (an
// upload, a copy, a record file), on the tree's own file system so that one rename
// publishes it. Each replica has its own folder, so that none clears another's work; what
// a crash left is swept at start, what a replica gone for good left, by the leader.
import { mkdir, lstat, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { TempFiles } from '../domain/stores.js';
import { removeTree } from './file-system.js';

export const INCOMING_DIR = '.incoming';

export class IncomingFiles implements TempFiles {
  readonly dir: string;
  /** Temporary paths some operation of this process is still using. */
  private readonly inUse = new Set<string>();
  // Temporary names: random per process, then counted (16 random bytes per upload cost
  // more than the rest of the name); files are created exclusively all the same.
  private readonly tempPrefix = randomBytes(9).toString('base64url');
  private tempCount = 0;

  constructor(
    private readonly root: string,
    private readonly replica: string | null,
  ) {
    this.dir = replica ? path.join(root, INCOMING_DIR, replica) : path.join(root, INCOMING_DIR);
  }

  /** A fresh path in `.incoming`, for work that must appear in the tree all at once. */
  tempPath(label: string): string {
    const temp = path.join(this.dir, `${label}-${this.tempPrefix}-${(++this.tempCount).toString(36)}`);
    this.inUse.add(temp);
    return temp;
  }

  /** A temporary path was renamed into the tree: nothing left to clean. */
  settle(temp: string): void {
    this.inUse.delete(temp);
  }

  /** Deletes a temporary file or folder, whatever state it is in. */
  async discard(temp: string): Promise<void> {
    await removeTree(temp);
    this.inUse.delete(temp);
  }

  /** Makes this process's `.incoming` folder (again, should it have been removed). */
  async ensure(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Removes from `.incoming` what no operation of this process is using: leftovers. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      const full = path.join(this.dir, name);
      if (this.inUse.has(full)) continue;
      await removeTree(full);
      removed++;
    }
    return removed;
  }

  /**
   * Removes from `.incoming` the folders of replicas that are gone (not in `alive`), and
   * what an embedded server left there. Returns how many entries went.
   */
  async sweepDeparted(alive: () => Promise<ReadonlySet<string>>, quietMs: number): Promise<number> {
    const top = path.join(this.root, INCOMING_DIR);
    const names = await readdir(top);
    // Asked after the listing: a replica that registered meanwhile is in it.
    const live = await alive();
    let removed = 0;
    for (const name of names) {
      if (live.has(name) || name === this.replica) continue;
      // Untouched for a while, too: a folder in use changes with every upload.
      const stats = await lstat(path.join(top, name)).catch(() => null);
      if (!stats || Date.now() - stats.mtimeMs < quietMs) continue;
      await removeTree(path.join(top, name));
      removed++;
    }
    return removed;
  }
}
