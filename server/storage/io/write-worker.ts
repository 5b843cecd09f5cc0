// Runs in a worker thread (see whole-files.ts): keeps a small body under its name in one
// message. A file already there with the body's length is only marked as used (its time
// set to now); otherwise the body is written to a new temporary file and renamed into
// place. Making a file can take the file system most of a millisecond: here that holds
// no request, and the five trips through the thread pool (open, write, close, mkdir,
// rename) are one hop.
import { closeSync, openSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { renameCreatingParents } from './rename.js';
import { parentPort } from 'node:worker_threads';

export type WriteRequest = { id: number; temp: string; target: string; body: Uint8Array };
export type WriteAnswer = { id: number; error: null; written: boolean } | { id: number; error: { code: string | null; syscall: string | null; message: string } };

/**
 * Whether `target` is a file of `length` bytes, now marked as used. A shorter one (left by
 * a crash), or one this process may not touch, is written again.
 */
export function touchIfWhole(target: string, length: number): boolean {
  const stats = statSync(target, { throwIfNoEntry: false });
  if (!stats?.isFile() || stats.size !== length) return false;
  const now = new Date();
  try {
    utimesSync(target, now, now);
    return true;
  } catch {
    return false;
  }
}

parentPort?.on('message', ({ id, temp, target, body }: WriteRequest) => {
  let made = false;
  try {
    if (touchIfWhole(target, body.length)) {
      parentPort?.postMessage({ id, error: null, written: false } satisfies WriteAnswer);
      return;
    }
    const fd = openSync(temp, 'wx', 0o444);
    made = true;
    try {
      for (let at = 0; at < body.length; ) at += writeSync(fd, body, at, body.length - at);
    } finally {
      closeSync(fd);
    }
    // Its folder made if it is not there yet (or went).
    renameCreatingParents(temp, target);
    parentPort?.postMessage({ id, error: null, written: true } satisfies WriteAnswer);
  } catch (err) {
    // Only a file this made: a name taken already is someone else's.
    if (made) rmSync(temp, { force: true });
    const { code, syscall } = err as NodeJS.ErrnoException;
    parentPort?.postMessage({ id, error: { code: typeof code === 'string' ? code : null, syscall: typeof syscall === 'string' ? syscall : null, message: err instanceof Error ? err.message : String(err) } } satisfies WriteAnswer);
  }
});
