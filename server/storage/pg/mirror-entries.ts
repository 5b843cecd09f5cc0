// The mirror's entries in PostgreSQL: one row per entry, the entry whole as jsonb.
import type { MirrorEntry, MirrorEntryStore } from '../mirror-entries.js';
import type { Database } from './database.js';

export class PgMirrorEntries implements MirrorEntryStore {
  constructor(private readonly db: Database) {}

  async all(): Promise<MirrorEntry[]> {
    const { rows } = await this.db.query<{ entry: MirrorEntry }>('SELECT entry FROM mirror_entries ORDER BY id');
    return rows.map((r) => r.entry);
  }

  async save(entry: MirrorEntry): Promise<void> {
    await this.db.query('INSERT INTO mirror_entries (id, entry) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET entry = EXCLUDED.entry', [entry.id, JSON.stringify(entry)]);
  }

  async remove(id: string): Promise<void> {
    await this.db.query('DELETE FROM mirror_entries WHERE id = $1', [id]);
  }
}
