// The job tokens that minted, in PostgreSQL: one row per digest, so that one token mints
// once whichever replica it reaches (the primary key decides).
import type { JobTokenLedger } from '../../domain/stores.js';
import type { Database } from './database.js';

export class PgJobTokenLedger implements JobTokenLedger {
  constructor(private readonly db: Database) {}

  async claim(key: string, expiresAt: string): Promise<boolean> {
    const { rows } = await this.db.query('INSERT INTO used_job_tokens (key, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING key', [key, expiresAt]);
    return rows.length === 1;
  }

  async purge(now: string): Promise<void> {
    await this.db.query('DELETE FROM used_job_tokens WHERE expires_at < $1', [now]);
  }
}
