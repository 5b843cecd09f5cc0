// A body written to a temporary file of this process while it is hashed, then kept (by
// whoever asked: renamed into the volume's content store, or uploaded to the bucket) or
// dropped: what both content stores write through (storage/content-store.ts and
// storage/pg/bucket-content.ts, which may not import each other).
import { createHash, type Hash } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { storageFailure } from '../../domain/errors.js';
import { MismatchError, TooLargeError } from '../../domain/content-errors.js';
import type { ContentWriter, TempFiles } from '../../domain/stores.js';
import { hashOfFile, hashWorker, TRAILING_HASH_MIN_BYTES, type TrailingHash } from './trailing-hasher.js';

/**
 * What becomes of a finished, checked temporary file: kept under its checksum. The temporary
 * file is the keeper's from then on (settled or discarded, whatever happens).
 */
export type KeepBody = (temp: string, sha256: string, size: number) => Promise<void>;

/** A body being written to a temporary file: fed chunk by chunk, then finished (kept) or aborted (gone). */
export class TempContentWriter implements ContentWriter {
  /** On this thread, or (a body known to be large) by the hashing thread just behind the file's writes. */
  private readonly hash: Hash | null;
  private readonly trailing: TrailingHash | null;
  private readonly out: WriteStream;
  private size = 0;
  private failed: Error | null = null;
  private settled = false;

  constructor(
    private readonly temps: TempFiles,
    private readonly temp: string,
    handle: FileHandle,
    private readonly keep: KeepBody,
    expectedBytes: number | null = null,
  ) {
    this.out = handle.createWriteStream({ highWaterMark: 1024 * 1024 });
    this.out.on('error', (err) => (this.failed ??= err));
    // A large body's SHA-256 off the receiving thread: a recording then passes the bytes
    // on with its TLS and the file's writes only (the hash was 0.6 s of that thread per GiB).
    this.trailing = expectedBytes !== null && expectedBytes >= TRAILING_HASH_MIN_BYTES ? hashWorker.follow(temp) : null;
    this.hash = this.trailing ? null : createHash('sha256');
  }

  /** Whether the writer is ready for more (false: wait for 'drain' on `drained()`). */
  write(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.hash) this.hash.update(chunk);
    else this.trailing?.written(this.out.bytesWritten);
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
      this.trailing?.cancel();
      await this.temps.discard(this.temp);
      throw storageFailure(err);
    });
    // Should the hashing thread fail, the file is hashed here after all: slower, never wrong.
    const sha256 = this.hash ? this.hash.digest('hex') : await (this.trailing as TrailingHash).finish(this.size).catch(() => hashOfFile(this.temp));
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
    this.trailing?.cancel();
    this.out.destroy();
    await this.temps.discard(this.temp);
  }
}

/** A writer into a fresh temporary file, open already: a full disk shows before any byte is sent on. */
export async function openTempWriter(temps: TempFiles, keep: KeepBody, expectedBytes: number | null = null): Promise<TempContentWriter> {
  const temp = temps.tempPath('content');
  try {
    // Read-only from the start (the mode binds later opens, not this one): no chmod later.
    return new TempContentWriter(temps, temp, await open(temp, 'wx', 0o444), keep, expectedBytes);
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
export async function putThrough(
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
