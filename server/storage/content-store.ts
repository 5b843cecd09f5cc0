// Bodies by their SHA-256, kept once for the whole repository: what builds downloaded
// (their recorded inputs) and, later, the mirror. ARTIFACTS_DIR/.content/sha256/ab/abcd...,
// outside the public tree. A body is streamed into a temporary file while it is hashed
// and renamed into place only when complete: nothing partial is ever there.
import { createHash } from 'node:crypto';
import { createReadStream, fstatSync, openSync } from 'node:fs';
import { mkdir, opendir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { storageFailure } from '../domain/errors.js';
import { MissingBodyError } from '../domain/content-errors.js';
import type { ContentStore as ContentStoreInterface, ContentWriter, FileBacked, TempFiles } from '../domain/stores.js';
import { openTempWriter, putThrough } from './io/temp-bodies.js';
import { keepWholeFile } from './io/whole-files.js';

export const CONTENT_DIR = '.content';

/** A body up to this is read at once by a sender (http/stored.ts): likely in the page cache. */
const SMALL_BODY_BYTES = 128 * 1024;

/** A body streamed (not read by position) is read 1 MiB at a time (a quarter of that halved a replay's rate). */
const READ_CHUNK = 1024 * 1024;

export { MismatchError, MissingBodyError, TooLargeError } from '../domain/content-errors.js';

/** The content store as files on the artifacts volume. */
export class ContentFiles implements ContentStoreInterface {
  readonly dir: string;
  /** The ab/ directories made already (at most 256). */
  private readonly prefixes = new Set<string>();

  constructor(
    artifactsDir: string,
    readonly temps: TempFiles,
  ) {
    this.dir = path.join(artifactsDir, CONTENT_DIR, 'sha256');
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('not a SHA-256');
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** A writer for a new body; its file is open already, so a full disk shows before any byte is sent on. */
  open(expectedBytes: number | null = null): Promise<ContentWriter> {
    return openTempWriter(this.temps, (temp, sha256) => this.adopt(temp, sha256), expectedBytes);
  }

  /**
   * Stores a whole stream; the checksum, when given, must match, and the body may not be
   * longer than `maxBytes` (nothing is kept otherwise: MismatchError, TooLargeError).
   */
  async put(body: Readable, expectedSha256: string | null = null, onBytes?: (total: number) => void, maxBytes = Infinity): Promise<{ sha256: string; size: number }> {
    return putThrough(await this.open(), body, expectedSha256, onBytes, maxBytes);
  }

  /**
   * A small body held whole: an identical one kept already (a file of its length under its
   * name) gets this moment as its time, as the sweep expects of a used body, and no file is
   * made or replaced; a new one is written and renamed in by a writing thread, in one
   * message (making a file can take most of a millisecond: docs/performance.md).
   */
  async keepWhole(body: Buffer): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(body).digest('hex');
    const temp = this.temps.tempPath('content');
    try {
      await keepWholeFile(temp, this.pathOf(sha256), body);
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw storageFailure(err);
    }
    return { sha256, size: body.length };
  }

  /**
   * Moves a finished temporary file in under its checksum. A body kept already is replaced
   * by its identical, newer copy: one rename, and the clean-up sees it as just used.
   */
  async adopt(temp: string, sha256: string): Promise<void> {
    const target = this.pathOf(sha256);
    try {
      const dir = path.dirname(target);
      if (!this.prefixes.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.prefixes.add(dir);
      }
      await rename(temp, target).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        // Its directory went (removed by hand): make it again.
        await mkdir(dir, { recursive: true });
        await rename(temp, target);
      });
      this.temps.settle(temp);
    } catch (err) {
      await this.temps.discard(temp);
      throw storageFailure(err);
    }
  }

  /**
   * The body's file opened (a missing one rejects: MissingBodyError), read in chunks of up
   * to 1 MiB; for a range, FileBacked too (a replay reads it by position: no buffer per chunk).
   */
  async read(sha256: string, range?: { start: number; end: number }): Promise<Readable & Partial<FileBacked>> {
    // A known end keeps a small body from allocating the whole MiB.
    const highWaterMark = range ? Math.min(READ_CHUNK, range.end - range.start + 1) : READ_CHUNK;
    const file = this.pathOf(sha256);
    let fd: number;
    try {
      // At once, as the tree's downloads open theirs: an open is far cheaper than a trip
      // through the thread pool, which a small replay would make three times.
      fd = openSync(file, 'r');
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? new MissingBodyError(sha256) : storageFailure(err);
    }
    const stream = createReadStream(file, range ? { fd, start: range.start, end: range.end, highWaterMark } : { fd, highWaterMark });
    // Only a small body is read at once: a range of a large one may be a cold read from disk.
    return range ? Object.assign(stream, { file: { fd, start: range.start, end: range.end, small: fstatSync(fd).size <= SMALL_BODY_BYTES } }) : stream;
  }

  /** Removes every body that `keep` does not name and that was not written or used since `since`. */
  async sweep(keep: ReadonlySet<string>, since: number): Promise<number> {
    let removed = 0;
    for (const prefix of await readdir(this.dir).catch(() => [] as string[])) {
      const dir = await opendir(path.join(this.dir, prefix)).catch(() => null);
      if (!dir) continue;
      for await (const entry of dir) {
        if (keep.has(entry.name)) continue;
        const full = path.join(this.dir, prefix, entry.name);
        const stats = await stat(full).catch(() => null);
        if (!stats || stats.mtimeMs >= since) continue;
        await rm(full, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
