// Checksums of stored files: recorded as they are written, announced on download, looked
// up by value. Built on the per-resource records and the checksum index. A record that no
// longer matches its file (a write that failed halfway, a file changed on disk) is never
// believed: the file is hashed again, so a checksum always belongs to the bytes on disk.
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Failure } from '../domain/errors.js';
import { parseTreePath, toHref, BUILD_DEPTH } from '../domain/tree-path.js';
import type { Readable } from 'node:stream';
import { MAX_SEARCH_HITS } from '../domain/record-rules.js';
import type { ArtifactTree, ChecksumIndex, FileRecord, ResourceRecords, TreePut, TreeStats } from '../domain/stores.js';

type Identity = Pick<TreeStats, 'size' | 'mtimeMs' | 'ino'>;

export interface SearchHit {
  path: string;
  size: number;
  build: string;
  modified: string;
}

export class Catalog {
  constructor(
    private readonly store: ArtifactTree,
    private readonly meta: ResourceRecords,
    private readonly index: ChecksumIndex,
  ) {}

  /**
   * Stores a file with its checksum. The record and the index entry are written before
   * the file appears, and the record is put back if publishing fails: a failure at any
   * step (a full disk) leaves the path as it was, with its own checksum.
   */
  async storeFile(
    segments: readonly string[],
    body: Readable,
    expectedSha256: string | null = null,
    declaredLength: number | null = null,
    received?: (bytes: number) => void,
    /** The modification time it keeps (a migration's); absent: now. */
    mtimeMs?: number,
  ): Promise<TreePut> {
    const href = toHref(segments, false);
    return this.store.putFile(segments, body, {
      expectedSha256,
      declaredLength,
      received,
      ...(mtimeMs !== undefined ? { mtimeMs } : {}),
      beforePublish: async (sha256, stats) => {
        const undo = await this.meta.setFileRecord(segments, recordOf(sha256, stats));
        try {
          await this.index.add(sha256, href);
        } catch (err) {
          await undo.restore();
          throw err;
        }
        return () => undo.restore();
      },
    });
  }

  private async record(segments: readonly string[], sha256: string, stats: Identity): Promise<void> {
    await this.meta.setFileRecord(segments, recordOf(sha256, stats));
    await this.index.add(sha256, toHref(segments, false));
  }

  /** The recorded SHA-256 of the file as it is now, or null when unknown or outdated. */
  async checksumOf(segments: readonly string[], stats: Identity): Promise<string | null> {
    const record = await this.meta.fileRecord(segments);
    return recordMatches(record, stats) ? record.sha256 : null;
  }

  /** The checksum, computed by reading the file when none matches (a file from before). */
  async ensureChecksum(segments: readonly string[], known?: TreeStats): Promise<string> {
    const stats = known ?? (await this.store.stat(segments));
    if (!stats?.isFile()) throw new Failure('not-found', 'no such file');
    // A record that cannot be read (the database away) counts as none: the download still
    // gets the checksum of its bytes, computed from them.
    const recorded = await this.checksumOf(segments, stats).catch(() => null);
    if (recorded) return recorded;
    const opened = await this.store.open(segments);
    if (!opened) throw new Failure('not-found', 'no such file');
    const hash = createHash('sha256');
    await pipeline(await opened.stream(), hash);
    const sha256 = hash.digest('hex');
    // Recorded only if what was read is the file `stats` describes.
    const same = opened.stats.ino === stats.ino && opened.stats.size === stats.size && opened.stats.mtimeMs === stats.mtimeMs;
    // Recording it only saves the next reader the work: a failure here loses nothing.
    if (same) await this.record(segments, sha256, opened.stats).catch(() => undefined);
    return sha256;
  }

  /**
   * After a COPY or MOVE: the files at `segments` (a file or a collection's members) get
   * records for their own inodes (a copy is a new inode with its source's checksum, size
   * and mtime) and index entries under their new paths.
   */
  async recordCopies(segments: readonly string[]): Promise<void> {
    const own = await this.meta.fileRecord(segments);
    const entries: [readonly string[], { sha256: string; size: number; mtimeMs: number }][] = own ? [[segments, own]] : [];
    for (const [relative, record] of await this.meta.fileRecordsUnder(segments)) entries.push([[...segments, ...relative], record]);
    for (const [path, record] of entries) {
      const stats = await this.store.stat(path).catch(() => null);
      if (!stats?.isFile() || stats.size !== record.size || Math.abs(stats.mtimeMs - record.mtimeMs) >= 1) continue;
      await this.record(path, record.sha256, stats);
    }
  }

  /** After a MOVE: the moved files (same inodes, records moved along) indexed under their new paths. */
  async indexUnder(segments: readonly string[]): Promise<void> {
    const own = await this.meta.fileRecord(segments);
    if (own) await this.index.add(own.sha256, toHref(segments, false));
    for (const [relative, record] of await this.meta.fileRecordsUnder(segments)) await this.index.add(record.sha256, toHref([...segments, ...relative], false));
  }

  /** Every file whose content has this SHA-256 (at most MAX_SEARCH_HITS), checked against the files as they are now. */
  async search(sha256: string): Promise<{ hits: SearchHit[]; more: boolean }> {
    const { hrefs, more } = await this.index.lookup(sha256, MAX_SEARCH_HITS);
    const hits: SearchHit[] = [];
    for (const href of hrefs) {
      let segments: readonly string[];
      try {
        // An href of the repository's own: longer, encoded, than any request target may be.
        segments = parseTreePath(href, Infinity).segments;
      } catch {
        await this.index.remove(sha256, href);
        continue;
      }
      const stats = await this.store.stat(segments);
      if (!stats?.isFile() || (await this.checksumOf(segments, stats)) !== sha256) {
        await this.index.remove(sha256, href);
        continue;
      }
      hits.push({ path: href, size: stats.size, build: toHref(segments.slice(0, BUILD_DEPTH), true), modified: stats.mtime.toISOString() });
    }
    return { hits, more };
  }
}

/** The record still describes the file on disk: same inode, size and mtime (within 1 ms). */
export function recordMatches(record: FileRecord | null | undefined, stats: Identity): record is FileRecord {
  if (!record) return false;
  if (record.ino !== undefined && record.ino !== stats.ino) return false;
  // Within a millisecond: a copy keeps its source's mtime only that precisely.
  return record.size === stats.size && Math.abs(record.mtimeMs - stats.mtimeMs) < 1;
}

export function recordOf(sha256: string, stats: Identity): FileRecord {
  return { sha256, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
}
