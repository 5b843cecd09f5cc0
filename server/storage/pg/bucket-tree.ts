// The artifact tree kept in PostgreSQL, its bytes in a blob store (issue 32: replicas
// without a shared file system). What the volume (artifact-store.ts) keeps as folders and
// files is here a row per folder and file in `tree_entries`, keyed by path ('/'-joined
// segments, the root '' implicit, collation "C" so that a folder and all below it is one
// range of keys); a file's row names the blob that holds its bytes (`tree_blobs`).
//
// Bytes: each upload streams to a fresh key, its row ('uploading', this replica) made
// before the first byte, so that a replica that dies midway leaves a row naming what to
// clean (sweepUploads). Once whole and checked, one transaction publishes it: the blob
// becomes 'live', or, when a live blob has the same SHA-256, the file points at that one
// and the new object goes (identical bytes are stored once). A copy makes new rows that
// point at the same blobs: no byte is copied.
//
// Unreferenced blobs (a file replaced, removed, dropped) are the garbage collector's
// (collectGarbage): it stamps `unreferenced_since` on live blobs no row refers to, and
// dooms those stamped longer than the grace ago (a reader that opened the file before
// keeps reading for that long), asking again under the blob's row lock whether anything
// refers to it: what adds a reference holds a lock the doom must wait for or skip (a put
// that reuses a blob locks it FOR UPDATE; a copy holds its source rows FOR KEY SHARE, so
// the rows that refer to the blob stay until the copy's rows are visible). A doomed blob
// is never reused; its object is deleted, then its row; a replica that dies in between
// leaves the row 'doomed', taken again by the next collection.
//
// Set aside: a subtree renamed to `.aside/REPLICA/RANDOM` (no tree name starts with a dot,
// so no tree path names it, and no listing of the root shows it). Every change of the
// structure is one transaction, its subtree handled by single statements.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PoolClient } from 'pg';
import { Failure, storageFailure } from '../../domain/errors.js';
import { storagePathProblem } from '../../domain/path-limits.js';
import type { ArtifactTree, BlobStore, OpenedFile, SetAside, TempFiles, TreeFile, TreePut, TreePutOptions, TreeStats } from '../../domain/stores.js';
import type { Database } from './database.js';
import { BlobRows } from './blob-rows.js';

/**
 * How long a presigned URL of a file's blob holds: nginx follows it at once; the margin is
 * for clocks that differ between this machine and the store. The blob outlives it: the
 * garbage collector's grace is an hour.
 */
const PRESIGNED_SECONDS = 300;
/** Where set-aside subtrees are kept: a path no tree path can name. */
const ASIDE = '.aside';
const BLOB_PREFIX = 'blobs/';
/** What a transaction over the structure is tried again after: a deadlock, a key that another writer made meanwhile. */
const RETRIED = new Set(['40P01', '40001', '23505']);
const ATTEMPTS = 4;

/** The stats of a row (or of the root). */
class RowStats implements TreeStats {
  constructor(
    private readonly collection: boolean,
    readonly size: number,
    readonly mtimeMs: number,
    /** The row's version: new for every file written. */
    readonly ino: number,
  ) {}

  isFile(): boolean {
    return !this.collection;
  }

  isDirectory(): boolean {
    return this.collection;
  }

  get mtime(): Date {
    return new Date(this.mtimeMs);
  }

  /** A row keeps no time of its own making: the time it was written stands for it (and for ctime). */
  get birthtimeMs(): number {
    return this.mtimeMs;
  }

  get birthtime(): Date {
    return new Date(this.mtimeMs);
  }

  get ctime(): Date {
    return new Date(this.mtimeMs);
  }
}

const ROOT_STATS = new RowStats(true, 0, 0, 0);

interface EntryRow {
  collection: boolean;
  size: string | number;
  mtime_ms: number;
  version: string | number;
}

function statsOf(row: EntryRow): RowStats {
  return new RowStats(row.collection, Number(row.size), Number(row.mtime_ms), Number(row.version));
}

function keyOf(segments: readonly string[]): string {
  return segments.join('/');
}

function parentOf(key: string): string {
  const at = key.lastIndexOf('/');
  return at < 0 ? '' : key.slice(0, at);
}

function nameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The paths of a key's parent folders, from the top down ('' excluded). */
function ancestorsOf(key: string): string[] {
  const parts = key.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** A path and every path below it: `path = $n` or in the range after `key/` ('0' is the byte after '/'). */
function subtree(key: string, n: number): { sql: string; values: string[] } {
  if (key === '') return { sql: `NOT starts_with(path, '.')`, values: [] };
  return { sql: `(path = $${n} OR (path > $${n + 1} AND path < $${n + 2}))`, values: [key, `${key}/`, `${key}0`] };
}

/** Every path strictly below a key. */
function below(key: string, n: number): { sql: string; values: string[] } {
  if (key === '') return { sql: `NOT starts_with(path, '.')`, values: [] };
  return { sql: `(path > $${n} AND path < $${n + 1})`, values: [`${key}/`, `${key}0`] };
}

/** Whether a key is a path strictly below `above`. */
function isBelow(key: string, above: string): boolean {
  return above === '' ? key !== '' : key.startsWith(`${above}/`);
}

/** Segment arrays in the volume's walk order: name by name, as a JavaScript sort compares them. */
function bySegments(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [x, y] = [a[i] as string, b[i] as string];
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * The body as the blob store reads it: each chunk told to `received`, and held to its
 * declared length (longer is refused, shorter is an aborted upload), as the volume does.
 * `failure`: what failed on the body's side (the client went away, a wrong length), which
 * is what a failed put reports rather than the store's abort that followed from it.
 */
function metered(body: Readable, declared: number | null, received?: (bytes: number) => void): { stream: Readable; failure(): Error | null } {
  let size = 0;
  let failure: Error | null = null;
  const refuse = (err: Failure): Error => (failure ??= err);
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (declared !== null && size > declared) {
        done(refuse(new Failure('invalid', 'request body longer than its Content-Length')));
        return;
      }
      received?.(chunk.length);
      done(null, chunk);
    },
    flush(done) {
      done(declared !== null && size !== declared ? refuse(new Failure('invalid', 'request body incomplete: upload aborted')) : null);
    },
  });
  body.once('error', (err: Error) => (failure ??= err));
  // The body's failure reaches the store through the meter; the store's ends the body.
  pipeline(body, meter).catch(() => undefined);
  return { stream: meter, failure: () => failure };
}

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** What tree_publish refused (its own codes, pg/database.ts), as the client is told it. */
function publishFailure(err: unknown): unknown {
  const message = err instanceof Error ? err.message : '';
  switch (pgCode(err)) {
    case 'AR405':
      return new Failure('not-allowed', message);
    case 'AR409':
      return new Failure('conflict', message);
    case 'AR503':
      return new Failure('unavailable', message, 5);
    default:
      return err;
  }
}

export interface BucketTreeOptions {
  /** The clock of modification times (ms). */
  now?: () => number;
}

export class BucketTree implements ArtifactTree {
  private readonly now: () => number;
  /** The rows of this tree's objects (blob-rows.ts). */
  private readonly blobRows: BlobRows;

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly temp: TempFiles,
    private readonly replicaId: string,
    options: BucketTreeOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.blobRows = new BlobRows(db, blobs, 'tree_blobs', replicaId);
  }

  /** Paths are keys of PostgreSQL's b-tree here; no path of the tree is a file's path on this machine. */
  storagePathProblem(segments: readonly string[], below = 0, belowSegments = 0): string | null {
    return storagePathProblem({ rootBytes: 0, databaseKeys: true }, segments, below, belowSegments);
  }

  /** No symbolic link in a bucket. */
  symlinkProblem(): string | null {
    return null;
  }

  async stat(segments: readonly string[]): Promise<TreeStats | null> {
    if (segments.length === 0) return ROOT_STATS;
    const { rows } = await this.db.query<EntryRow>('SELECT collection, size, mtime_ms, version FROM tree_entries WHERE path = $1', [keyOf(segments)], 'tree-stat');
    return rows[0] ? statsOf(rows[0]) : null;
  }

  /** The file's row read once: what is streamed is that blob, whatever replaces the path meanwhile. */
  async open(segments: readonly string[]): Promise<OpenedFile | null> {
    if (segments.length === 0) return null;
    const { rows } = await this.db.query<EntryRow & { blob: string | null }>(
      'SELECT collection, size, mtime_ms, version, blob FROM tree_entries WHERE path = $1',
      [keyOf(segments)],
      'tree-open',
    );
    const row = rows[0];
    if (!row || row.collection || row.blob === null) return null;
    const stats = statsOf(row);
    const blob = row.blob;
    const presignGet = this.blobs.presignGet?.bind(this.blobs);
    return {
      stats,
      fd: null,
      stream: async (start = 0, end = stats.size - 1) => {
        const last = Math.min(end, stats.size - 1);
        if (start > last) return Readable.from([]);
        const whole = start === 0 && last === stats.size - 1;
        const body = await this.blobs.get(blob, whole ? undefined : { start, end: last });
        if (!body) throw new Failure('internal', 'the stored bytes of this file are missing');
        return body;
      },
      ...(presignGet ? { presign: (contentType: string) => presignGet(blob, { contentType, seconds: PRESIGNED_SECONDS }) } : {}),
      close: () => undefined,
    };
  }

  cachedFile(): null {
    return null;
  }

  rememberFile(): void {}

  /** Downloads the file into a temporary file of this machine; `release` removes it. */
  async localFile(segments: readonly string[], maxBytes: number): Promise<{ path: string; size: number; release(): Promise<void> } | null> {
    const opened = await this.open(segments);
    if (!opened) return null;
    const { size } = opened.stats;
    if (size > maxBytes) throw new Failure('too-large', `the file is larger than ${maxBytes} bytes`);
    const temp = this.temp.tempPath('local');
    try {
      await pipeline(await opened.stream(), createWriteStream(temp, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      await this.temp.discard(temp);
      throw storageFailure(err);
    }
    return { path: temp, size, release: () => this.temp.discard(temp) };
  }

  async list(segments: readonly string[]): Promise<{ name: string; stats: TreeStats }[]> {
    const key = keyOf(segments);
    const { rows } = await this.db.query<EntryRow & { name: string }>('SELECT name, collection, size, mtime_ms, version FROM tree_entries WHERE parent = $1', [key], 'tree-list');
    if (rows.length === 0) await this.mustBeCollection(key);
    return rows.map((row) => ({ name: row.name, stats: statsOf(row) }));
  }

  async names(segments: readonly string[]): Promise<{ name: string; collection: boolean }[]> {
    const key = keyOf(segments);
    const { rows } = await this.db.query<{ name: string; collection: boolean }>('SELECT name, collection FROM tree_entries WHERE parent = $1', [key], 'tree-names');
    if (rows.length === 0) await this.mustBeCollection(key);
    return rows;
  }

  /** An empty listing of what is no collection is an error, as reading a folder that is not there is on a volume. */
  private async mustBeCollection(key: string): Promise<void> {
    const stats = await this.stat(key === '' ? [] : key.split('/'));
    if (!stats) throw new Failure('not-found', 'not found');
    if (!stats.isDirectory()) throw new Failure('conflict', 'not a collection');
  }

  async filesBelow(segments: readonly string[]): Promise<TreeFile[]> {
    const key = keyOf(segments);
    const where = below(key, 1);
    const { rows } = await this.db.query<EntryRow & { path: string }>(`SELECT path, collection, size, mtime_ms, version FROM tree_entries WHERE ${where.sql} AND NOT collection`, where.values);
    const skip = key === '' ? 0 : key.length + 1;
    const found = rows.map((row) => ({ relative: row.path.slice(skip).split('/'), size: Number(row.size), mtimeMs: Number(row.mtime_ms), ino: Number(row.version) }));
    return found.sort((a, b) => bySegments(a.relative, b.relative));
  }

  async deepestBelow(segments: readonly string[]): Promise<{ bytes: number; segments: number }> {
    const key = keyOf(segments);
    const where = below(key, 2);
    // A relative path's bytes as the volume counts them (each name and a separator), and its names.
    const { rows } = await this.db.query<{ bytes: number; segments: number }>(
      `SELECT octet_length(rel) + 1 AS bytes, length(rel) - length(replace(rel, '/', '')) + 1 AS segments
       FROM (SELECT substr(path, $1::int) AS rel FROM tree_entries WHERE ${where.sql}) AS r
       ORDER BY octet_length(rel) + 1 + 3 * (length(rel) - length(replace(rel, '/', '')) + 1) DESC LIMIT 1`,
      // The offset in characters, as substr counts them (a JavaScript length counts UTF-16 units).
      [key === '' ? 1 : [...key].length + 2, ...where.values],
    );
    return rows[0] ? { bytes: Number(rows[0].bytes), segments: Number(rows[0].segments) } : { bytes: 0, segments: 0 };
  }

  /**
   * Streams `body` to a new blob, then publishes it in one transaction: the blob live (or
   * the live one with the same bytes reused), the file's row written over what was there,
   * missing parents made. On any failure nothing appears and the new blob goes.
   */
  async putFile(segments: readonly string[], body: Readable, options: TreePutOptions = {}): Promise<TreePut> {
    const { expectedSha256 = null, declaredLength = null, beforePublish, received, mtimeMs: given } = options;
    const key = keyOf(segments);
    if (key === '') throw new Failure('not-allowed', 'a collection exists at this path');
    const blob = `${BLOB_PREFIX}${randomBytes(16).toString('hex')}`;
    let plan: { v: string; mtime_ms: number | null } | undefined;
    try {
      // The blob's row first: a replica that dies during the upload leaves what names its
      // object. In the same statement, the file's version and what is at the path now, for
      // its modification time (tree_publish passes it on if another put comes meanwhile).
      ({ rows: [plan] } = await this.db.query<{ v: string; mtime_ms: number | null }>(
        `WITH upload AS (INSERT INTO tree_blobs (key, state, replica) VALUES ($2, 'uploading', $3))
         SELECT nextval('tree_versions') AS v, e.mtime_ms FROM (SELECT 1) AS one LEFT JOIN tree_entries AS e ON e.path = $1`,
        [key, blob, this.replicaId],
        'tree-upload',
      ));
    } catch (err) {
      body.destroy();
      throw storageFailure(err);
    }
    let stored: { size: number; sha256: string };
    const input = metered(body, declaredLength, received);
    try {
      stored = await this.blobs.put(blob, input.stream, declaredLength ?? undefined);
      if (expectedSha256 !== null && stored.sha256 !== expectedSha256) {
        throw new Failure('invalid', `checksum mismatch: the body's SHA-256 is ${stored.sha256}, not the declared ${expectedSha256}; nothing was stored`);
      }
    } catch (err) {
      await this.blobRows.abandon(blob);
      // The store gone away is what the client is told (503), whatever it did to the body;
      // otherwise the body's own failure (cut, too long) rather than the upload's echo of it.
      if (err instanceof Failure && err.kind === 'unavailable') throw err;
      throw storageFailure(input.failure() ?? err);
    }
    const { size, sha256 } = stored;
    let undo: (() => Promise<void>) | null = null;
    try {
      // What the file's row will say, and what is recorded of it (beforePublish), decided
      // before the publication: the recording uses connections of its own, and a
      // transaction waiting for one while holding another starves the pool under load.
      const version = Number(plan?.v);
      const wanted = given ?? this.now();
      // A replacement always gets a new validator: ETag and Last-Modified count whole seconds.
      const previous = plan?.mtime_ms ?? null;
      const mtimeMs = previous !== null && Math.floor(previous / 1000) >= Math.floor(wanted / 1000) ? (Math.floor(previous / 1000) + 1) * 1000 : wanted;
      undo = (await beforePublish?.(sha256, new RowStats(false, size, mtimeMs, version))) ?? null;
      // One statement (tree_publish, pg/database.ts): the lock of the path, its parents made
      // and held, the blob live or the live one of these bytes reused, the file's row. Another
      // put of this path since the plan passes its time too (the record then no longer
      // matches, and the checksum is computed again from the bytes when asked).
      const folders = ancestorsOf(key);
      const { rows } = await this.db
        .query<{ o_created: boolean; o_replaced_size: string; o_mtime_ms: number; o_target: string }>(
          'SELECT * FROM tree_publish($1, $2, $3, $4::text[], $5::text[], $6::text[], $7, $8, $9, $10, $11, $12)',
          [key, parentOf(key), nameOf(key), folders, folders.map(parentOf), folders.map(nameOf), this.now(), blob, sha256, size, mtimeMs, version],
          'tree-publish',
        )
        .catch((err: unknown) => Promise.reject(publishFailure(err)));
      const published = rows[0];
      if (!published) throw new Error('tree_publish answered no row');
      const stats = new RowStats(false, size, Number(published.o_mtime_ms), version);
      const result: TreePut = { created: published.o_created, replacedSize: Number(published.o_replaced_size), size, sha256, stats };
      // The same bytes were there already: this upload's object is surplus.
      if (published.o_target !== blob) await this.blobRows.dispose([blob]).catch(() => undefined);
      return result;
    } catch (err) {
      await (undo as (() => Promise<void>) | null)?.().catch(() => undefined);
      await this.blobRows.abandon(blob);
      throw storageFailure(err);
    }
  }


  /**
   * Makes the folders `keys` (from the top down) where they are missing and locks them
   * (FOR KEY SHARE: no removal or move of them until this transaction ends). A file on the
   * way is a conflict.
   */
  private async ensureFolders(c: PoolClient, keys: readonly string[], now: number): Promise<void> {
    if (keys.length === 0) return;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      await c.query(
        `INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version)
         SELECT p, pa, n, true, 0, $4, nextval('tree_versions') FROM unnest($1::text[], $2::text[], $3::text[]) AS a(p, pa, n) ORDER BY p
         ON CONFLICT (path) DO NOTHING`,
        [keys, keys.map(parentOf), keys.map(nameOf), now],
      );
      const { rows } = await c.query<{ path: string; collection: boolean }>('SELECT path, collection FROM tree_entries WHERE path = ANY($1::text[]) ORDER BY path FOR KEY SHARE', [keys]);
      const file = rows.find((r) => !r.collection);
      if (file) throw new Failure('conflict', file.path === keys[keys.length - 1] ? 'a file exists at this path' : 'a parent of this path is a file');
      // One removed between the two statements (by a removal that committed): made again.
      if (rows.length === keys.length) return;
    }
    throw new Failure('conflict', 'the parent collections kept changing; try again');
  }

  /** Locks the parent folder of `key` (it must be one). */
  private async lockParent(c: PoolClient, key: string): Promise<void> {
    const parent = parentOf(key);
    if (parent === '') return;
    const { rows } = await c.query<{ collection: boolean }>('SELECT collection FROM tree_entries WHERE path = $1 FOR KEY SHARE', [parent]);
    if (!rows[0]?.collection) throw new Failure('conflict', 'the parent collection does not exist');
  }

  /** Locks a path's own row for a change of it and all below it; whether there is one. */
  private async lockTop(c: PoolClient, key: string): Promise<boolean> {
    const { rows } = await c.query('SELECT 1 FROM tree_entries WHERE path = $1 FOR UPDATE', [key]);
    return rows.length > 0;
  }

  private async deleteRows(c: PoolClient, key: string): Promise<void> {
    const where = subtree(key, 1);
    await c.query(`DELETE FROM tree_entries WHERE ${where.sql}`, where.values);
  }

  /** `from` and all below it renamed to `to` (versions kept), in one statement. */
  private async renameRows(c: PoolClient, from: string, to: string): Promise<void> {
    const where = subtree(from, 2);
    await c.query(
      `UPDATE tree_entries SET path = $1::text || substr(path, length($2::text) + 1),
         parent = CASE WHEN path = $2 THEN $5::text ELSE $1::text || substr(parent, length($2::text) + 1) END,
         name = CASE WHEN path = $2 THEN $6::text ELSE name END
       WHERE ${where.sql}`,
      [to, ...where.values, parentOf(to), nameOf(to)],
    );
  }

  /**
   * `from` copied to `to`, with all below it or alone, in one statement: new rows with new
   * versions naming the same blobs. The source rows are held (FOR KEY SHARE) until the copy
   * commits, so the blobs they name stay referenced for the garbage collector meanwhile.
   */
  private async copyRows(c: PoolClient, from: string, to: string, withMembers: boolean, now: number): Promise<void> {
    if (!withMembers) {
      await c.query(`INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version) VALUES ($1, $2, $3, true, 0, $4, nextval('tree_versions'))`, [to, parentOf(to), nameOf(to), now]);
      return;
    }
    const where = subtree(from, 2);
    await c.query(
      `WITH source AS (SELECT path, parent, name, collection, size, mtime_ms, sha256, blob FROM tree_entries WHERE ${where.sql} FOR KEY SHARE)
       INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version, sha256, blob)
       SELECT $1::text || substr(path, length($2::text) + 1),
              CASE WHEN path = $2 THEN $5::text ELSE $1::text || substr(parent, length($2::text) + 1) END,
              CASE WHEN path = $2 THEN $6::text ELSE name END,
              collection, size, mtime_ms, nextval('tree_versions'), sha256, blob
       FROM source ORDER BY path`,
      [to, ...where.values, parentOf(to), nameOf(to)],
    );
  }

  /** A fresh hidden path of this replica's. */
  private asideKey(): string {
    return `${ASIDE}/${encodeURIComponent(this.replicaId)}/${randomBytes(8).toString('hex')}`;
  }

  /** One transaction over the structure, tried again after a deadlock or a key made meanwhile. */
  private async structural<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(work);
      } catch (err) {
        if (attempt < ATTEMPTS && RETRIED.has(pgCode(err) ?? '')) continue;
        throw storageFailure(err);
      }
    }
  }

  async makeCollection(segments: readonly string[]): Promise<void> {
    const key = keyOf(segments);
    if (key === '') throw new Failure('not-allowed', 'the collection already exists');
    await this.structural(async (c) => {
      await this.lockParent(c, key);
      const { rowCount } = await c.query(
        `INSERT INTO tree_entries (path, parent, name, collection, size, mtime_ms, version) VALUES ($1, $2, $3, true, 0, $4, nextval('tree_versions')) ON CONFLICT (path) DO NOTHING`,
        [key, parentOf(key), nameOf(key), this.now()],
      );
      if (rowCount !== 1) throw new Failure('not-allowed', 'the collection already exists');
    });
  }

  async ensureCollection(segments: readonly string[]): Promise<void> {
    const key = keyOf(segments);
    if (key === '') return;
    await this.structural((c) => this.ensureFolders(c, [...ancestorsOf(key), key], this.now()));
  }

  async remove(segments: readonly string[]): Promise<void> {
    const key = keyOf(segments);
    if (key === '') throw new Failure('forbidden', 'the root cannot be removed');
    await this.structural(async (c) => {
      if (!(await this.lockTop(c, key))) throw new Failure('not-found', 'not found');
      await this.deleteRows(c, key);
    });
  }

  async move(from: readonly string[], to: readonly string[]): Promise<void> {
    const [source, target] = [keyOf(from), keyOf(to)];
    if (source === '' || target === '') throw new Failure('forbidden', 'the root cannot be moved or replaced');
    if (source === target) return;
    if (isBelow(target, source)) throw new Failure('conflict', 'the destination is inside the source');
    await this.structural(async (c) => {
      await this.lockParent(c, target);
      if (!(await this.lockTop(c, source))) throw new Failure('not-found', 'not found');
      await this.lockTop(c, target);
      if (isBelow(source, target)) {
        // The destination holds the source: the source is taken out of it first.
        const staged = this.asideKey();
        await this.renameRows(c, source, staged);
        await this.deleteRows(c, target);
        await this.renameRows(c, staged, target);
      } else {
        await this.deleteRows(c, target);
        await this.renameRows(c, source, target);
      }
    });
  }

  async copy(from: readonly string[], to: readonly string[], depthZero: boolean): Promise<void> {
    const [source, target] = [keyOf(from), keyOf(to)];
    if (source === '' || target === '') throw new Failure('forbidden', 'the root cannot be copied or replaced');
    if (source === target) return;
    if (isBelow(target, source)) throw new Failure('conflict', 'the destination is inside the source');
    await this.structural(async (c) => {
      await this.lockParent(c, target);
      const { rows } = await c.query<{ collection: boolean }>('SELECT collection FROM tree_entries WHERE path = $1 FOR KEY SHARE', [source]);
      if (!rows[0]) throw new Failure('not-found', 'not found');
      const withMembers = !(depthZero && rows[0].collection);
      await this.lockTop(c, target);
      const now = this.now();
      if (isBelow(source, target)) {
        const staged = this.asideKey();
        await this.copyRows(c, source, staged, withMembers, now);
        await this.deleteRows(c, target);
        await this.renameRows(c, staged, target);
      } else {
        await this.deleteRows(c, target);
        await this.copyRows(c, source, target, withMembers, now);
      }
    });
  }

  /** Renames a resource and all below it to a hidden path at once: gone for readers, until put back or dropped. */
  async setAside(segments: readonly string[]): Promise<SetAside> {
    const key = keyOf(segments);
    if (key === '') throw new Failure('forbidden', 'the root cannot be set aside');
    const aside = this.asideKey();
    await this.structural(async (c) => {
      if (!(await this.lockTop(c, key))) throw new Failure('not-found', 'not found');
      await this.renameRows(c, key, aside);
    });
    return {
      restore: () =>
        this.structural(async (c) => {
          if (!(await this.lockTop(c, aside))) throw new Failure('not-found', 'what was set aside is gone');
          if (await this.lockTop(c, key)) throw new Failure('conflict', 'the destination exists');
          await this.ensureFolders(c, ancestorsOf(key), this.now());
          await this.renameRows(c, aside, key);
        }),
      drop: () => this.structural((c) => this.deleteRows(c, aside)),
    };
  }

  /** Blobs never change once written: nothing to do (the services refuse writes to a sealed build). */
  async makeReadOnly(): Promise<void> {}

  async makeWritable(): Promise<void> {}

  /**
   * Deletes blobs no file refers to any more, at most `batch` per call; safe on several
   * replicas at once. Live blobs no row refers to are stamped (`unreferenced_since`, the
   * start of their grace); those stamped at least `graceMs` ago are doomed in one
   * transaction, each asked again under its row lock whether a row refers to it (such a
   * one keeps its bytes, and loses its stamp); then their objects are deleted, then their
   * rows. Rows left 'doomed' (a replica that died midway) are taken again. Finding the
   * unreferenced is one anti-join over the live blobs (index on tree_entries.blob).
   * Returns how many blobs went.
   */
  async collectGarbage(options: { graceMs: number; batch: number }): Promise<number> {
    const { graceMs, batch } = options;
    try {
      await this.db.query(
        `UPDATE tree_blobs SET unreferenced_since = clock_timestamp() WHERE key IN (
           SELECT key FROM tree_blobs b WHERE state = 'live' AND unreferenced_since IS NULL AND NOT EXISTS (SELECT 1 FROM tree_entries e WHERE e.blob = b.key)
           LIMIT $1 FOR UPDATE SKIP LOCKED)`,
        [batch],
      );
      const doomed = await this.db.transaction(async (c) => {
        const { rows } = await c.query<{ key: string; state: string }>(
          `SELECT key, state FROM tree_blobs
           WHERE (state = 'live' AND unreferenced_since <= clock_timestamp() - $1 * interval '1 millisecond') OR state = 'doomed'
           ORDER BY since LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [graceMs, batch],
        );
        const keys = rows.filter((r) => r.state === 'doomed').map((r) => r.key);
        const candidates = rows.filter((r) => r.state === 'live').map((r) => r.key);
        if (candidates.length > 0) {
          // A new statement, a new snapshot: every reference committed before the locks were taken is seen.
          const { rows: gone } = await c.query<{ key: string }>(
            `UPDATE tree_blobs b SET state = 'doomed', since = clock_timestamp(), replica = $2
             WHERE key = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM tree_entries e WHERE e.blob = b.key) RETURNING key`,
            [candidates, this.replicaId],
          );
          keys.push(...gone.map((r) => r.key));
          await c.query(`UPDATE tree_blobs SET unreferenced_since = NULL WHERE key = ANY($1::text[]) AND state = 'live'`, [candidates]);
        }
        return keys;
      });
      await this.blobRows.dispose(doomed);
      return doomed.length;
    } catch (err) {
      throw storageFailure(err);
    }
  }

  /**
   * Deletes what uploads left that will never be published: the 'uploading' blobs of
   * replicas not alive (this one counts as alive), and any begun more than `olderThanMs`
   * ago. At most `batch` per call; safe on several replicas at once (a put publishing
   * holds its row locked; one still uploading finds its row gone, and fails).
   */
  async sweepUploads(aliveReplicas: readonly string[], olderThanMs: number, batch?: number): Promise<number> {
    return this.blobRows.sweepUploads(aliveReplicas, olderThanMs, batch);
  }

  /** Forgets what replicas that are gone left set aside (their changes ended with them); never this one's. */
  async sweepAsides(aliveReplicas: readonly string[]): Promise<number> {
    const alive = [...aliveReplicas, this.replicaId].map((r) => encodeURIComponent(r));
    const { rowCount } = await this.db.query(`DELETE FROM tree_entries WHERE starts_with(path, $1) AND NOT (split_part(path, '/', 2) = ANY($2::text[]))`, [`${ASIDE}/`, alive]);
    return rowCount ?? 0;
  }
}
