// Runs in a worker thread (see whole-files.ts): writes a small body to a new temporary
// file and renames it into place, all in one message. Making a file can take the file
// system most of a millisecond; here that holds no request, and the five trips through
// the thread pool (open, write, close, mkdir, rename) are one hop.
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';

export type WriteRequest = { id: number; temp: string; target: string; body: Uint8Array };
export type WriteAnswer = { id: number; error: null } | { id: number; error: { code: string | null; message: string } };

parentPort?.on('message', ({ id, temp, target, body }: WriteRequest) => {
  let made = false;
  try {
    const fd = openSync(temp, 'wx', 0o444);
    made = true;
    try {
      for (let at = 0; at < body.length; ) at += writeSync(fd, body, at, body.length - at);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(temp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Its folder is not there yet (or went): made, then again.
      mkdirSync(path.dirname(target), { recursive: true });
      renameSync(temp, target);
    }
    parentPort?.postMessage({ id, error: null } satisfies WriteAnswer);
  } catch (err) {
    // Only a file this made: a name taken already is someone else's.
    if (made) rmSync(temp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    parentPort?.postMessage({ id, error: { code: typeof code === 'string' ? code : null, message: err instanceof Error ? err.message : String(err) } } satisfies WriteAnswer);
  }
});
