// Build states in PostgreSQL: one row per build that has a state, the record as jsonb. No
// cache: a seal or a pin made through any replica is what the next request sees.
import { cleanRecord, isEmptyRecord } from '../../domain/record-rules.js';
import { sealedEntry, type BuildRecord, type BuildRecords, type SealedBuildEntry, type SealedBuildQuery } from '../../domain/stores.js';
import type { Database } from './database.js';

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

  // The builds table is the index: expression indexes on the seal time, the project and the
  // revision (database.ts) answer these without reading every row. Only the conditions a
  // query has are written, so the planner picks the index that fits.
  async sealedBuilds(query: SealedBuildQuery): Promise<SealedBuildEntry[]> {
    const where = [`record ? 'sealed'`, `NOT record ? 'retired'`];
    const values: unknown[] = [];
    const param = (value: unknown): string => `$${values.push(value)}`;
    if (query.type !== undefined) where.push(`split_part(scope, '/', 1) = ${param(query.type)}`);
    if (query.project !== undefined) where.push(`split_part(scope, '/', 2) = ${param(query.project)}`);
    if (query.branch !== undefined) where.push(`record->'meta'->'source'->>'branch' = ${param(query.branch)}`);
    if (query.revision !== undefined) {
      if (query.revision.length >= 7) where.push(`(record->'meta'->'source'->>'revision') LIKE ${param(`${query.revision.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`);
      else where.push(`record->'meta'->'source'->>'revision' = ${param(query.revision)}`);
    }
    if (query.before) where.push(`(record->'sealed'->>'sealedAt', scope) < (${param(query.before.sealedAt)}::text, ${param(query.before.scope)}::text)`);
    const { rows } = await this.db.query<{ scope: string; record: BuildRecord }>(
      `SELECT scope, record FROM builds WHERE ${where.join(' AND ')} ORDER BY record->'sealed'->>'sealedAt' DESC, scope DESC LIMIT ${param(query.limit)}`,
      values,
      // Prepared once per shape of query (which conditions it has): planned once, not per request.
      `sealed-builds-${where.length}-${query.type !== undefined ? 't' : ''}${query.project !== undefined ? 'p' : ''}${query.branch !== undefined ? 'b' : ''}${query.revision === undefined ? '' : query.revision.length >= 7 ? 'R' : 'r'}${query.before ? 'c' : ''}`,
    );
    return rows.flatMap((r) => {
      const entry = sealedEntry(r.scope.split('/'), cleanRecord(r.record));
      return entry ? [entry] : [];
    });
  }

  async openBuildsOf(revision: string, limit: number): Promise<string[][]> {
    const exact = revision.length < 7;
    const { rows } = await this.db.query<{ scope: string }>(
      `SELECT scope FROM builds WHERE NOT record ? 'sealed' AND NOT record ? 'retired' AND (record->'meta'->'source'->>'revision') ${exact ? '=' : 'LIKE'} $1 ORDER BY scope LIMIT $2`,
      [exact ? revision : `${revision.replace(/[\\%_]/g, (c) => `\\${c}`)}%`, limit],
      `open-builds-of-${exact ? 'exact' : 'prefix'}`,
    );
    return rows.map((r) => r.scope.split('/'));
  }

  async all(): Promise<string[][]> {
    const { rows } = await this.db.query<{ scope: string }>('SELECT scope FROM builds ORDER BY scope');
    return rows.map((r) => r.scope.split('/'));
  }
}
