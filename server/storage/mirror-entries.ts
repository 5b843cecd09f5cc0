// The mirror's entries: one JSON file per entry in ARTIFACTS_DIR/.mirror/ (outside the
// public tree), replaced whole by a rename, so a crash leaves the old entry or the new one.
// Their bodies are in the content store, by checksum. Retention never looks here.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TempFiles } from '../domain/stores.js';
import { withUse, type MirrorEntry, type MirrorEntryStore, type MirrorUse } from '../domain/stores.js';

export const MIRROR_DIR = '.mirror';

export class MirrorEntryFiles implements MirrorEntryStore {
  readonly dir: string;
  private changes = 0;

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.dir = path.join(artifactsDir, MIRROR_DIR);
  }

  private fileOf(id: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error('not a mirror entry id');
    return path.join(this.dir, `${id}.json`);
  }

  async all(): Promise<MirrorEntry[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const entries: MirrorEntry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      try {
        entries.push(JSON.parse(await readFile(path.join(this.dir, name), 'utf8')) as MirrorEntry);
      } catch {
        // Unreadable: not an entry (written whole by rename, so only a hand edit does this).
      }
    }
    return entries;
  }

  async save(entry: MirrorEntry): Promise<void> {
    this.changes++;
    const temp = this.temps.tempPath('mirror');
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFile(temp, JSON.stringify(entry), { mode: 0o644 });
      await rename(temp, this.fileOf(entry.id));
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
  }

  // Read, then written whole: the caller (services/mirror.ts) runs it alone with the
  // entry's other changes, so a removal cannot fall between the two.
  async recordUse(id: string, use: MirrorUse): Promise<void> {
    let entry: MirrorEntry;
    try {
      entry = JSON.parse(await readFile(this.fileOf(id), 'utf8')) as MirrorEntry;
    } catch {
      return; // removed meanwhile
    }
    await this.save({ ...entry, usedBy: withUse(entry.usedBy, use) });
  }

  async remove(id: string): Promise<void> {
    this.changes++;
    await rm(this.fileOf(id), { force: true });
  }

  /** Only this process writes these files. */
  async generation(): Promise<number> {
    return this.changes;
  }
}
