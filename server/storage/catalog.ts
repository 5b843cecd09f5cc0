// Checksums of stored files: recorded as they are written, announced on download, looked
// up by value. Built on the per-resource metadata and the checksum index.
import { createReadStream, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { parseTreePath, toHref, BUILD_DEPTH } from '../domain/tree-path.js';
import type { Readable } from 'node:stream';
import type { ArtifactStore, PutResult } from './artifact-store.js';
import type { ChecksumIndex } from './checksum-index.js';
import { checksumMatches, type MetaStore } from './meta-store.js';

export interface SearchHit {
  path: string;
  size: number;
  build: string;
  modified: string;
}

export class Catalog {
  constructor(
    private readonly store: ArtifactStore,
    private readonly meta: MetaStore,
    private readonly index: ChecksumIndex,
  ) {}

  /**
   * Stores a file with its checksum. The checksum is recorded before the file appears, so
   * a failure there (a full disk) stores nothing; the index line follows, and a lost one
   * only costs a search hit until the file is written again.
   */
  async storeFile(
    segments: readonly string[],
    body: Readable,
    expectedSha256: string | null = null,
    declaredLength: number | null = null,
    received?: (bytes: number) => void,
  ): Promise<PutResult> {
    const put = await this.store.putFile(segments, body, {
      expectedSha256,
      declaredLength,
      received,
      beforePublish: (sha256, stats) => this.meta.update(segments, (m) => ({ ...m, file: { sha256, size: stats.size, mtimeMs: stats.mtimeMs } })),
    });
    await this.index.add(put.sha256, toHref(segments, false));
    return put;
  }

  private async record(segments: readonly string[], sha256: string, stats: Stats): Promise<void> {
    await this.meta.update(segments, (m) => ({ ...m, file: { sha256, size: stats.size, mtimeMs: stats.mtimeMs } }));
    await this.index.add(sha256, toHref(segments, false));
  }

  /** The recorded SHA-256 of the file as it is now, or null when unknown or outdated. */
  async checksumOf(segments: readonly string[], stats: Pick<Stats, 'size' | 'mtimeMs'>): Promise<string | null> {
    const { file } = await this.meta.read(segments);
    return checksumMatches(file, stats) ? file.sha256 : null;
  }

  /** The checksum, computed by reading the file when none is recorded (files from before). */
  async ensureChecksum(segments: readonly string[]): Promise<string> {
    const stats = await lstat(this.store.fsPath(segments));
    const known = await this.checksumOf(segments, stats);
    if (known) return known;
    const hash = createHash('sha256');
    await pipeline(createReadStream(this.store.fsPath(segments)), hash);
    const sha256 = hash.digest('hex');
    await this.record(segments, sha256, stats);
    return sha256;
  }

  /** After a COPY or MOVE: the moved or copied files are indexed under their new paths. */
  async indexUnder(segments: readonly string[]): Promise<void> {
    const { file } = await this.meta.read(segments);
    if (file) await this.index.add(file.sha256, toHref(segments, false));
    for (const [relative, checksum] of await this.meta.checksumsUnder(segments)) {
      await this.index.add(checksum.sha256, toHref([...segments, ...relative], false));
    }
  }

  /** Every file whose content has this SHA-256, checked against the files as they are now. */
  async search(sha256: string): Promise<SearchHit[]> {
    const hrefs = await this.index.lookup(sha256);
    const hits: SearchHit[] = [];
    const live: string[] = [];
    for (const href of hrefs) {
      let segments: readonly string[];
      try {
        segments = parseTreePath(href).segments;
      } catch {
        continue;
      }
      const stats = await this.store.stat(segments);
      if (!stats?.isFile() || (await this.checksumOf(segments, stats)) !== sha256) continue;
      live.push(href);
      hits.push({ path: href, size: stats.size, build: toHref(segments.slice(0, BUILD_DEPTH), true), modified: stats.mtime.toISOString() });
    }
    if (live.length !== hrefs.length) await this.index.replace(sha256, live);
    return hits;
  }
}
