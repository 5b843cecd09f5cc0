// The mirror's entries in PostgreSQL: one row per entry, the entry whole as jsonb.
import type { MirrorEntry, MirrorEntryStore } from '../../domain/stores.js';
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

  async remove(id: string): Promise<void> {
    await this.db.query('WITH removed AS (DELETE FROM mirror_entries WHERE id = $1) UPDATE mirror_generation SET generation = generation + 1', [id]);
  }

  async generation(): Promise<number> {
    const { rows } = await this.db.query<{ generation: string }>('SELECT generation FROM mirror_generation', [], 'mirror-generation');
    return Number(rows[0]?.generation ?? 0);
  }
}
