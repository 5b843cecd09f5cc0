// The repository's secrets in PostgreSQL: one row per name, written once (the first replica
// to make one wins; every other one, and every restart, reads the same).
import type { RepositorySecrets } from '../../domain/stores.js';
import type { Database } from './database.js';

export class PgRepositorySecrets implements RepositorySecrets {
  constructor(private readonly db: Database) {}

  async getOrCreate(name: string, make: () => string): Promise<string> {
    await this.db.query('INSERT INTO repository_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, make()]);
    const { rows } = await this.db.query<{ value: string }>('SELECT value FROM repository_secrets WHERE name = $1', [name]);
    return rows[0]?.value as string;
  }

  async all(): Promise<Record<string, string>> {
    const { rows } = await this.db.query<{ name: string; value: string }>('SELECT name, value FROM repository_secrets');
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }
}
