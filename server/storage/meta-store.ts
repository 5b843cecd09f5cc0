// What the service keeps about each resource, one small JSON file per resource in a
// mirror of the tree under ARTIFACTS_DIR/.meta: a file's SHA-256, a build's sealed state,
// WebDAV dead properties. Writing one resource's metadata never rewrites anything shared,
// and moving a collection moves its members' metadata with one rename.
//
// Layout: resource /a/b/c -> .meta/a.d/b.d/c.m ; the members of /a/b live under .meta/a.d/b.d/.
// The suffixes differ, so a resource's file never collides with a collection's folder.
import type { Stats } from 'node:fs';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { META_DIR } from './artifact-store.js';

export interface StoredProperty {
  ns: string;
  local: string;
  valueXml: string;
  lang?: string;
}

/** A file's checksum, valid while the file still has this size and modification time. */
export interface FileChecksum {
  sha256: string;
  size: number;
  mtimeMs: number;
}

export interface BuildState {
  sealedAt: string;
  files: number;
  bytes: number;
}

/** A build kept from retention, by whom and since when. */
export interface PinState {
  by: string;
  at: string;
}

/** A build deleted by retention: its name is never used again. */
export interface RetiredState {
  at: string;
  by: string;
}

export interface ResourceMeta {
  props: StoredProperty[];
  file?: FileChecksum;
  build?: BuildState;
  pin?: PinState;
  retired?: RetiredState;
}

export interface TempFiles {
  tempPath(label: string): string;
  settle(temp: string): void;
  discard(temp: string): Promise<void>;
}

const CACHE_ENTRIES = 20_000;


/**
 * The checksum still describes the file on disk (same size, same mtime). Within a
 * millisecond: a copy keeps its source's mtime only that precisely (utimes takes seconds
 * as a double).
 */
export function checksumMatches(checksum: FileChecksum | undefined, stats: Pick<Stats, 'size' | 'mtimeMs'>): checksum is FileChecksum {
  return checksum !== undefined && checksum.size === stats.size && Math.abs(checksum.mtimeMs - stats.mtimeMs) < 1;
}

export class MetaStore {
  readonly base: string;
  // Reads on every download: a bounded cache of recently used entries, dropped on change.
  private readonly cache = new Map<string, ResourceMeta>();

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.base = path.join(artifactsDir, META_DIR);
  }

  private folderOf(segments: readonly string[]): string {
    return path.join(this.base, ...segments.map((s) => `${s}.d`));
  }

  private fileOf(segments: readonly string[]): string {
    if (segments.length === 0) return path.join(this.base, 'root.m');
    return path.join(this.folderOf(segments.slice(0, -1)), `${segments[segments.length - 1]}.m`);
  }

  private key(segments: readonly string[]): string {
    return segments.join('/');
  }

  async read(segments: readonly string[]): Promise<ResourceMeta> {
    const key = this.key(segments);
    const cached = this.cache.get(key);
    if (cached) return cached;
    // Synchronous: a small file, read far faster than a trip through the thread pool.
    // Most resources have none: asking first spares building an ENOENT exception.
    const file = this.fileOf(segments);
    let meta: ResourceMeta = { props: [] };
    if (existsSync(file)) {
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ResourceMeta>;
        meta = { props: Array.isArray(parsed.props) ? parsed.props : [], file: parsed.file, build: parsed.build, pin: parsed.pin, retired: parsed.retired };
      } catch {
        // Unreadable metadata counts as none; the next write replaces it.
      }
    }
    if (this.cache.size >= CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, meta);
    return meta;
  }

  /** Replaces a resource's metadata atomically (temporary file, then rename). */
  async write(segments: readonly string[], meta: ResourceMeta): Promise<void> {
    const file = this.fileOf(segments);
    this.cache.delete(this.key(segments));
    if (meta.props.length === 0 && !meta.file && !meta.build && !meta.pin && !meta.retired) {
      await rm(file, { force: true });
      return;
    }
    const temp = this.temps.tempPath('meta');
    try {
      // A few hundred bytes: written synchronously, like the read.
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(temp, JSON.stringify(meta));
      renameSync(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw err;
    }
  }

  async update(segments: readonly string[], change: (meta: ResourceMeta) => ResourceMeta): Promise<void> {
    await this.write(segments, change({ ...(await this.read(segments)) }));
  }

  /** Forgets a resource and, for a collection, all of its members. */
  async remove(segments: readonly string[]): Promise<void> {
    this.cache.clear();
    await rm(this.fileOf(segments), { force: true });
    if (segments.length > 0) await rm(this.folderOf(segments), { recursive: true, force: true });
  }

  async move(from: readonly string[], to: readonly string[]): Promise<void> {
    await this.remove(to);
    await mkdir(path.dirname(this.fileOf(to)), { recursive: true });
    await renameIfPresent(this.fileOf(from), this.fileOf(to));
    await renameIfPresent(this.folderOf(from), this.folderOf(to));
    this.cache.clear();
  }

  async copy(from: readonly string[], to: readonly string[], withMembers: boolean): Promise<void> {
    await this.remove(to);
    await mkdir(path.dirname(this.fileOf(to)), { recursive: true });
    await cp(this.fileOf(from), this.fileOf(to)).catch(ignoreMissing);
    if (withMembers) await cp(this.folderOf(from), this.folderOf(to), { recursive: true }).catch(ignoreMissing);
    this.cache.clear();
  }

  /** Every file below a collection that has a recorded checksum, as [relative segments, checksum]. */
  async checksumsUnder(segments: readonly string[]): Promise<[string[], FileChecksum][]> {
    const found: [string[], FileChecksum][] = [];
    const walk = async (folder: string, relative: string[]): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(folder);
      } catch {
        return;
      }
      for (const name of names) {
        if (name.endsWith('.d')) await walk(path.join(folder, name), [...relative, name.slice(0, -2)]);
        else if (name.endsWith('.m')) {
          const meta = await this.read([...segments, ...relative, name.slice(0, -2)]);
          if (meta.file) found.push([[...relative, name.slice(0, -2)], meta.file]);
        }
      }
    };
    await walk(this.folderOf(segments), []);
    return found;
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  await rename(from, to).catch(ignoreMissing);
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
