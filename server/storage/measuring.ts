// A pass-through that counts and hashes what goes through it: what a blob put answers
// (its size and SHA-256), whichever store keeps the bytes.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { noteStreamedBytes } from './buffer-release.js';

export interface Measuring {
  stream: Transform;
  /** The size and SHA-256 of everything that went through (once it has ended). */
  result(): { size: number; sha256: string };
  /** How long since a chunk last came (or since it began), ms. */
  idleMs(): number;
}

/**
 * `exactly`: the length the body must have (a store sending it as one request of that
 * Content-Length): a byte more, or an end before it, fails the stream, so that the request
 * is cut rather than sent short or long. The chunk that completes it is held back until
 * the body has ended: a store never has all its bytes from a body that goes on.
 */
export function measuring(exactly?: number): Measuring {
  const hash = createHash('sha256');
  let size = 0;
  let last = performance.now();
  let held: Buffer | null = null;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      last = performance.now();
      size += chunk.length;
      if (exactly !== undefined && size > exactly) {
        done(new Error(`the body is longer than its ${exactly} bytes`));
        return;
      }
      hash.update(chunk);
      // Each chunk is a fresh socket buffer: the collector is told (buffer-release.ts).
      noteStreamedBytes(chunk.length);
      if (exactly !== undefined && size === exactly) {
        held = chunk;
        done();
        return;
      }
      done(null, chunk);
    },
    flush(done) {
      if (exactly !== undefined && size !== exactly) {
        done(new Error(`the body ended after ${size} of its ${exactly} bytes`));
        return;
      }
      done(null, held);
    },
  });
  return { stream, result: () => ({ size, sha256: hash.digest('hex') }), idleMs: () => performance.now() - last };
}
