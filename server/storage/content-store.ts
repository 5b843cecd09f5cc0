// Bodies by their SHA-256, kept once for the whole repository: what builds downloaded
// (their recorded inputs) and, later, the mirror. ARTIFACTS_DIR/.content/sha256/ab/abcd...,
// outside the public tree. A body is streamed into a temporary file while it is hashed
// and renamed into place only when complete: nothing partial is ever there.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type WriteStream } from 'node:fs';
import { mkdir, open, opendir, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { storageFailure } from '../domain/errors.js';
import { MismatchError, MissingBodyError, TooLargeError } from '../domain/content-errors.js';
import type { ContentStore as ContentStoreInterface, ContentWriter, TempFiles } from '../domain/stores.js';

export const CONTENT_DIR = '.content';

/** Reads of 1 MiB (a quarter of that halves a replay's rate). */
const READ_CHUNK = 1024 * 1024;

export { MismatchError, MissingBodyError, TooLargeError } from '../domain/content-errors.js';

/**
 * What becomes of a finished, checked temporary file: kept under its checksum. The temporary
 * file is the keeper's from then on (settled or discarded, whatever happens).
 */
type KeepBody = (temp: string, sha256: string, size: number) => Promise<void>;

/** A body being written to a temporary file: fed chunk by chunk, then finished (kept) or aborted (gone). */
class TempContentWriter implements ContentWriter {
  private readonly hash: Hash = createHash('sha256');
  private readonly out: WriteStream;
  private size = 0;
  private failed: Error | null = null;
  private settled = false;

  constructor(
    private readonly temps: TempFiles,
    private readonly temp: string,
    handle: FileHandle,
    private readonly keep: KeepBody,
  ) {
    this.out = handle.createWriteStream({ highWaterMark: 1024 * 1024 });
    this.out.on('error', (err) => (this.failed ??= err));
  }

  /** Whether the writer is ready for more (false: wait for 'drain' on `drained()`). */
  write(chunk: Buffer): boolean {
    this.size += chunk.length;
    this.hash.update(chunk);
    return this.out.write(chunk);
  }

  /** Calls `resume` once the file has room again (or failed). */
  onceDrained(resume: () => void): void {
    if (!this.out.writableNeedDrain || this.failed) return resume();
    const done = (): void => {
      this.out.off('drain', done);
      this.out.off('error', done);
      resume();
    };
    this.out.on('drain', done);
    this.out.on('error', done);
  }

  drained(): Promise<void> {
    return new Promise((resolve) => this.onceDrained(resolve));
  }

  /** The write failed (a full disk): the caller stops the transfer. */
  get error(): Error | null {
    return this.failed;
  }

  /**
   * Keeps the body under its checksum (an identical body already kept is reused). With an
   * expected checksum that differs, nothing is kept: MismatchError.
   */
  async finish(expectedSha256: string | null = null): Promise<{ sha256: string; size: number }> {
    this.settled = true;
    await new Promise<void>((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve()));
    }).catch(async (err: unknown) => {
      await this.temps.discard(this.temp);
      throw storageFailure(err);
    });
    const sha256 = this.hash.digest('hex');
    if (expectedSha256 !== null && sha256 !== expectedSha256) {
      await this.temps.discard(this.temp);
      throw new MismatchError(expectedSha256, sha256);
    }
    await this.keep(this.temp, sha256, this.size);
    return { sha256, size: this.size };
  }

  async abort(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    this.out.destroy();
    await this.temps.discard(this.temp);
  }
}

/** A writer into a fresh temporary file, open already: a full disk shows before any byte is sent on. */
async function openTempWriter(temps: TempFiles, keep: KeepBody): Promise<TempContentWriter> {
  const temp = temps.tempPath('content');
  try {
    // Read-only from the start (the mode binds later opens, not this one): no chmod later.
    return new TempContentWriter(temps, temp, await open(temp, 'wx', 0o444), keep);
  } catch (err) {
    await temps.discard(temp);
    throw storageFailure(err);
  }
}

/**
 * Feeds a whole stream to a writer and finishes it; the checksum, when given, must match,
 * and the body may not be longer than `maxBytes` (nothing is kept otherwise: MismatchError,
 * TooLargeError).
 */
async function putThrough(
  writer: ContentWriter,
  body: Readable,
  expectedSha256: string | null,
  onBytes: ((total: number) => void) | undefined,
  maxBytes: number,
): Promise<{ sha256: string; size: number }> {
  let total = 0;
  try {
    for await (const chunk of body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        body.destroy();
        throw new TooLargeError(maxBytes);
      }
      onBytes?.(total);
      if (!writer.write(chunk as Buffer)) await writer.drained();
      if (writer.error) throw storageFailure(writer.error);
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  return writer.finish(expectedSha256);
}

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
  open(): Promise<ContentWriter> {
    return openTempWriter(this.temps, (temp, sha256) => this.adopt(temp, sha256));
  }

  /**
   * Stores a whole stream; the checksum, when given, must match, and the body may not be
   * longer than `maxBytes` (nothing is kept otherwise: MismatchError, TooLargeError).
   */
  async put(body: Readable, expectedSha256: string | null = null, onBytes?: (total: number) => void, maxBytes = Infinity): Promise<{ sha256: string; size: number }> {
    return putThrough(await this.open(), body, expectedSha256, onBytes, maxBytes);
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

  /** The body's file opened (a missing one rejects: MissingBodyError), read in chunks of up to 1 MiB. */
  read(sha256: string, range?: { start: number; end: number }): Promise<Readable> {
    // A known end keeps a small body from allocating the whole MiB.
    const highWaterMark = range ? Math.min(READ_CHUNK, range.end - range.start + 1) : READ_CHUNK;
    let file: string;
    try {
      file = this.pathOf(sha256);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const stream = createReadStream(file, range ? { start: range.start, end: range.end, highWaterMark } : { highWaterMark });
    return new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException): void => {
        stream.off('ready', opened);
        reject(err.code === 'ENOENT' ? new MissingBodyError(sha256) : storageFailure(err));
      };
      const opened = (): void => {
        stream.off('error', failed);
        resolve(stream);
      };
      stream.once('error', failed);
      stream.once('ready', opened);
    });
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
