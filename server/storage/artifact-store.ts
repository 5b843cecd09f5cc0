// The artifact tree on disk. ARTIFACTS_DIR holds the public tree, which nginx may serve
// straight from disk, plus two hidden folders that no tree path can name (tree names
// cannot start with a dot): `.incoming` for uploads in flight and `.meta` for what the
// service keeps about each resource. Both are on the same filesystem as the tree, so that
// a finished upload is published with one rename.
import type { Stats } from 'node:fs';
import { closeSync, constants as fsConstants, createReadStream, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync, renameSync, statSync, utimesSync, writeSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';

import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { noteStreamedBytes } from './buffer-release.js';
import { hashWorker, TRAILING_HASH_MIN_BYTES, type TrailingHash } from './trailing-hasher.js';
import { Failure, storageFailure } from '../domain/errors.js';

export const INCOMING_DIR = '.incoming';
// PATH_MAX is 4096 with the terminating NUL.
const MAX_FS_PATH_BYTES = 4095;
export const META_DIR = '.meta';
// PostgreSQL's b-tree takes keys up to 2704 bytes; a change that sets a path aside adds a
// prefix of about 40 bytes.
const MAX_DATABASE_KEY_BYTES = 2600;
/**
 * A body of at most this many declared bytes is received whole into memory, then written,
 * hashed and published in a few synchronous calls: no write stream, no thread-pool trips
 * (each costs more than the write of a page-cached 4 KiB file; docs/performance.md).
 */
export const SMALL_BODY_BYTES = 64 * 1024;

/** Small files whose bytes are kept after a download (cachedFile), and how many bytes in all. */
export const CACHED_FILE_BYTES = 64 * 1024;
const FILE_CACHE_BYTES = 16 * 1024 * 1024;

type Identity = Pick<Stats, 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>;

/**
 * The same file as when it was read: inode, size, mtime and ctime. Any write to it moves
 * its ctime (which no one can set), and an upload or a copy is always another inode.
 */
export function sameFile(a: Identity, b: Identity): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}


export interface PutResult {
  created: boolean;
  /** Size of the file it replaced (0 for a new one). */
  replacedSize: number;
  size: number;
  sha256: string;
  /** The stored file as it is now on disk (its checksum is valid for this size and mtime). */
  stats: Stats;
}

export class ArtifactStore {
  readonly incomingDir: string;
  // The tree's own path with any symlinks above it resolved: what the kernel says a file
  // opened inside the tree is at.
  private realRoot: string;
  /** Temporary paths some operation of this process is still using. */
  private readonly inUse = new Set<string>();
  /** Bytes of small files read whole, by path, oldest first (cachedFile, rememberFile). */
  private readonly files = new Map<string, { stats: Stats; bytes: Buffer }>();
  private filesBytes = 0;

  /**
   * `replica`: other processes share this tree (with DATABASE_URL), each with its own
   * folder in `.incoming` named by its replica id, so that none clears another's uploads.
   */
  constructor(
    readonly root: string,
    private readonly replica: string | null = null,
  ) {
    this.incomingDir = replica ? path.join(root, INCOMING_DIR, replica) : path.join(root, INCOMING_DIR);
    this.realRoot = root;
  }

  /** Creates the layout and removes uploads that a previous process left unfinished. */
  async init(): Promise<{ staleRemoved: number }> {
    await mkdir(this.incomingDir, { recursive: true });
    await mkdir(path.join(this.root, META_DIR), { recursive: true });
    this.realRoot = realpathSync.native(this.root);
    return { staleRemoved: await this.sweepIncoming() };
  }

  /**
   * Why a path (with members up to `below` bytes and `belowSegments` segments deeper) is
   * too long for this volume, or null. The metadata mirror's paths are the longest: two
   * bytes more per segment, plus the prefix and the suffix; the kernel takes 4095 bytes.
   */
  storagePathProblem(segments: readonly string[], below = 0, belowSegments = 0): string | null {
    let bytes = Buffer.byteLength(this.root) + `/${META_DIR}`.length + below + 3 * belowSegments + 2;
    let key = below + belowSegments;
    for (const segment of segments) {
      bytes += Buffer.byteLength(segment) + 3;
      key += Buffer.byteLength(segment) + 1;
    }
    if (bytes > MAX_FS_PATH_BYTES) return `path too long for this repository's storage (by ${bytes - MAX_FS_PATH_BYTES} bytes)`;
    // Shared with other replicas, a path is also a key of PostgreSQL's b-tree (pg/resource-records.ts).
    if (this.replica && key > MAX_DATABASE_KEY_BYTES) return `path too long for this repository's database (by ${key - MAX_DATABASE_KEY_BYTES} bytes)`;
    return null;
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
    const kept = this.files.get(key);
    if (!kept) return null;
    const now = lstatSync(this.fsPath(segments), { throwIfNoEntry: false });
    if (now && now.isFile() && sameFile(now, kept.stats)) return kept;
    this.forgetFile(key);
    return null;
  }

  /** Keeps a small file's bytes, read whole from the file `stats` describes, for cachedFile. */
  rememberFile(segments: readonly string[], stats: Stats, bytes: Buffer): void {
    if (this.replica || bytes.length > CACHED_FILE_BYTES || bytes.length !== stats.size) return;
    const key = segments.join('/');
    this.forgetFile(key);
    this.files.set(key, { stats, bytes });
    this.filesBytes += bytes.length;
    for (const [oldest, kept] of this.files) {
      if (this.filesBytes <= FILE_CACHE_BYTES) break;
      this.files.delete(oldest);
      this.filesBytes -= kept.bytes.length;
    }
  }

  private forgetFile(key: string): void {
    const kept = this.files.get(key);
    if (!kept) return;
    this.files.delete(key);
    this.filesBytes -= kept.bytes.length;
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

  // Temporary names: random per process, then counted (16 random bytes per upload cost
  // more than the rest of the name); files are created exclusively all the same.
  private readonly tempPrefix = randomBytes(9).toString('base64url');
  private tempCount = 0;

  /** A fresh path in `.incoming`, for work that must appear in the tree all at once. */
  tempPath(label: string): string {
    const temp = path.join(this.incomingDir, `${label}-${this.tempPrefix}-${(++this.tempCount).toString(36)}`);
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

  /** Makes this process's `.incoming` folder again, should it have been removed. */
  async ensureIncoming(): Promise<void> {
    await mkdir(this.incomingDir, { recursive: true });
  }

  /** Removes from `.incoming` what no operation of this process is using: leftovers. */
  async sweepIncoming(): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.incomingDir)) {
      const full = path.join(this.incomingDir, name);
      if (this.inUse.has(full)) continue;
      await removeTree(full);
      removed++;
    }
    return removed;
  }

  /**
   * Streams `body` into a temporary file and renames it over `segments` once complete,
   * creating missing parent collections only then. On any failure the temporary file is
   * removed and the tree is unchanged.
   */
  async putFile(
    segments: readonly string[],
    body: Readable,
    options: {
      expectedSha256?: string | null;
      /** The declared Content-Length, if any: large bodies are hashed in the worker thread. */
      declaredLength?: number | null;
      /**
       * Runs once the body is complete and checked, before it appears: its failure stores
       * nothing. What it returns is run if publishing fails after it.
       */
      beforePublish?: (sha256: string, stats: Stats) => Promise<() => Promise<void>>;
      /** Told of each chunk's size as it arrives (the access log counts a cut-off upload's bytes). */
      received?: (bytes: number) => void;
    } = {},
  ): Promise<PutResult> {
    const { expectedSha256 = null, declaredLength = null, beforePublish, received } = options;
    const target = this.fsPath(segments);
    const temp = this.tempPath('put');
    let undo: (() => Promise<void>) | null = null;
    try {
      const small = declaredLength !== null && declaredLength <= SMALL_BODY_BYTES;
      const written = small ? writeWhole(temp, await receiveWhole(body, declaredLength, received)) : await this.writeStreamed(temp, body, declaredLength, received);
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
      this.settle(temp);
      return { created: existing === null, replacedSize: existing?.size ?? 0, size: stats.size, sha256, stats };
    } catch (err) {
      await (undo as (() => Promise<void>) | null)?.().catch(() => undefined);
      await this.discard(temp);
      throw storageFailure(err);
    }
  }

  /** A body of any size streamed into `temp`, hashed as it goes; the file's stats once closed. */
  private async writeStreamed(temp: string, body: Readable, declaredLength: number | null, received?: (bytes: number) => void): Promise<{ sha256: string; stats: Stats }> {
    const handle = await open(temp, 'wx', 0o644);
    const out = handle.createWriteStream({ highWaterMark: 1024 * 1024 });
    // Hashed as it streams: the file is never read from disk a second time, except from
    // the page cache by the hashing thread just behind the writer, for large bodies.
    const hash = declaredLength !== null && declaredLength >= TRAILING_HASH_MIN_BYTES ? null : createHash('sha256');
    const trailing: TrailingHash | null = hash ? null : hashWorker.follow(temp);
    try {
      body.on('data', (chunk: Buffer) => {
        if (hash) hash.update(chunk);
        else trailing?.written(out.bytesWritten);
        noteStreamedBytes(chunk.length);
        received?.(chunk.length);
      });
      await pipeline(body, out);
      // Should the hashing thread fail, the file is hashed here after all: slower, never wrong.
      const sha256 = hash ? hash.digest('hex') : await (trailing as TrailingHash).finish(out.bytesWritten).catch(() => hashOfFile(temp));
      return { sha256, stats: statSync(temp) };
    } catch (err) {
      trailing?.cancel();
      throw err;
    }
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
    const trash = this.tempPath('delete');
    try {
      await rename(this.fsPath(segments), trash);
    } catch (err) {
      this.settle(trash);
      throw storageFailure(err);
    }
    await this.discard(trash);
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
    const temp = this.tempPath('copy');
    try {
      const source = this.fsPath(from);
      if (depthZero && (await stat(source)).isDirectory()) await mkdir(temp);
      else await copyTree(source, temp);
      await this.replaceWith(temp, this.fsPath(to));
      this.settle(temp);
    } catch (err) {
      await this.discard(temp);
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
    const aside = this.tempPath('replaced');
    await rename(target, aside);
    try {
      await rename(ready, target);
    } catch (err) {
      await rename(aside, target).catch(() => undefined);
      this.settle(aside);
      throw err;
    }
    await this.discard(aside);
  }

}

async function copyTree(source: string, target: string): Promise<void> {
  // COPYFILE_FICLONE: a reflink where the filesystem offers one, a byte copy elsewhere.
  // Timestamps are kept: a file's recorded checksum is valid for its size and mtime.
  await cp(source, target, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true, mode: fsConstants.COPYFILE_FICLONE });
}

/**
 * A small body received whole, copied into one buffer that grows (by doubling, up to the
 * declared length) as bytes arrive: memory follows what was received, not what was
 * declared (a client that sends only headers holds nothing), and a body trickled in as
 * one-byte chunks is not kept as thousands of chunks, each pinning its socket read buffer.
 * Nothing touches the disk before the last byte: an aborted upload leaves nothing to clean.
 */
async function receiveWhole(body: Readable, length: number, received?: (bytes: number) => void): Promise<Buffer> {
  let whole = Buffer.alloc(0);
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > length) throw new Failure('invalid', 'request body longer than its Content-Length');
    if (size + chunk.length > whole.length) {
      const grown = Buffer.allocUnsafe(Math.min(length, Math.max(16 * 1024, whole.length * 2, size + chunk.length)));
      whole.copy(grown, 0, 0, size);
      whole = grown;
    }
    chunk.copy(whole, size);
    size += chunk.length;
    received?.(chunk.length);
  }
  if (size !== length) throw new Failure('invalid', 'request body incomplete: upload aborted');
  return whole.subarray(0, size);
}

/** Writes a whole small body to a new file in one call; its SHA-256 and the file's stats. */
function writeWhole(temp: string, bytes: Buffer): { sha256: string; stats: Stats } {
  const fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    return { sha256: createHash('sha256').update(bytes).digest('hex'), stats: fstatSync(fd) };
  } finally {
    closeSync(fd);
  }
}

/**
 * rename(), creating the target's missing parent folders when it fails for want of them:
 * the common case (the folder exists) costs the rename alone.
 */
export function renameCreatingParents(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(to), { recursive: true });
    renameSync(from, to);
  }
}

/**
 * A symbolic link this volume or this target cannot hold (a target over the volume's
 * limit, a file system without links): the caller keeps the same data in a small file.
 */
export function symlinkRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENAMETOOLONG' || code === 'EPERM' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EINVAL';
}

function statSyncOrNull(p: string): Stats | null {
  // No exception for a missing file: building one costs more than the stat.
  return statSync(p, { throwIfNoEntry: false }) ?? null;
}

async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await stat(p);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}


async function hashOfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * rm -rf that also removes a sealed build's tree (folders 0555), which a non-root service
 * user may not empty until they are writable again.
 */
export async function removeTree(target: string): Promise<void> {
  try {
    await rm(target, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    await makeFoldersWritable(target);
    await rm(target, { recursive: true, force: true });
  }
}

async function makeFoldersWritable(dir: string): Promise<void> {
  const stats = await lstat(dir).catch(() => null);
  if (!stats?.isDirectory()) return;
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeFoldersWritable(path.join(dir, entry.name));
  }
}
