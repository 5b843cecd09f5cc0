// An upload's body into a new file, hashed on its way: a small one received whole and
// written in one call, a large one streamed with its hash computed alongside (in a worker
// thread just behind the writer, for the largest).
import type { Stats } from 'node:fs';
import { closeSync, constants as fsConstants, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Failure } from '../domain/errors.js';
import { noteStreamedBytes } from './buffer-release.js';
import { hashOfFile, hashWorker, TRAILING_HASH_MIN_BYTES, type TrailingHash } from './io/trailing-hasher.js';

/**
 * A body of at most this many declared bytes is received whole into memory, then written,
 * hashed and published in a few synchronous calls: no write stream, no thread-pool trips
 * (each costs more than the write of a page-cached 4 KiB file; docs/performance.md).
 */
export const SMALL_BODY_BYTES = 64 * 1024;

/**
 * A small body received whole, copied into one buffer that grows (by doubling, up to the
 * declared length) as bytes arrive: memory follows what was received, not what was
 * declared (a client that sends only headers holds nothing), and a body trickled in as
 * one-byte chunks is not kept as thousands of chunks, each pinning its socket read buffer.
 * Nothing touches the disk before the last byte: an aborted upload leaves nothing to clean.
 */
export async function receiveWhole(body: Readable, length: number, received?: (bytes: number) => void): Promise<Buffer> {
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
export function writeWhole(temp: string, bytes: Buffer): { sha256: string; stats: Stats } {
  const fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    return { sha256: createHash('sha256').update(bytes).digest('hex'), stats: fstatSync(fd) };
  } finally {
    closeSync(fd);
  }
}

/** A body of any size streamed into `temp`, hashed as it goes; the file's stats once closed. */
export async function writeStreamed(temp: string, body: Readable, declaredLength: number | null, received?: (bytes: number) => void): Promise<{ sha256: string; stats: Stats }> {
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
