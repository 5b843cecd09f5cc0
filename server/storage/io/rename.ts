// Publishing a finished temporary file with one rename: what the volume's stores
// (storage/file-system.ts) and the writing thread (write-worker.ts) both do.
import { mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';

/**
 * rename(), creating the target's missing parent folders when it fails for want of them:
 * the common case (the folder exists) costs the rename alone.
 */
export function renameCreatingParents(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(to), { recursive: true });
    renameSync(from, to);
  }
}
