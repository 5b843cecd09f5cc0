// Build states in PostgreSQL: one row per build that has a state, the record as jsonb. No
// cache: a seal or a pin made through any replica is what the next request sees.
import { cleanRecord, isEmptyRecord } from '../../domain/record-rules.js';
import { sealedEntry, type BuildRecord, type BuildRecords, type SealedBuildEntry, type SealedBuildQuery } from '../../domain/stores.js';
import type { Database } from './database.js';

/**
 * A revision, whole (under 7 characters) or as a prefix: a range of the "C" collation,
 * which the revision indexes keep (every character a revision may hold sorts before "~").
 */
function revisionCondition(revision: string, param: (value: unknown) => string): string {
  const column = `(record->'meta'->'source'->>'revision') COLLATE "C"`;
  if (revision.length < 7) return `${column} = ${param(revision)}`;
  return `${column} >= ${param(revision)} AND ${column} < ${param(`${revision}~`)}`;
}

export class PgBuildRecords implements BuildRecords {
  constructor(private readonly db: Database) {}

  async get(build: readonly string[]): Promise<BuildRecord> {
    const { rows } = await this.db.query<{ record: BuildRecord }>('SELECT record FROM builds WHERE scope = $1', [build.join('/')], 'build-record');
    return rows[0] ? cleanRecord(rows[0].record) : {};
  }

  async put(build: readonly string[], record: BuildRecord): Promise<void> {
    const scope = build.join('/');
    if (isEmptyRecord(record)) {
      await this.db.query('DELETE FROM builds WHERE scope = $1', [scope]);
      return;
    }
    const upsert = 'INSERT INTO builds (scope, record) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET record = EXCLUDED.record';
    const values = [scope, JSON.stringify(cleanRecord(record))];
    if (!record.sealed && !record.sealPending) {
      await this.db.query(upsert, values);
      return;
    }
    // A state that closes the build to writes: written once no write is being admitted,
    // and before the next one is (see pg/build-guard.ts).
    await this.db.transaction(async (client) => {
      await client.query('LOCK TABLE writes IN SHARE MODE');
      await client.query(upsert, values);
    });
  }

  async update(build: readonly string[], change: (record: BuildRecord) => BuildRecord): Promise<void> {
    await this.put(build, change({ ...(await this.get(build)) }));
  }

  async entries(): Promise<Array<{ build: string[]; record: BuildRecord }>> {
    const { rows } = await this.db.query<{ scope: string; record: BuildRecord }>('SELECT scope, record FROM builds ORDER BY scope');
    return rows.map((r) => ({ build: r.scope.split('/'), record: cleanRecord(r.record) }));
  }

  // The builds table is the index: partial expression indexes on the seal time, the
  // project, the type, the branch and the revision (database.ts) answer these without
  // reading every row. Only the conditions a query has are written, each shape prepared
  // once; nothing in it needs a custom plan (the limit is written in, a revision prefix is
  // a range), so PostgreSQL plans it once, not once per request.
  async sealedBuilds(query: SealedBuildQuery): Promise<SealedBuildEntry[]> {
    const where = [`record ? 'sealed'`, `NOT record ? 'retired'`];
    const values: unknown[] = [];
    const param = (value: unknown): string => `$${values.push(value)}`;
    if (query.type !== undefined) where.push(`split_part(scope, '/', 1) = ${param(query.type)}`);
    if (query.project !== undefined) where.push(`split_part(scope, '/', 2) = ${param(query.project)}`);
    if (query.branch !== undefined) where.push(`record->'meta'->'source'->>'branch' = ${param(query.branch)}`);
    if (query.revision !== undefined) where.push(revisionCondition(query.revision, param));
    if (query.before) where.push(`(record->'sealed'->>'sealedAt', scope) < (${param(query.before.sealedAt)}::text, ${param(query.before.scope)}::text)`);
    const limit = Math.max(0, Math.min(10_000, Math.trunc(query.limit)));
    const shape = `${query.type !== undefined ? 't' : ''}${query.project !== undefined ? 'p' : ''}${query.branch !== undefined ? 'b' : ''}${query.revision === undefined ? '' : query.revision.length >= 7 ? 'R' : 'r'}${query.before ? 'c' : ''}`;
    const { rows } = await this.db.query<{ scope: string; record: BuildRecord }>(
      `SELECT scope, record FROM builds WHERE ${where.join(' AND ')} ORDER BY record->'sealed'->>'sealedAt' DESC, scope DESC LIMIT ${limit}`,
      values,
      `sealed-builds-${shape}-${limit}`,
    );
    return rows.flatMap((r) => {
      const entry = sealedEntry(r.scope.split('/'), cleanRecord(r.record));
      return entry ? [entry] : [];
    });
  }

  async openBuildsOf(revision: string, limit: number): Promise<string[][]> {
    const values: unknown[] = [];
    const param = (value: unknown): string => `$${values.push(value)}`;
    const n = Math.max(0, Math.min(10_000, Math.trunc(limit)));
    const { rows } = await this.db.query<{ scope: string }>(
      `SELECT scope FROM builds WHERE NOT record ? 'sealed' AND NOT record ? 'retired' AND ${revisionCondition(revision, param)} ORDER BY scope LIMIT ${n}`,
      values,
      `open-builds-of-${revision.length >= 7 ? 'prefix' : 'exact'}-${n}`,
    );
    return rows.map((r) => r.scope.split('/'));
  }

  async all(): Promise<string[][]> {
    const { rows } = await this.db.query<{ scope: string }>('SELECT scope FROM builds ORDER BY scope');
    return rows.map((r) => r.scope.split('/'));
  }
}
