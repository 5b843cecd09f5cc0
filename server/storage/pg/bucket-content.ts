// The content store with BLOB_STORE (issue 32): bodies by SHA-256 as objects in the
// bucket, a row per object in `content_blobs`, so that replicas share no volume.
//
// A body is written as the files store writes it (storage/io/temp-bodies.ts), to a
// temporary file of this replica while it is hashed (the build proxy's hot path stays
// local); once finished and checked it is uploaded under a fresh key, unless a live body with that SHA-256 is there already:
// then only its `used_at` is touched and nothing is sent (identical bodies are kept once).
// The upload's row is made 'uploading' before the first byte (a replica that dies midway
// leaves a row naming what to clean: sweepUploads); one transaction then makes it 'live',
// or, when another upload of the same body went live meanwhile, touches that one and
// dooms this one (its object goes after the commit). The temporary file always goes.
//
// The sweep dooms live bodies not kept and not written since a time, asking again under
// each row's lock whether it was written meanwhile (a put that touches a body takes that
// lock too, and never touches a doomed one); a doomed body's object is deleted, then its
// row; rows left 'doomed' (a replica that died midway) are taken again.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { MissingBodyError } from '../../domain/content-errors.js';
import { Failure, storageFailure } from '../../domain/errors.js';
import type { BlobStore, ContentStore, ContentWriter, TempFiles } from '../../domain/stores.js';
import type { Database } from './database.js';
import { BlobRows } from './blob-rows.js';
import { openTempWriter, putThrough } from '../io/temp-bodies.js';

const PREFIX = 'content/';
/** How many rows a sweep takes at once. */
const PAGE = 1000;
/** What a publishing transaction is tried again after: a deadlock, another upload of the body going live first. */
const RETRIED = new Set(['40P01', '40001', '23505']);
const ATTEMPTS = 4;

/** Reads of the temporary file as it is uploaded. */
const READ_CHUNK = 1024 * 1024;

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export interface BucketContentOptions {
  /** How many rows a sweep takes at once (PAGE). */
  page?: number;
}

export class BucketContent implements ContentStore {
  private readonly page: number;
  /** The rows of this store's objects (blob-rows.ts). */
  private readonly blobRows: BlobRows;

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly temps: TempFiles,
    private readonly replicaId: string,
    options: BucketContentOptions = {},
  ) {
    this.page = options.page ?? PAGE;
    this.blobRows = new BlobRows(db, blobs, 'content_blobs', replicaId);
  }

  /** A writer to a temporary file of this replica, open already: a full disk shows before any byte is sent on. */
  open(expectedBytes: number | null = null): Promise<ContentWriter> {
    return openTempWriter(this.temps, (file, sha256, size) => this.keep(file, sha256, size), expectedBytes);
  }

  /** Stores a whole stream; the checksum, when given, must match (MismatchError), and it may not pass `maxBytes` (TooLargeError). */
  async put(body: Readable, expectedSha256: string | null = null, onBytes?: (total: number) => void, maxBytes = Infinity): Promise<{ sha256: string; size: number }> {
    return putThrough(await this.open(), body, expectedSha256, onBytes, maxBytes);
  }

  /** A small body held whole: the live one with its SHA-256 touched, or this one uploaded. */
  async keepWhole(body: Buffer): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (await this.touch(sha256)) return { sha256, size: body.length };
    const writer = await this.open(body.length);
    writer.write(body);
    return writer.finish(sha256);
  }

  /** A finished body kept: the live one touched, or this one uploaded. Its temporary file goes either way. */
  private async keep(temp: string, sha256: string, size: number): Promise<void> {
    try {
      if (await this.touch(sha256)) return;
      await this.upload(temp, sha256, size);
    } catch (err) {
      throw storageFailure(err);
    } finally {
      await this.temps.discard(temp).catch(() => undefined);
    }
  }

  /**
   * Marks the live body with this SHA-256 as used now; whether there is one. One UPDATE:
   * it takes the row's lock (as FOR UPDATE would), waiting for a sweep that holds it, and
   * asks again under it whether the row is still live (a doomed body is never touched).
   */
  private async touch(sha256: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`UPDATE content_blobs SET used_at = clock_timestamp() WHERE sha256 = $1 AND state = 'live'`, [sha256], 'content-touch');
    return (rowCount ?? 0) > 0;
  }

  /** Uploads the temporary file under a fresh key, then publishes it (or, when the body went live meanwhile, drops it). */
  private async upload(temp: string, sha256: string, size: number): Promise<void> {
    const key = `${PREFIX}${randomBytes(16).toString('hex')}`;
    // The row first: a replica that dies during the upload leaves what names its object.
    await this.db.query(`INSERT INTO content_blobs (key, sha256, size, state, replica) VALUES ($1, $2, $3, 'uploading', $4)`, [key, sha256, size, this.replicaId]);
    let surplus: boolean;
    try {
      const stored = await this.blobs.put(key, createReadStream(temp, { highWaterMark: READ_CHUNK }), size);
      if (stored.sha256 !== sha256 || stored.size !== size) throw new Failure('internal', 'the body changed on its way to the bucket; nothing was stored');
      surplus = await this.publish(key, sha256, size);
    } catch (err) {
      await this.blobRows.abandon(key);
      throw err;
    }
    // The same body went live meanwhile: this upload's object is surplus.
    if (surplus) await this.blobRows.dispose([key]).catch(() => undefined);
  }

  /**
   * One transaction: the upload becomes the live body, or, when one is live already
   * (locked: a sweep cannot doom it now), that one is touched and this one doomed.
   * Whether this one is surplus.
   */
  private async publish(key: string, sha256: string, size: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (c) => {
          const { rows: own } = await c.query<{ state: string }>('SELECT state FROM content_blobs WHERE key = $1 FOR UPDATE', [key]);
          if (own[0]?.state !== 'uploading') throw new Failure('internal', 'the upload was given up meanwhile (it took too long); nothing was stored');
          return this.settle(c, key, sha256, size);
        });
      } catch (err) {
        if (attempt < ATTEMPTS && RETRIED.has(pgCode(err) ?? '')) continue;
        throw err;
      }
    }
  }

  private async settle(c: PoolClient, key: string, sha256: string, size: number): Promise<boolean> {
    // FOR UPDATE waits for a sweep that is dooming it, then skips it: never a doomed body.
    const { rows } = await c.query<{ key: string }>(`SELECT key FROM content_blobs WHERE sha256 = $1 AND state = 'live' FOR UPDATE`, [sha256]);
    const live = rows[0]?.key;
    if (live !== undefined) {
      await c.query('UPDATE content_blobs SET used_at = clock_timestamp() WHERE key = $1', [live]);
      await c.query(`UPDATE content_blobs SET state = 'doomed', since = clock_timestamp() WHERE key = $1`, [key]);
      return true;
    }
    // Another upload of the same body going live first breaks the unique index (23505): the whole transaction again, which finds it.
    await c.query(`UPDATE content_blobs SET state = 'live', sha256 = $2, size = $3, used_at = clock_timestamp() WHERE key = $1`, [key, sha256, size]);
    return false;
  }

  /** Whether a body is kept (a migration sends only what is not). */
  async has(sha256: string): Promise<boolean> {
    try {
      const { rows } = await this.db.query(`SELECT 1 FROM content_blobs WHERE sha256 = $1 AND state = 'live'`, [sha256]);
      return rows.length > 0;
    } catch (err) {
      throw storageFailure(err);
    }
  }

  /** The live body's object, whole or a range of it (inclusive); a body not there rejects (MissingBodyError). */
  async read(sha256: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const { rows } = await this.db.query<{ key: string }>(`SELECT key FROM content_blobs WHERE sha256 = $1 AND state = 'live'`, [sha256], 'content-read');
      const key = rows[0]?.key;
      const body = key === undefined ? null : await this.blobs.get(key, range);
      if (!body) throw new MissingBodyError(sha256);
      return body;
    } catch (err) {
      throw storageFailure(err);
    }
  }

  /**
   * Removes every body that `keep` does not name and that was not written since `since`
   * (ms, on this process's clock: the cutoff is as far back from the database's clock,
   * which stamps `used_at`, so that clocks apart do not matter). Pages of live rows by
   * SHA-256; each page's bodies are doomed in one transaction that asks again under each
   * row's lock (SKIP LOCKED: one being touched or swept elsewhere is left) whether it was
   * written meanwhile; then their objects are deleted, then their rows. Rows left 'doomed'
   * are taken again first. Safe on several replicas at once. Returns how many bodies went.
   */
  async sweep(keep: ReadonlySet<string>, since: number): Promise<number> {
    try {
      const { rows: at } = await this.db.query<{ cutoff: string }>(`SELECT (clock_timestamp() - $1 * interval '1 millisecond')::text AS cutoff`, [Date.now() - since]);
      const cutoff = at[0]?.cutoff as string;
      await this.sweepDoomed();
      let removed = 0;
      let after = '';
      for (;;) {
        const { rows } = await this.db.query<{ key: string; sha256: string }>(
          `SELECT key, sha256 FROM content_blobs WHERE state = 'live' AND sha256 > $1 AND used_at < $2::timestamptz ORDER BY sha256 LIMIT $3`,
          [after, cutoff, this.page],
        );
        const candidates = rows.filter((r) => !keep.has(r.sha256)).map((r) => r.key);
        if (candidates.length > 0) {
          const doomed = await this.db.transaction(async (c) => {
            const { rows: locked } = await c.query<{ key: string }>(
              `SELECT key FROM content_blobs WHERE key = ANY($1::text[]) AND state = 'live' AND used_at < $2::timestamptz FOR UPDATE SKIP LOCKED`,
              [candidates, cutoff],
            );
            const keys = locked.map((r) => r.key);
            if (keys.length > 0) await c.query(`UPDATE content_blobs SET state = 'doomed', since = clock_timestamp(), replica = $2 WHERE key = ANY($1::text[])`, [keys, this.replicaId]);
            return keys;
          });
          await this.blobRows.dispose(doomed);
          removed += doomed.length;
        }
        if (rows.length < this.page) return removed;
        after = (rows[rows.length - 1] as { sha256: string }).sha256;
      }
    } catch (err) {
      throw storageFailure(err);
    }
  }

  /** Deletes what doomed rows name (a replica that died between the doom and the deletion). */
  private async sweepDoomed(): Promise<void> {
    for (;;) {
      const keys = await this.db.transaction(async (c) => {
        const { rows } = await c.query<{ key: string }>(`SELECT key FROM content_blobs WHERE state = 'doomed' ORDER BY since LIMIT $1 FOR UPDATE SKIP LOCKED`, [this.page]);
        return rows.map((r) => r.key);
      });
      await this.blobRows.dispose(keys);
      if (keys.length < this.page) return;
    }
  }

  /**
   * Deletes what uploads left that will never be published: the 'uploading' rows of
   * replicas not alive (this one counts as alive), and any begun more than `olderThanMs`
   * ago. At most `batch` per call; safe on several replicas at once (a put publishing
   * holds its row locked; one still uploading finds its row gone, and fails).
   */
  async sweepUploads(aliveReplicas: readonly string[], olderThanMs: number, batch?: number): Promise<number> {
    return this.blobRows.sweepUploads(aliveReplicas, olderThanMs, batch);
  }
}
