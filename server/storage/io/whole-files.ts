// A small body held whole, written to a new file and renamed into place by a worker thread
// (write-worker.ts) in one message, off the thread that serves requests.
import { WorkerThread } from './worker-thread.js';
import type { WriteAnswer, WriteRequest } from './write-worker.js';

const writer = new WorkerThread<WriteRequest, WriteAnswer>(new URL('./write-worker.js', import.meta.url), 'the writing thread');

/**
 * Writes `body` to `temp` (which must not exist) and renames it to `target`, making the
 * target's folder when needed. On failure nothing is left at `temp`, and the error carries
 * the system's code (ENOSPC, ...) as a failed call's would.
 */
export async function writeWholeFile(temp: string, target: string, body: Buffer): Promise<void> {
  const answer = await writer.ask({ id: writer.id(), temp, target, body });
  if (answer.error === null) return;
  throw Object.assign(new Error(answer.error.message), answer.error.code === null ? {} : { code: answer.error.code });
}
