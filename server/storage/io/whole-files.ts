// A small body held whole, kept under its name: touched where it is already, otherwise
// written and renamed in by a writing thread (write-worker.ts) in one message, off the
// thread that serves requests. Two threads, each request to the one with fewer waiting:
// one slow call (a rename on a busy disk) does not hold every build's small bodies behind
// it. Each starts when first needed (the second only while the first is busy): a
// repository whose bodies are in a bucket never starts them.
import { WorkerThread } from './worker-thread.js';
import { touchIfWhole, type WriteAnswer, type WriteRequest } from './write-worker.js';

const writers = [0, 1].map(() => new WorkerThread<WriteRequest, WriteAnswer>(new URL('./write-worker.js', import.meta.url), 'a writing thread'));

/**
 * Keeps `body` at `target`: a file there of the body's length is only marked as used;
 * otherwise the body is written to `temp` (which must not exist) and renamed to `target`,
 * its folder made when needed. Whether it was written. On failure nothing is left at
 * `temp`, and the error carries the system's code and call (ENOSPC, open), as a failed
 * call's would.
 */
export async function keepWholeFile(temp: string, target: string, body: Buffer): Promise<{ written: boolean }> {
  // A body kept already (the common case: the same dependency, build after build) is
  // touched here: a stat and a utimes of a cached inode, as an upload's publishing calls
  // are (server/storage/artifact-store.ts). Sent to a thread, the hop cost a tenth to a
  // fifth of a 4 KiB recording's rate (docs/performance.md).
  if (touchIfWhole(target, body.length)) return { written: false };
  const writer = writers.reduce((a, b) => (b.waiting < a.waiting ? b : a));
  const answer = await writer.ask({ id: writer.id(), temp, target, body });
  if (answer.error === null) return { written: answer.written };
  const { code, syscall, message } = answer.error;
  throw Object.assign(new Error(message), code === null ? {} : { code }, syscall === null ? {} : { syscall });
}
