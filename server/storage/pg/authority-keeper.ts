// The build proxy's certificate authority in PostgreSQL: one row, written once (the first
// server to start makes it; every other one, and every restart, loads the same).
import type { AuthorityKeeper } from '../../domain/stores.js';
import type { Database } from './database.js';

export function pgAuthorityKeeper(db: Database): AuthorityKeeper {
  const load = async (): Promise<{ keyPem: string; certPem: string } | null> => {
    const { rows } = await db.query<{ key_pem: string; cert_pem: string }>('SELECT key_pem, cert_pem FROM proxy_authority WHERE id = 1');
    const row = rows[0];
    return row ? { keyPem: row.key_pem, certPem: row.cert_pem } : null;
  };
  return {
    load,
    async saveIfAbsent(keyPem, certPem) {
      await db.query('INSERT INTO proxy_authority (id, key_pem, cert_pem) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING', [keyPem, certPem]);
      return (await load()) as { keyPem: string; certPem: string };
    },
  };
}
