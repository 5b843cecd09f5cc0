// Checksum records and dead properties in PostgreSQL: one row per resource, keyed by its
// tree path (segments joined by '/', the root ''). The same rows are the checksum index: a
// search is a query on the sha256 column, so there is no second structure to keep in step.
//
// What a change set aside (a DELETE, COPY or MOVE still to be confirmed by the tree) is
// renamed to `.aside/REPLICA/N/...`: no tree path starts with a dot, so no lookup sees it;
// it is renamed back or deleted, and a replica that died leaves its own prefix to the sweep.
import { toHref } from '../../domain/tree-path.js';
import type { ChecksumIndex } from '../../domain/stores.js';
import type { FileRecord, ResourceRecords, SetAside, StoredProperty } from '../../domain/stores.js';
import type { Database } from './database.js';

const ASIDE = '.aside/';

interface RecordRow {
  path: string;
  sha256: string | null;
  size: number | null;
  mtime_ms: number | null;
  ino: number | null;
}

export function keyOf(segments: readonly string[]): string {
  return segments.join('/');
}

/** The least string above every string that starts with `prefix` (collation "C"). */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/**
 * A condition on `path` for a resource and everything below it, with its parameters
 * starting at $n. The root is every tree path (nothing set aside).
 */
export function selfAndBelow(key: string, n: number): { sql: string; values: string[] } {
  if (key === '') return { sql: `NOT starts_with(path, '.')`, values: [] };
  return { sql: `(path = $${n} OR (path > $${n + 1} AND path < $${n + 2}))`, values: [key, `${key}/`, prefixEnd(`${key}/`)] };
}

function recordOfRow(row: RecordRow): FileRecord | null {
  if (row.sha256 === null || row.size === null || row.mtime_ms === null) return null;
  return { sha256: row.sha256, size: row.size, mtimeMs: row.mtime_ms, ...(row.ino !== null ? { ino: row.ino } : {}) };
}

export class PgResourceRecords implements ResourceRecords {
  private asides = 0;

  constructor(
    private readonly db: Database,
    private readonly replica: string,
  ) {}

  async fileRecord(segments: readonly string[]): Promise<FileRecord | null> {
    const { rows } = await this.db.query<RecordRow>('SELECT path, sha256, size, mtime_ms, ino FROM resources WHERE path = $1', [keyOf(segments)], 'resource-record');
    return rows[0] ? recordOfRow(rows[0]) : null;
  }

  private async writeRecord(key: string, record: FileRecord | null): Promise<RecordRow | undefined> {
    // One statement: the previous record comes back from the same snapshot the write replaces.
    const { rows } = await this.db.query<RecordRow>(
      `WITH old AS (SELECT sha256, size, mtime_ms, ino FROM resources WHERE path = $1)
       INSERT INTO resources (path, sha256, size, mtime_ms, ino) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, mtime_ms = EXCLUDED.mtime_ms, ino = EXCLUDED.ino
       RETURNING $1::text AS path, (SELECT sha256 FROM old), (SELECT size FROM old), (SELECT mtime_ms FROM old), (SELECT ino FROM old)`,
      [key, record?.sha256 ?? null, record?.size ?? null, record?.mtimeMs ?? null, record?.ino ?? null],
      'resource-record-write',
    );
    return rows[0];
  }

  async setFileRecord(segments: readonly string[], record: FileRecord): Promise<SetAside> {
    const key = keyOf(segments);
    const old = await this.writeRecord(key, record);
    const previous = old ? recordOfRow(old) : null;
    return {
      restore: async () => {
        await this.writeRecord(key, previous);
      },
      drop: async () => undefined,
    };
  }

  async properties(segments: readonly string[]): Promise<StoredProperty[]> {
    const { rows } = await this.db.query<{ props: StoredProperty[] | null }>('SELECT props FROM resources WHERE path = $1', [keyOf(segments)], 'resource-props');
    return rows[0]?.props ?? [];
  }

  async setProperties(segments: readonly string[], props: StoredProperty[]): Promise<void> {
    await this.db.query(
      `INSERT INTO resources (path, props) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET props = EXCLUDED.props`,
      [keyOf(segments), props.length > 0 ? JSON.stringify(props) : null],
    );
  }

  async setAside(segments: readonly string[]): Promise<SetAside> {
    const key = keyOf(segments);
    const prefix = `${ASIDE}${this.replica}/${++this.asides}/`;
    const where = selfAndBelow(key, 2);
    await this.db.query(`UPDATE resources SET path = $1 || path WHERE ${where.sql}`, [prefix, ...where.values]);
    return {
      restore: () => this.bringBack(prefix),
      drop: async () => {
        await this.db.query('DELETE FROM resources WHERE path >= $1 AND path < $2', [prefix, prefixEnd(prefix)]);
      },
    };
  }

  /** Puts back what was set aside under `prefix`, over anything written there since. */
  private async bringBack(prefix: string): Promise<void> {
    // An upsert, not a rename: a row written meanwhile at one of the paths is replaced
    // instead of making the statement fail.
    await this.db.transaction(async (client) => {
      const range = [prefix, prefixEnd(prefix)];
      await client.query(
        `INSERT INTO resources (path, sha256, size, mtime_ms, ino, props)
         SELECT substr(path, length($1) + 1), sha256, size, mtime_ms, ino, props FROM resources WHERE path >= $1 AND path < $2
         ON CONFLICT (path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, mtime_ms = EXCLUDED.mtime_ms, ino = EXCLUDED.ino, props = EXCLUDED.props`,
        range,
      );
      await client.query('DELETE FROM resources WHERE path >= $1 AND path < $2', range);
    });
  }

  async remove(segments: readonly string[]): Promise<void> {
    const where = selfAndBelow(keyOf(segments), 1);
    await this.db.query(`DELETE FROM resources WHERE ${where.sql}`, where.values);
  }

  /** `from`'s rows (and its members') renamed to start with `to` instead. */
  private async rename(from: string, to: string): Promise<void> {
    const where = selfAndBelow(from, 3);
    await this.db.query(`UPDATE resources SET path = $1 || substr(path, length($2) + 1) WHERE ${where.sql}`, [to, from, ...where.values]);
  }

  async move(from: readonly string[], to: readonly string[]): Promise<SetAside> {
    const replaced = await this.setAside(to);
    try {
      await this.rename(keyOf(from), keyOf(to));
    } catch (err) {
      await replaced.restore();
      throw err;
    }
    return {
      restore: async () => {
        await this.rename(keyOf(to), keyOf(from));
        await replaced.restore();
      },
      drop: () => replaced.drop(),
    };
  }

  async copy(from: readonly string[], to: readonly string[], withMembers: boolean): Promise<SetAside> {
    const replaced = await this.setAside(to);
    const [source, target] = [keyOf(from), keyOf(to)];
    const undo = async (): Promise<void> => {
      await this.remove(to);
      await replaced.restore();
    };
    try {
      const where = withMembers ? selfAndBelow(source, 3) : { sql: 'path = $3', values: [source] };
      await this.db.query(
        `INSERT INTO resources (path, sha256, size, mtime_ms, ino, props)
         SELECT $1 || substr(path, length($2) + 1), sha256, size, mtime_ms, ino, props FROM resources WHERE ${where.sql}`,
        [target, source, ...where.values],
      );
    } catch (err) {
      await undo();
      throw err;
    }
    return { restore: undo, drop: () => replaced.drop() };
  }

  async fileRecordsUnder(segments: readonly string[]): Promise<[string[], FileRecord][]> {
    const key = keyOf(segments);
    const below = key === '' ? { sql: `path <> '' AND NOT starts_with(path, '.')`, values: [] } : { sql: 'path > $1 AND path < $2', values: [`${key}/`, prefixEnd(`${key}/`)] };
    const { rows } = await this.db.query<RecordRow>(`SELECT path, sha256, size, mtime_ms, ino FROM resources WHERE ${below.sql} AND sha256 IS NOT NULL ORDER BY path`, below.values);
    const found: [string[], FileRecord][] = [];
    const skip = key === '' ? 0 : key.length + 1;
    for (const row of rows) {
      const record = recordOfRow(row);
      if (record) found.push([row.path.slice(skip).split('/'), record]);
    }
    return found;
  }

  /** Forgets what replicas that are gone left set aside (their changes ended with them); never this one's. */
  async sweepDeparted(alive: ReadonlySet<string>): Promise<number> {
    const { rowCount } = await this.db.query(`DELETE FROM resources WHERE starts_with(path, $1) AND NOT (split_part(substr(path, length($1) + 1), '/', 1) = ANY($2))`, [ASIDE, [...alive, this.replica]]);
    return rowCount ?? 0;
  }
}

/**
 * Once per database: the records and properties a version that kept them on the shared
 * volume (`.meta`) wrote, copied in, so that an upgraded repository keeps its dead
 * properties and search. Replicas starting together take turns; only the first copies.
 */
/** What a volume's records are read through (the embedded store's entries). */
export interface VolumeRecords {
  entries(): AsyncIterable<{ segments: string[]; record: FileRecord | null; props: StoredProperty[] }>;
}

export async function importVolumeRecords(db: Database, volume: VolumeRecords): Promise<number | null> {
  return db.withLock('resources-import', async () => {
    const { rows } = await db.query<{ done: boolean }>('SELECT EXISTS (SELECT 1 FROM resources_imported) AS done');
    if (rows[0]?.done) return null;
    return db.atomically(async (tx) => {
      const into = new PgResourceRecords(tx, 'import');
      let copied = 0;
      for await (const { segments, record, props } of volume.entries()) {
        if (record) await into.setFileRecord(segments, record);
        if (props.length > 0) await into.setProperties(segments, props);
        copied++;
      }
      await tx.query('INSERT INTO resources_imported (id) VALUES (1)');
      return copied;
    });
  });
}

/**
 * The checksum index is the records' sha256 column: recording a file indexes it, and a
 * record replaced or removed leaves no stale entry behind, so add and remove have nothing to do.
 */
export class PgChecksumIndex implements ChecksumIndex {
  constructor(private readonly db: Database) {}

  async add(): Promise<void> {}

  async lookup(sha256: string, limit = 1000): Promise<{ hrefs: string[]; more: boolean }> {
    const { rows } = await this.db.query<{ path: string }>(`SELECT path FROM resources WHERE sha256 = $1 AND NOT starts_with(path, '.') ORDER BY path LIMIT $2`, [sha256, limit + 1]);
    const hrefs = rows.slice(0, limit).map((r) => toHref(r.path.split('/'), false));
    return { hrefs, more: rows.length > limit };
  }

  async remove(): Promise<void> {}
}
