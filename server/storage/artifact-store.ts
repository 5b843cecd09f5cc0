// The artifact tree on disk. ARTIFACTS_DIR holds the public tree, which nginx may serve
// straight from disk, plus two hidden folders that no tree path can name (tree names
// cannot start with a dot): `.incoming` for work in flight (incoming.ts) and `.meta` for
// what the embedded store keeps about each resource. Both are on the same filesystem as
// the tree, so that a finished upload is published with one rename. Here: reading the
// tree without ever following a symbolic link, and changing it all at once or not at all.
import type { Stats } from 'node:fs';
import { closeSync, constants as fsConstants, createReadStream, fstatSync, lstatSync, openSync, readlinkSync, realpathSync, statSync, utimesSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Failure, storageFailure } from '../domain/errors.js';
import type { ArtifactTree, OpenedFile, SetAside, TreeFile, TreePut, TreePutOptions } from '../domain/stores.js';
import { storagePathProblem } from '../domain/path-limits.js';
import { receiveWhole, SMALL_BODY_BYTES, writeStreamed, writeWhole } from './body-files.js';
import { copyTree, isMissing, renameCreatingParents, statOrNull, statSyncOrNull } from './file-system.js';
import { IncomingFiles } from './incoming.js';
import { ServedFiles } from './served-files.js';

export const META_DIR = '.meta';

export interface PutResult extends TreePut {
  /** The stored file as it is now on disk (its checksum is valid for this size and mtime). */
  stats: Stats;
}

export class ArtifactStore implements ArtifactTree {
  /** Where this process makes what must appear in the tree all at once. */
  readonly incoming: IncomingFiles;
  // The tree's own path with any symlinks above it resolved: what the kernel says a file
  // opened inside the tree is at.
  private realRoot: string;
  private readonly served = new ServedFiles();

  /**
   * `replica`: other processes share this tree (with DATABASE_URL), each with its own
   * folder in `.incoming` named by its replica id, so that none clears another's uploads.
   */
  constructor(
    readonly root: string,
    private readonly replica: string | null = null,
  ) {
    this.incoming = new IncomingFiles(root, replica);
    this.realRoot = root;
  }

  /** Creates the layout and removes uploads that a previous process left unfinished. */
  async init(): Promise<{ staleRemoved: number }> {
    await this.incoming.ensure();
    await mkdir(path.join(this.root, META_DIR), { recursive: true });
    this.realRoot = realpathSync.native(this.root);
    return { staleRemoved: await this.incoming.sweep() };
  }

  /** Why a path (with members `below` bytes and `belowSegments` segments deeper) is too long for this volume, or null. */
  storagePathProblem(segments: readonly string[], below = 0, belowSegments = 0): string | null {
    return storagePathProblem({ rootBytes: Buffer.byteLength(this.root), databaseKeys: this.replica !== null }, segments, below, belowSegments);
  }

  /** Segments were validated by parseTreePath; the check is a second lock on the door. */
  fsPath(segments: readonly string[]): string {
    const full = path.join(this.root, ...segments);
    if (full !== this.root && !full.startsWith(this.root + path.sep)) throw new Failure('invalid', 'path outside the tree');
    return full;
  }

  /**
   * The resource's stats, or null when there is none. No HTTP method makes a symbolic link,
   * but one placed on disk (an admin's mistake, a restored backup) must not lead outside
   * the tree: a link, or a path through a linked folder, counts as missing.
   */
  async stat(segments: readonly string[]): Promise<Stats | null> {
    const full = this.fsPath(segments);
    // Synchronous, like openForReading: a cached inode's lstat beats a thread-pool trip.
    let stats: Stats | undefined;
    try {
      stats = lstatSync(full, { throwIfNoEntry: false });
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    if (!stats || stats.isSymbolicLink()) return null;
    try {
      if (segments.length > 1 && realpathSync.native(path.dirname(full)) !== path.join(this.realRoot, ...segments.slice(0, -1))) return null;
    } catch (err) {
      // The folder went meanwhile (another process deleted it): missing, not a failure.
      if (isMissing(err)) return null;
      throw err;
    }
    return stats;
  }

  /**
   * Opens a tree path for reading, refusing symbolic links at any level: the file is
   * opened without following a final link, and the kernel's name for what was opened must
   * be the path inside the tree. Synchronously, on purpose: open and fstat of a cached
   * inode take microseconds, while a trip through libuv's thread pool costs far more than
   * that on a small download (measured: 4 KiB GETs ran 30 % idle waiting for the pool).
   */
  openForReading(segments: readonly string[]): { fd: number; stats: Stats } | null {
    const full = this.fsPath(segments);
    let fd: number;
    try {
      fd = openSync(full, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return null;
      throw err;
    }
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== path.join(this.realRoot, ...segments)) {
        closeSync(fd);
        return null;
      }
      return { fd, stats: fstatSync(fd) };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /**
   * A small file's stats and bytes, kept from an earlier download, when the path still
   * names that very file (sameFile): one lstat instead of openForReading's open, readlink,
   * fstat, read and close. The bytes were read through openForReading's check for links;
   * the same inode reached through a link placed since serves those bytes again, nothing
   * else. Null: read it from disk.
   */
  cachedFile(segments: readonly string[]): { stats: Stats; bytes: Buffer } | null {
    // Not with replicas: on a shared volume (NFS) lstat may answer from a cache of
    // attributes for seconds after another replica replaced the file; open revalidates.
    if (this.replica) return null;
    const key = segments.join('/');
    if (!this.served.has(key)) return null;
    return this.served.get(key, lstatSync(this.fsPath(segments), { throwIfNoEntry: false }));
  }

  /** Keeps a small file's bytes, read whole from the file `stats` describes, for cachedFile. */
  rememberFile(segments: readonly string[], stats: Stats, bytes: Buffer): void {
    if (!this.replica) this.served.remember(segments.join('/'), stats, bytes);
  }

  /** Why a write to this path is refused because it goes through a symbolic link, or null. */
  symlinkProblem(segments: readonly string[]): string | null {
    let dir = this.root;
    for (const segment of segments) {
      dir = path.join(dir, segment);
      const stats = lstatSync(dir, { throwIfNoEntry: false });
      if (!stats) return null;
      if (stats.isSymbolicLink()) return 'the path goes through a symbolic link, which this repository never follows';
    }
    return null;
  }

  async ensureCollection(segments: readonly string[]): Promise<void> {
    try {
      await mkdir(this.fsPath(segments), { recursive: true });
    } catch (err) {
      throw storageFailure(err);
    }
  }

  /** Entries of a collection, hidden service folders excluded. */
  async list(segments: readonly string[]): Promise<{ name: string; stats: Stats }[]> {
    const dir = this.fsPath(segments);
    const names = await readdir(dir);
    const entries: { name: string; stats: Stats }[] = [];
    for (const name of names) {
      if (segments.length === 0 && name.startsWith('.')) continue;
      try {
        const stats = await lstat(path.join(dir, name));
        if (stats.isFile() || stats.isDirectory()) entries.push({ name, stats });
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
    return entries;
  }

  /**
   * The names of a collection's files and collections (hidden service folders excluded),
   * unsorted, read in one readdir: a page of a long listing stats only what it shows.
   */
  async names(segments: readonly string[]): Promise<{ name: string; collection: boolean }[]> {
    const dir = this.fsPath(segments);
    const found: { name: string; collection: boolean }[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (segments.length === 0 && entry.name.startsWith('.')) continue;
      if (entry.isFile() || entry.isDirectory()) found.push({ name: entry.name, collection: entry.isDirectory() });
    }
    return found;
  }

  /** The longest relative path below a collection, in bytes and segments (for COPY and MOVE). */
  async deepestBelow(segments: readonly string[]): Promise<{ bytes: number; segments: number }> {
    let deepest = { bytes: 0, segments: 0 };
    const walk = async (dir: string, bytes: number, depth: number): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        const here = { bytes: bytes + Buffer.byteLength(entry.name) + 1, segments: depth + 1 };
        if (here.bytes + 3 * here.segments > deepest.bytes + 3 * deepest.segments) deepest = here;
        if (entry.isDirectory()) await walk(path.join(dir, entry.name), here.bytes, here.segments);
      }
    };
    await walk(this.fsPath(segments), 0, 0);
    return deepest;
  }

  /**
   * Streams `body` into a temporary file and renames it over `segments` once complete,
   * creating missing parent collections only then. On any failure the temporary file is
   * removed and the tree is unchanged.
   */
  async putFile(
    segments: readonly string[],
    body: Readable,
    options: TreePutOptions = {},
  ): Promise<PutResult> {
    const { expectedSha256 = null, declaredLength = null, beforePublish, received, mtimeMs } = options;
    const target = this.fsPath(segments);
    const temp = this.incoming.tempPath('put');
    let undo: (() => Promise<void>) | null = null;
    try {
      const small = declaredLength !== null && declaredLength <= SMALL_BODY_BYTES;
      const written = small ? writeWhole(temp, await receiveWhole(body, declaredLength, received)) : await writeStreamed(temp, body, declaredLength, received);
      const { sha256 } = written;
      let { stats } = written;
      if (expectedSha256 !== null && sha256 !== expectedSha256) {
        throw new Failure('invalid', `checksum mismatch: the body's SHA-256 is ${sha256}, not the declared ${expectedSha256}; nothing was stored`);
      }
      // Publishing is a handful of metadata calls on cached inodes: done synchronously, as
      // a trip through the thread pool each costs more than the call (docs/performance.md).
      // (Under a file, this stat fails with ENOTDIR: 409 before anything is recorded.)
      const existing = statSyncOrNull(target);
      if (existing?.isDirectory()) throw new Failure('not-allowed', 'a collection exists at this path');
      if (mtimeMs !== undefined) {
        utimesSync(temp, new Date(mtimeMs), new Date(mtimeMs));
        stats = statSync(temp);
      }
      // A replacement always gets a new validator: nginx's ETag and Last-Modified count whole
      // seconds, so a same-size file written within the old one's second would share them.
      if (existing && Math.floor(existing.mtimeMs / 1000) >= Math.floor(stats.mtimeMs / 1000)) {
        const later = new Date((Math.floor(existing.mtimeMs / 1000) + 1) * 1000);
        utimesSync(temp, later, later);
        stats = statSync(temp);
      }
      // rename() keeps inode, size and mtime: what is recorded for the temporary file holds for the target.
      undo = (await beforePublish?.(sha256, stats)) ?? null;
      // Missing parent collections are created only now, once the body is complete.
      renameCreatingParents(temp, target);
      undo = null;
      this.incoming.settle(temp);
      return { created: existing === null, replacedSize: existing?.size ?? 0, size: stats.size, sha256, stats };
    } catch (err) {
      await (undo as (() => Promise<void>) | null)?.().catch(() => undefined);
      await this.incoming.discard(temp);
      throw storageFailure(err);
    }
  }

  /** openForReading, as the tree's interface has it: the descriptor, and a stream that closes it. */
  async open(segments: readonly string[]): Promise<OpenedFile | null> {
    const opened = this.openForReading(segments);
    if (!opened) return null;
    const { fd, stats } = opened;
    if (!stats.isFile()) {
      closeSync(fd);
      return null;
    }
    let closed = false;
    return {
      stats,
      fd,
      stream: async (start = 0, end = Math.max(0, stats.size - 1)) => {
        closed = true;
        return createReadStream('', { fd, start, end, autoClose: true });
      },
      close: () => {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
  }

  /** The file is on this machine already: its own path (checked for links), nothing to release. */
  async localFile(segments: readonly string[], maxBytes: number): Promise<{ path: string; size: number; release(): Promise<void> } | null> {
    const stats = await this.stat(segments);
    if (!stats?.isFile()) return null;
    if (stats.size > maxBytes) throw new Failure('too-large', `the file is larger than ${maxBytes} bytes`);
    return { path: this.fsPath(segments), size: stats.size, release: async () => undefined };
  }

  /** Every file below a collection, folder by folder in name order; what vanishes meanwhile (an open build changes) is left out. */
  async filesBelow(segments: readonly string[]): Promise<TreeFile[]> {
    const found: TreeFile[] = [];
    const walk = async (dir: string, relative: string[]): Promise<void> => {
      const names = await readdir(dir).catch(ignoreVanished);
      for (const name of (names ?? []).sort()) {
        if (relative.length === 0 && segments.length === 0 && name.startsWith('.')) continue;
        const stats = await lstat(path.join(dir, name)).catch(ignoreVanished);
        if (!stats) continue;
        if (stats.isDirectory()) await walk(path.join(dir, name), [...relative, name]);
        else if (stats.isFile()) found.push({ relative: [...relative, name], size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino });
      }
    };
    await walk(this.fsPath(segments), []);
    return found;
  }

  /**
   * Renames a collection out of the tree into `.incoming` (readers see all of it or none).
   * Moving a folder to another parent rewrites its "..": a read-only (sealed) one is made
   * writable for the move, and read-only again if it is put back.
   */
  async setAside(segments: readonly string[]): Promise<SetAside> {
    const root = this.fsPath(segments);
    const trash = this.incoming.tempPath('aside');
    const mode = (await stat(root)).mode & 0o777;
    try {
      await chmod(root, 0o755);
      await rename(root, trash);
    } catch (err) {
      this.incoming.settle(trash);
      await chmod(root, mode).catch(() => undefined);
      throw storageFailure(err);
    }
    return {
      restore: async () => {
        await rename(trash, root);
        this.incoming.settle(trash);
        await chmod(root, mode);
      },
      drop: () => this.incoming.discard(trash),
    };
  }

  /** Files 0444, folders 0555: the kernel refuses writes to a sealed build as well. */
  async makeReadOnly(segments: readonly string[]): Promise<void> {
    await makeReadOnly(this.fsPath(segments));
  }

  /** The collection itself writable again (a seal retried writes its own files at its root). */
  async makeWritable(segments: readonly string[]): Promise<void> {
    await chmod(this.fsPath(segments), 0o755);
  }

  async makeCollection(segments: readonly string[]): Promise<void> {
    try {
      await mkdir(this.fsPath(segments));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new Failure('not-allowed', 'the collection already exists');
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new Failure('conflict', 'the parent collection does not exist');
      throw storageFailure(err);
    }
  }

  /**
   * Removes a file or a whole collection. A collection is first renamed out of the tree,
   * so readers see it whole or gone, never half deleted.
   */
  async remove(segments: readonly string[]): Promise<void> {
    const trash = this.incoming.tempPath('delete');
    try {
      await rename(this.fsPath(segments), trash);
    } catch (err) {
      this.incoming.settle(trash);
      throw storageFailure(err);
    }
    await this.incoming.discard(trash);
  }

  /** Moves a resource within the tree, replacing what is at the destination. */
  async move(from: readonly string[], to: readonly string[]): Promise<void> {
    try {
      await this.replaceWith(this.fsPath(from), this.fsPath(to));
    } catch (err) {
      throw storageFailure(err);
    }
  }

  /**
   * Copies a resource: built completely in `.incoming` first, then moved into place, so a
   * reader never sees a partial copy. `depthZero` copies a collection without its members.
   */
  async copy(from: readonly string[], to: readonly string[], depthZero: boolean): Promise<void> {
    const temp = this.incoming.tempPath('copy');
    try {
      const source = this.fsPath(from);
      if (depthZero && (await stat(source)).isDirectory()) await mkdir(temp);
      else await copyTree(source, temp);
      await this.replaceWith(temp, this.fsPath(to));
      this.incoming.settle(temp);
    } catch (err) {
      await this.incoming.discard(temp);
      throw storageFailure(err);
    }
  }

  /**
   * Puts `ready` at `target`, replacing what is there. Two files swap in one atomic
   * rename; a folder on either side is set aside first and put back if the swap fails.
   */
  private async replaceWith(ready: string, target: string): Promise<void> {
    const existing = await statOrNull(target);
    if (!existing || (!existing.isDirectory() && !(await stat(ready)).isDirectory())) {
      await rename(ready, target);
      return;
    }
    const aside = this.incoming.tempPath('replaced');
    await rename(target, aside);
    try {
      await rename(ready, target);
    } catch (err) {
      await rename(aside, target).catch(() => undefined);
      this.incoming.settle(aside);
      throw err;
    }
    await this.incoming.discard(aside);
  }

}

function ignoreVanished(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
  throw err;
}

async function makeReadOnly(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const full = path.join(dir, name);
    const stats = await lstat(full);
    if (stats.isDirectory()) await makeReadOnly(full);
    else if (stats.isFile()) await chmod(full, 0o444);
  }
  await chmod(dir, 0o555);
}
