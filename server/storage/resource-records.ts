// What the service keeps about each resource of the tree (embedded), in a mirror of the tree under
// ARTIFACTS_DIR/.meta, as two separate small files so that no write of one can clobber the
// other: a file's checksum record (`.m`) and its WebDAV dead properties (`.p`). Writing
// one resource's metadata never rewrites anything shared, and moving a collection moves
// its members' metadata with one rename. (Build states and pins are build-records.ts.)
//
// A checksum record is a small JSON file, written to a temporary name and renamed in, so
// that nginx can read it too (nginx/describe.js: it has no readlink) and send a download
// without asking the app. A version before wrote them as symbolic links whose target is
// the record ('record:{"sha256":...}'); those are still read, never followed, and
// rewritten as a file the first time they are read.
//
// Layout: resource /a/b/c -> .meta/a.d/b.d/c.m and c.p; the members of /a/b live under
// .meta/a.d/b.d/. The suffixes differ, so a resource's files never collide with a
// collection's folder. Metadata paths are longer than tree paths (two bytes per segment,
// and the prefix): tree-path limits leave room for that (storagePathProblem).
import { existsSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { META_DIR } from './artifact-store.js';
import { renameCreatingParents } from './file-system.js';
import type { FileRecord, ResourceRecords, SetAside, StoredProperty, TempFiles } from '../domain/stores.js';

const CACHE_ENTRIES = 20_000;
const RECORD_PREFIX = 'record:';

type Kind = 'm' | 'p';

export class ResourceRecordFiles implements ResourceRecords {
  readonly base: string;
  // Read on every download: bounded caches of recently used entries, dropped on change.
  private readonly records = new Map<string, FileRecord | null>();
  private readonly props = new Map<string, StoredProperty[]>();

  constructor(
    artifactsDir: string,
    private readonly temps: TempFiles,
  ) {
    this.base = path.join(artifactsDir, META_DIR);
  }

  folderOf(segments: readonly string[]): string {
    return path.join(this.base, ...segments.map((s) => `${s}.d`));
  }

  fileOf(segments: readonly string[], kind: Kind): string {
    if (segments.length === 0) return path.join(this.base, `root.${kind}`);
    return path.join(this.folderOf(segments.slice(0, -1)), `${segments[segments.length - 1]}.${kind}`);
  }

  private readJson(file: string): unknown {
    // Synchronous: a small file, read far faster than a trip through the thread pool.
    // Most resources have none: asking first spares building an ENOENT exception.
    if (!existsSync(file)) return null;
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      // Unreadable metadata counts as none; the next write replaces it.
      return null;
    }
  }

  /** A checksum record: a file, or (written by a version before) a link holding it. */
  private readRecord(file: string): unknown {
    try {
      const stats = lstatSync(file, { throwIfNoEntry: false });
      if (!stats) return null;
      if (!stats.isSymbolicLink()) return this.readJson(file);
      const target = readlinkSync(file);
      if (!target.startsWith(RECORD_PREFIX)) return null;
      const record = JSON.parse(target.slice(RECORD_PREFIX.length)) as unknown;
      // Rewritten as a file, which nginx reads too: once, at its first read. (Synchronous,
      // like every write of a record here: no other write of it can come in between.)
      this.writeJson(file, record);
      return record;
    } catch {
      // Unreadable metadata counts as none; the next write replaces it.
      return null;
    }
  }

  private writeJson(file: string, value: unknown): void {
    const temp = this.temps.tempPath('meta');
    try {
      // A few hundred bytes: written synchronously, like the read.
      writeFileSync(temp, JSON.stringify(value));
      renameCreatingParents(temp, file);
      this.temps.settle(temp);
    } catch (err) {
      void this.temps.discard(temp);
      throw err;
    }
  }

  private remember<T>(cache: Map<string, T>, key: string, value: T): T {
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(key, value);
    return value;
  }

  async fileRecord(segments: readonly string[]): Promise<FileRecord | null> {
    const key = segments.join('/');
    const cached = this.records.get(key);
    if (cached !== undefined) return cached;
    const parsed = this.readRecord(this.fileOf(segments, 'm')) as (Partial<FileRecord> & { file?: FileRecord }) | null;
    // Layout 1 kept the record under `file`, beside the properties (migrate.ts converts).
    const raw = parsed && typeof parsed.sha256 === 'string' ? parsed : (parsed?.file ?? null);
    const record = raw && typeof raw.sha256 === 'string' && typeof raw.size === 'number' && typeof raw.mtimeMs === 'number' ? (raw as FileRecord) : null;
    return this.remember(this.records, key, record);
  }

  /** Records a file's checksum; returns what undoes it (the previous record put back). */
  async setFileRecord(segments: readonly string[], record: FileRecord): Promise<SetAside> {
    const key = segments.join('/');
    const previous = await this.fileRecord(segments);
    this.records.delete(key);
    this.writeJson(this.fileOf(segments, 'm'), record);
    return {
      restore: async () => {
        this.records.delete(key);
        if (previous) this.writeJson(this.fileOf(segments, 'm'), previous);
        else await rm(this.fileOf(segments, 'm'), { force: true });
      },
      drop: async () => undefined,
    };
  }

  async properties(segments: readonly string[]): Promise<StoredProperty[]> {
    const key = segments.join('/');
    const cached = this.props.get(key);
    if (cached) return cached;
    const parsed = this.readJson(this.fileOf(segments, 'p'));
    const props = Array.isArray(parsed) ? (parsed as StoredProperty[]) : [];
    return this.remember(this.props, key, props);
  }

  async setProperties(segments: readonly string[], props: StoredProperty[]): Promise<void> {
    const key = segments.join('/');
    this.props.delete(key);
    if (props.length === 0) await rm(this.fileOf(segments, 'p'), { force: true });
    else this.writeJson(this.fileOf(segments, 'p'), props);
  }

  private forgetAll(): void {
    this.records.clear();
    this.props.clear();
  }

  /**
   * Moves a resource's metadata (and a collection's members') out of the way in a few
   * renames, to be dropped once the change it belongs to is done, or put back if it fails.
   */
  async setAside(segments: readonly string[]): Promise<SetAside> {
    this.forgetAll();
    const moved: [string, string][] = [];
    const targets = [this.fileOf(segments, 'm'), this.fileOf(segments, 'p'), ...(segments.length > 0 ? [this.folderOf(segments)] : [])];
    for (const from of targets) {
      const aside = this.temps.tempPath('meta-aside');
      try {
        await rename(from, aside);
        moved.push([from, aside]);
      } catch (err) {
        this.temps.settle(aside);
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          for (const [back, where] of moved.reverse()) await rename(where, back).catch(() => undefined);
          throw err;
        }
      }
    }
    return {
      restore: async () => {
        this.forgetAll();
        for (const [back, where] of moved) {
          await mkdir(path.dirname(back), { recursive: true });
          await rename(where, back).catch(async (err: NodeJS.ErrnoException) => {
            // Written since (a folder's member): what was set aside goes back over it.
            if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
            await rm(back, { recursive: true, force: true });
            await rename(where, back);
          });
          this.temps.settle(where);
        }
      },
      drop: async () => {
        for (const [, where] of moved) await this.temps.discard(where);
      },
    };
  }

  /** Forgets a resource and, for a collection, all of its members. */
  async remove(segments: readonly string[]): Promise<void> {
    await (await this.setAside(segments)).drop();
  }

  /** Moves metadata to `to`, replacing what was there; returns what undoes the move. */
  async move(from: readonly string[], to: readonly string[]): Promise<SetAside> {
    const replaced = await this.setAside(to);
    this.forgetAll();
    const renamed: [string, string][] = [];
    try {
      await mkdir(path.dirname(this.fileOf(to, 'm')), { recursive: true });
      for (const kind of ['m', 'p'] as const) if (await renameIfPresent(this.fileOf(from, kind), this.fileOf(to, kind))) renamed.push([this.fileOf(from, kind), this.fileOf(to, kind)]);
      if (await renameIfPresent(this.folderOf(from), this.folderOf(to))) renamed.push([this.folderOf(from), this.folderOf(to)]);
    } catch (err) {
      for (const [back, where] of renamed.reverse()) await rename(where, back).catch(() => undefined);
      await replaced.restore();
      throw err;
    }
    return {
      restore: async () => {
        this.forgetAll();
        for (const [back, where] of renamed.reverse()) await rename(where, back);
        await replaced.restore();
      },
      drop: () => replaced.drop(),
    };
  }

  /** Copies metadata to `to`, replacing what was there; returns what undoes the copy. */
  async copy(from: readonly string[], to: readonly string[], withMembers: boolean): Promise<SetAside> {
    const replaced = await this.setAside(to);
    const undo = async (): Promise<void> => {
      this.forgetAll();
      await rm(this.fileOf(to, 'm'), { force: true });
      await rm(this.fileOf(to, 'p'), { force: true });
      if (to.length > 0) await rm(this.folderOf(to), { recursive: true, force: true });
      await replaced.restore();
    };
    try {
      await mkdir(path.dirname(this.fileOf(to, 'm')), { recursive: true });
      // verbatimSymlinks: a record is a link whose target is data, not a path to resolve.
      for (const kind of ['m', 'p'] as const) await cp(this.fileOf(from, kind), this.fileOf(to, kind), { verbatimSymlinks: true }).catch(ignoreMissing);
      if (withMembers) await cp(this.folderOf(from), this.folderOf(to), { recursive: true, verbatimSymlinks: true }).catch(ignoreMissing);
    } catch (err) {
      await undo();
      throw err;
    }
    this.forgetAll();
    return { restore: undo, drop: () => replaced.drop() };
  }

  /** Every file below a collection that has a checksum record, as [relative segments, record]. */
  async fileRecordsUnder(segments: readonly string[]): Promise<[string[], FileRecord][]> {
    const found: [string[], FileRecord][] = [];
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
          const record = await this.fileRecord([...segments, ...relative, name.slice(0, -2)]);
          if (record) found.push([[...relative, name.slice(0, -2)], record]);
        }
      }
    };
    await walk(this.folderOf(segments), []);
    return found;
  }

  /** Every resource with metadata, for `artifact-repo migrate` (a walk of the whole tree). */
  async *entries(): AsyncGenerator<{ segments: string[]; record: FileRecord | null; props: StoredProperty[] }> {
    const self = this;
    async function* walk(folder: string, segments: string[]): AsyncGenerator<{ segments: string[]; record: FileRecord | null; props: StoredProperty[] }> {
      let names: string[];
      try {
        names = (await readdir(folder)).sort();
      } catch {
        return;
      }
      const resources = new Set<string>();
      for (const name of names) {
        if (name.endsWith('.d')) resources.add(name.slice(0, -2));
        else if (name.endsWith('.m') || name.endsWith('.p')) resources.add(name.slice(0, -2));
      }
      for (const name of [...resources].sort()) {
        if (folder === self.base && name === 'root') continue;
        const at = [...segments, name];
        const record = await self.fileRecord(at);
        const props = await self.properties(at);
        if (record || props.length > 0) yield { segments: at, record, props };
        yield* walk(self.folderOf(at), at);
      }
    }
    const rootProps = await this.properties([]);
    if (rootProps.length > 0) yield { segments: [], record: null, props: rootProps };
    yield* walk(this.base, []);
  }
}

async function renameIfPresent(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    ignoreMissing(err as NodeJS.ErrnoException);
    return false;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
