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
   * An upload that is not published: its row doomed (and marked abandoned: a multipart
   * upload of it may hold parts), then disposed of. Doomed first, under the row's lock: a
   * publication still running (its client gave up waiting, the statement goes on) holds
   * that lock, and once it has made the blob live the row stays as it is; one yet to lock
   * it finds it doomed and refuses. What cannot be done now (the store away) is left to the
   * row: sweepUploads takes it while 'uploading', the next disposal once 'doomed'.
   */
  async abandon(key: string): Promise<void> {
    try {
      const { rows } = await this.db.query(`UPDATE ${this.table} SET state = 'doomed', abandoned = true, since = clock_timestamp() WHERE key = $1 AND state <> 'live' RETURNING 1`, [key]);
      if (rows.length > 0) {
        await this.dispose([key]);
        return;
      }
      // Live (kept), or no row at all: a sweep took it while the bytes were on their way,
      // and the object they made is nobody's.
      if ((await this.db.query(`SELECT 1 FROM ${this.table} WHERE key = $1`, [key])).rows.length === 0) await this.blobs.delete([key]);
    } catch {
      // Left to the sweeps, as above.
    }
  }

  /**
   * Deletes doomed objects: the multipart uploads of those abandoned aborted (their parts
   * no object shows), the objects deleted, then their rows.
   */
  async dispose(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const { rows } = await this.db.query<{ key: string }>(`SELECT key FROM ${this.table} WHERE key = ANY($1::text[]) AND abandoned`, [keys]);
    if (rows.length > 0) await this.blobs.abortUploads(rows.map((r) => r.key));
    await this.blobs.delete(keys);
    await this.db.query(`DELETE FROM ${this.table} WHERE key = ANY($1::text[]) AND state = 'doomed'`, [keys]);
  }

  /**
   * Uploads that replicas no longer alive began (or any older than `olderThanMs`), at most
   * `batch`: doomed as abandoned, and disposed of. How many.
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
        // Abandoned: their disposal aborts the multipart uploads their replicas never finished.
        if (found.length > 0) await c.query(`UPDATE ${this.table} SET state = 'doomed', abandoned = true, since = clock_timestamp(), replica = $2 WHERE key = ANY($1::text[])`, [found, this.replicaId]);
        return found;
      });
      await this.dispose(keys);
      return keys.length;
    } catch (err) {
      throw storageFailure(err);
    }
  }
}
