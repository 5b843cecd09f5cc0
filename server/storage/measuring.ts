// A pass-through that counts and hashes what goes through it: what a blob put answers
// (its size and SHA-256), whichever store keeps the bytes.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface Measuring {
  stream: Transform;
  /** The size and SHA-256 of everything that went through (once it has ended). */
  result(): { size: number; sha256: string };
}

export function measuring(): Measuring {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ size, sha256: hash.digest('hex') }) };
}
