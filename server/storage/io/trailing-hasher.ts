// SHA-256 of a large upload, computed in a worker thread that reads the temporary file
// just behind the writer (hash-worker.ts), instead of on the thread that receives the
// body. Measured on a 2-core machine, 1 GiB PUTs: 700–784 MB/s against 490–582 MB/s with
// the hash on the receiving thread (docs/performance.md).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import type { HashAnswer, HashRequest } from './hash-worker.js';

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
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (sha256: string) => void; reject: (err: Error) => void }>();

  private get thread(): Worker {
    if (this.worker) return this.worker;
    // No flags of the main thread (an --input-type, say, would stop a file-based worker).
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url), { execArgv: [] });
    worker.on('message', (answer: HashAnswer) => {
      const waiter = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      if ('sha256' in answer) waiter?.resolve(answer.sha256);
      else waiter?.reject(new Error(`hashing failed: ${answer.error}`));
    });
    const fail = (err: Error): void => {
      // ('error' then 'exit': a thread started in between is not this one.)
      if (this.worker === worker) this.worker = null;
      for (const waiter of this.waiting.values()) waiter.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the hashing thread exited (${code})`)));
    // Idle, it must not keep the process alive; after the listeners, which ref it again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Starts the thread now, so that its memory is there before the first upload. */
  warm(): void {
    void this.thread;
  }

  follow(path: string): TrailingHash {
    const id = this.nextId++;
    const send = (request: HashRequest): void => this.thread.postMessage(request);
    send({ type: 'open', id, path });
    let told = 0;
    return {
      written: (bytes) => {
        if (bytes - told < ADVANCE_EVERY_BYTES) return;
        told = bytes;
        send({ type: 'advance', id, to: bytes });
      },
      finish: (size) => {
        const result = new Promise<string>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
        send({ type: 'finish', id, size });
        return result;
      },
      cancel: () => {
        this.waiting.delete(id);
        if (this.worker) send({ type: 'cancel', id });
      },
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
