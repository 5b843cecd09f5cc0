// The mirror's entries in PostgreSQL: one row per entry, the entry whole as jsonb.
import { MIRROR_USED_BY, type MirrorEntry, type MirrorEntryStore, type MirrorUse } from '../../domain/stores.js';
import type { Database } from './database.js';

export class PgMirrorEntries implements MirrorEntryStore {
  constructor(private readonly db: Database) {}

  async all(): Promise<MirrorEntry[]> {
    const { rows } = await this.db.query<{ entry: MirrorEntry }>('SELECT entry FROM mirror_entries ORDER BY id');
    return rows.map((r) => r.entry);
  }

  async save(entry: MirrorEntry): Promise<void> {
    await this.db.query(
      'WITH saved AS (INSERT INTO mirror_entries (id, entry) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET entry = EXCLUDED.entry) UPDATE mirror_generation SET generation = generation + 1',
      [entry.id, JSON.stringify(entry)],
    );
  }

  async recordUse(id: string, use: MirrorUse): Promise<void> {
    // Read and written in one statement, row-locked: a removal or another use meanwhile is kept.
    await this.db.query(
      `WITH used AS (
         UPDATE mirror_entries SET entry = jsonb_set(entry, '{usedBy}', (
           SELECT COALESCE(jsonb_agg(u ORDER BY o), '[]'::jsonb) FROM (
             SELECT u, o FROM (
               SELECT jsonb_build_object('build', $2::text, 'at', $3::text) AS u, 0::bigint AS o
               UNION ALL
               SELECT e, t.ord FROM jsonb_array_elements(COALESCE(entry->'usedBy', '[]'::jsonb)) WITH ORDINALITY AS t(e, ord) WHERE e->>'build' <> $2::text
             ) AS all_uses ORDER BY o LIMIT $4
           ) AS kept))
         WHERE id = $1 RETURNING id)
       UPDATE mirror_generation SET generation = generation + 1 WHERE EXISTS (SELECT 1 FROM used)`,
      [id, use.build, use.at, MIRROR_USED_BY],
    );
  }

  async remove(id: string): Promise<void> {
    await this.db.query('WITH removed AS (DELETE FROM mirror_entries WHERE id = $1) UPDATE mirror_generation SET generation = generation + 1', [id]);
  }

  async generation(): Promise<number> {
    const { rows } = await this.db.query<{ generation: string }>('SELECT generation FROM mirror_generation', [], 'mirror-generation');
    return Number(rows[0]?.generation ?? 0);
  }
}
