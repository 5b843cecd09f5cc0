// The mirror's entries: one JSON file per entry in ARTIFACTS_DIR/.mirror/ (outside the
// public tree), replaced whole by a rename, so a crash leaves the old entry or the new one.
// Their bodies are in the content store, by checksum. Retention never looks here.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TempFiles } from './meta-store.js';

export const MIRROR_DIR = '.mirror';

export type MirrorState = 'pending' | 'ok' | 'failed';

/** One body the mirror serves: a file's URL, or an image's manifest or blob URL. */
export interface MirroredPart {
  url: string;
  sha256: string;
  size: number;
  contentType: string;
  /** For an image's manifests and blobs: the digest the registry API names it by. */
  digest: string | null;
}

export interface MirrorEntry {
  id: string;
  kind: 'file' | 'image';
  /** The canonical URL of a file; null for an image. */
  url: string | null;
  /** registry/name@sha256:… of an image; null for a file. */
  image: string | null;
  /** The checksum the master declared, if any (a file's). */
  declaredSha256: string | null;
  note: string;
  declaredBy: string;
  declaredAt: string;
  state: MirrorState;
  /** Why the last try failed, in words a person can act on. */
  reason: string | null;
  /** When a failed entry is tried again. */
  nextTryAt: string | null;
  attempts: number;
  /** A file's checksum, or an image's digest (hex). */
  sha256: string | null;
  /** Bytes kept: a file's, or every manifest and blob of an image. */
  size: number | null;
  fetchedAt: string | null;
  /** What is served, once ok. */
  parts: MirroredPart[];
}

/** Where the mirror's entries are kept: files on the artifacts volume, or PostgreSQL. */
export interface MirrorEntryStore {
  all(): Promise<MirrorEntry[]>;
  /** Adds the entry or replaces the one with its id, whole. */
  save(entry: MirrorEntry): Promise<void>;
  remove(id: string): Promise<void>;
  /** Changes with every save and removal by anyone: whether what was read is still current. */
  generation(): Promise<number>;
}

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

  async remove(id: string): Promise<void> {
    this.changes++;
    await rm(this.fileOf(id), { force: true });
  }

  /** Only this process writes these files. */
  async generation(): Promise<number> {
    return this.changes;
  }
}
