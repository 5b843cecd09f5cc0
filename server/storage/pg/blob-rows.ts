// The rows that name a bucket's objects: tree_blobs (the tree's files, bucket-tree.ts) and
// content_blobs (the content store's bodies, bucket-content.ts) live the same life. A row
// is made 'uploading' before its object is sent (a replica that dies midway leaves what
// names it), goes 'live' once published, and 'doomed' on its way out: the object deleted
// first, then the row, so that a replica dying in between leaves a row to take again, never
// an object nothing names. What both stores do with such rows is here, once.
import { storageFailure } from '../../domain/errors.js';
import type { BlobStore } from '../../domain/stores.js';
import type { Database } from './database.js';

/** How many rows a sweep of uploads takes at once. */
const SWEEP_BATCH = 500;

/** The tables of such rows (a closed set: the name goes into the statements). */
export type BlobTable = 'tree_blobs' | 'content_blobs';

export class BlobRows {
  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly table: BlobTable,
    private readonly replicaId: string,
  ) {}

  /**
   * An upload that is not published: its object deleted, then its row (unless it went live
   * after all, its answer lost). If the database cannot say, the row stays, naming the
   * object for sweepUploads (its row 'uploading') or the next disposal (its row 'doomed').
   */
  async abandon(key: string): Promise<void> {
    try {
      const { rows } = await this.db.query<{ state: string }>(`SELECT state FROM ${this.table} WHERE key = $1`, [key]);
      if (rows[0]?.state === 'live') return;
      await this.blobs.delete([key]);
      await this.db.query(`DELETE FROM ${this.table} WHERE key = $1 AND state <> 'live'`, [key]);
    } catch {
      // Left to the sweeps, as above.
    }
  }

  /** Deletes doomed objects: the objects first, then their rows. */
  async dispose(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.blobs.delete(keys);
    await this.db.query(`DELETE FROM ${this.table} WHERE key = ANY($1::text[]) AND state = 'doomed'`, [keys]);
  }

  /**
   * Uploads that replicas no longer alive began (or any older than `olderThanMs`), at most
   * `batch`: their multipart uploads aborted, their objects and rows deleted. How many.
   */
  async sweepUploads(aliveReplicas: readonly string[], olderThanMs: number, batch = SWEEP_BATCH): Promise<number> {
    try {
      const keys = await this.db.transaction(async (c) => {
        const { rows } = await c.query<{ key: string }>(
          `SELECT key FROM ${this.table}
           WHERE state = 'uploading' AND (replica IS NULL OR NOT (replica = ANY($1::text[])) OR since < clock_timestamp() - $2 * interval '1 millisecond')
           ORDER BY since LIMIT $3 FOR UPDATE SKIP LOCKED`,
          [[...aliveReplicas, this.replicaId], olderThanMs, batch],
        );
        const found = rows.map((r) => r.key);
        // A multipart upload its replica never finished holds parts no object shows: abandoned
        // first (again, should this die before the rows change: aborting is idempotent).
        await this.blobs.abortUploads(found);
        if (found.length > 0) await c.query(`UPDATE ${this.table} SET state = 'doomed', since = clock_timestamp(), replica = $2 WHERE key = ANY($1::text[])`, [found, this.replicaId]);
        return found;
      });
      await this.dispose(keys);
      return keys.length;
    } catch (err) {
      throw storageFailure(err);
    }
  }
}
