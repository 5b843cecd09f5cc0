// The bytes of small files served lately, kept in memory: a download of an unchanged small
// file costs one lstat instead of an open, a readlink, an fstat, a read and a close.
import type { Stats } from 'node:fs';
import { sameFile } from './file-system.js';

/** Small files whose bytes are kept after a download, and how many bytes in all. */
export const CACHED_FILE_BYTES = 64 * 1024;
const FILE_CACHE_BYTES = 16 * 1024 * 1024;

export class ServedFiles {
  /** By path, oldest first. */
  private readonly files = new Map<string, { stats: Stats; bytes: Buffer }>();
  private bytes = 0;

  /** The kept bytes of `key`, if `now` (the path's lstat) is still the very file they were read from. */
  get(key: string, now: Stats | undefined): { stats: Stats; bytes: Buffer } | null {
    const kept = this.files.get(key);
    if (!kept) return null;
    if (now && now.isFile() && sameFile(now, kept.stats)) return kept;
    this.forget(key);
    return null;
  }

  /** Keeps a small file's bytes, read whole from the file `stats` describes. */
  remember(key: string, stats: Stats, bytes: Buffer): void {
    if (bytes.length > CACHED_FILE_BYTES || bytes.length !== stats.size) return;
    this.forget(key);
    this.files.set(key, { stats, bytes });
    this.bytes += bytes.length;
    for (const [oldest, kept] of this.files) {
      if (this.bytes <= FILE_CACHE_BYTES) break;
      this.files.delete(oldest);
      this.bytes -= kept.bytes.length;
    }
  }

  has(key: string): boolean {
    return this.files.has(key);
  }

  private forget(key: string): void {
    const kept = this.files.get(key);
    if (!kept) return;
    this.files.delete(key);
    this.bytes -= kept.bytes.length;
  }
}
