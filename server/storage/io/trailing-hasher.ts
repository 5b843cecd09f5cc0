// SHA-256 of a large upload, computed in a worker thread that reads the temporary file
// just behind the writer (hash-worker.ts), instead of on the thread that receives the
// body. Measured on a 2-core machine, 1 GiB PUTs: 700–784 MB/s against 490–582 MB/s with
// the hash on the receiving thread (docs/performance.md).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { HashAnswer, HashRequest } from './hash-worker.js';
import { WorkerThread } from './worker-thread.js';

/** Below this, hashing on the receiving thread is cheaper than a round trip to the worker. */
export const TRAILING_HASH_MIN_BYTES = 8 * 1024 * 1024;
/** How far the writer gets ahead before the worker is told (messages are not free). */
const ADVANCE_EVERY_BYTES = 4 * 1024 * 1024;

export interface TrailingHash {
  /** The writer has this many bytes of the file on disk. */
  written(bytes: number): void;
  /** The file is complete at `size` bytes: its SHA-256. */
  finish(size: number): Promise<string>;
  cancel(): void;
}

class HashWorker {
  private readonly thread = new WorkerThread<HashRequest, HashAnswer>(new URL('./hash-worker.js', import.meta.url), 'the hashing thread');

  /** Starts the thread now, so that its memory is there before the first upload. */
  warm(): void {
    this.thread.warm();
  }

  follow(path: string): TrailingHash {
    const id = this.thread.id();
    this.thread.tell({ type: 'open', id, path });
    let told = 0;
    return {
      written: (bytes) => {
        if (bytes - told < ADVANCE_EVERY_BYTES) return;
        told = bytes;
        this.thread.tell({ type: 'advance', id, to: bytes });
      },
      finish: async (size) => {
        const answer = await this.thread.ask({ type: 'finish', id, size });
        if ('sha256' in answer) return answer.sha256;
        throw new Error(`hashing failed: ${answer.error}`);
      },
      cancel: () => this.thread.forget(id, { type: 'cancel', id }),
    };
  }
}

/** One hashing thread per process, shared by every store in it. */
export const hashWorker = new HashWorker();

/** A whole file's SHA-256, read here: what a trailing hash falls back to should its thread fail (slower, never wrong). */
export async function hashOfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
