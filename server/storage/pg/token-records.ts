// Tokens and masters in PostgreSQL. Each record is kept whole (jsonb) beside the columns
// that decide (scope, expiry); every change two replicas could race on is one statement
// or one transaction, so exactly one of them wins.
import type { MasterRecord, TokenRecord, TokenRecords } from '../../domain/stores.js';
import type { Database } from './database.js';

// Serialises removals of masters: "unless it is the last" must hold across replicas.
const MASTERS_LOCK = '7021787497453813621';

export class PgTokenRecords implements TokenRecords {
  constructor(private readonly db: Database) {}

  async masters(): Promise<MasterRecord[]> {
    const { rows } = await this.db.query<{ record: MasterRecord }>('SELECT record FROM masters ORDER BY name');
    return rows.map((r) => r.record);
  }

  async master(name: string): Promise<MasterRecord | null> {
    const { rows } = await this.db.query<{ record: MasterRecord }>('SELECT record FROM masters WHERE name = $1', [name]);
    return rows[0]?.record ?? null;
  }

  async wasRemoved(name: string): Promise<boolean> {
    const { rows } = await this.db.query('SELECT 1 FROM removed_masters WHERE name = $1', [name]);
    return rows.length > 0;
  }

  async addMaster(record: MasterRecord): Promise<boolean> {
    return this.db.transaction(async (client) => {
      const added = await client.query('INSERT INTO masters (name, record) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [record.name, JSON.stringify(record)]);
      if (added.rowCount === 0) return false;
      await client.query('DELETE FROM removed_masters WHERE name = $1', [record.name]);
      return true;
    });
  }

  async putMaster(record: MasterRecord): Promise<void> {
    await this.db.query('INSERT INTO masters (name, record) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record', [record.name, JSON.stringify(record)]);
  }

  async removeMaster(name: string, at: string): Promise<'removed' | 'unknown' | 'last'> {
    return this.db.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MASTERS_LOCK]);
      const { rows } = await client.query<{ n: string; here: boolean }>('SELECT count(*) AS n, bool_or(name = $1) AS here FROM masters', [name]);
      if (!rows[0]?.here) return 'unknown';
      if (Number(rows[0].n) === 1) return 'last';
      await client.query('DELETE FROM masters WHERE name = $1', [name]);
      await client.query('INSERT INTO removed_masters (name, at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at', [name, at]);
      return 'removed';
    });
  }

  /** Marks a master as removed by an admin (moving a store here). */
  async markRemoved(name: string, at: string): Promise<void> {
    await this.db.query('INSERT INTO removed_masters (name, at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at', [name, at]);
  }

  async insertToken(record: TokenRecord): Promise<void> {
    await this.db.query('INSERT INTO tokens (id, scope, expires_at, record) VALUES ($1, $2, $3, $4)', [record.id, record.scope, record.expires_at, JSON.stringify(record)]);
  }

  async tokensById(ids: readonly string[]): Promise<TokenRecord[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.query<{ record: TokenRecord }>('SELECT record FROM tokens WHERE id = ANY($1)', [ids]);
    return rows.map((r) => r.record);
  }

  async token(id: string): Promise<TokenRecord | null> {
    const { rows } = await this.db.query<{ record: TokenRecord }>('SELECT record FROM tokens WHERE id = $1', [id], 'token-by-id');
    return rows[0]?.record ?? null;
  }

  async tokens(): Promise<TokenRecord[]> {
    const { rows } = await this.db.query<{ record: TokenRecord }>('SELECT record FROM tokens ORDER BY id');
    return rows.map((r) => r.record);
  }

  async tokensOf(scope: string): Promise<TokenRecord[]> {
    const { rows } = await this.db.query<{ record: TokenRecord }>('SELECT record FROM tokens WHERE scope = $1', [scope], 'tokens-of-scope');
    return rows.map((r) => r.record);
  }

  async endToken(id: string, now: number, revoked: { at: string; by: string } | null): Promise<TokenRecord | null> {
    const change = revoked ? { hash: null, revoked_at: revoked.at, revoked_by: revoked.by } : { hash: null };
    // Revoked: only while live; expired: only once its time is past. One UPDATE: one winner.
    const when = revoked ? 'expires_at > to_timestamp($3 / 1000.0)' : 'expires_at <= to_timestamp($3 / 1000.0)';
    const { rows } = await this.db.query<{ record: TokenRecord }>(
      `UPDATE tokens SET record = record || $2::jsonb WHERE id = $1 AND record->>'hash' IS NOT NULL AND record->>'revoked_at' IS NULL AND ${when} RETURNING record`,
      [id, JSON.stringify(change), now],
    );
    return rows[0]?.record ?? null;
  }

  async forget(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.db.query('DELETE FROM tokens WHERE id = ANY($1)', [ids]);
  }
}
