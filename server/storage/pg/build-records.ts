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
  // revision (database.ts) answer these without reading every row.
  async sealedBuilds(query: SealedBuildQuery): Promise<SealedBuildEntry[]> {
    const prefix = query.revision !== undefined && query.revision.length >= 7 ? `${query.revision.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
    const { rows } = await this.db.query<{ scope: string; record: BuildRecord }>(
      `SELECT scope, record FROM builds
        WHERE record ? 'sealed' AND NOT record ? 'retired'
          AND ($1::text IS NULL OR split_part(scope, '/', 1) = $1)
          AND ($2::text IS NULL OR split_part(scope, '/', 2) = $2)
          AND ($3::text IS NULL OR record->'meta'->'source'->>'branch' = $3)
          AND ($4::text IS NULL OR record->'meta'->'source'->>'revision' = $4 OR ($5::text IS NOT NULL AND (record->'meta'->'source'->>'revision') LIKE $5))
          AND ($6::text IS NULL OR (record->'sealed'->>'sealedAt', scope) < ($6::text, $7::text))
        ORDER BY record->'sealed'->>'sealedAt' DESC, scope DESC
        LIMIT $8`,
      [query.type ?? null, query.project ?? null, query.branch ?? null, query.revision ?? null, prefix, query.before?.sealedAt ?? null, query.before?.scope ?? null, query.limit],
      'sealed-builds',
    );
    return rows.flatMap((r) => {
      const entry = sealedEntry(r.scope.split('/'), cleanRecord(r.record));
      return entry ? [entry] : [];
    });
  }

  async all(): Promise<string[][]> {
    const { rows } = await this.db.query<{ scope: string }>('SELECT scope FROM builds ORDER BY scope');
    return rows.map((r) => r.scope.split('/'));
  }
}
