// The signing keys in PostgreSQL, so that every replica signs with the same key. At most
// one current key (a unique index on the rows not retired): replicas starting together
// make one, and a rotation is one transaction.
import { orderKeys } from '../../domain/record-rules.js';
import { type SigningKeyRecord, type SigningKeyStore } from '../../domain/stores.js';
import type { Database } from './database.js';

interface Row {
  public_key: string;
  private_pem: string | null;
  created_at: Date;
  retired_at: Date | null;
}

function recordOf(row: Row): SigningKeyRecord {
  return { publicKey: row.public_key, privatePem: row.private_pem, createdAt: row.created_at.toISOString(), retiredAt: row.retired_at?.toISOString() ?? null };
}

export class PgSigningKeys implements SigningKeyStore {
  constructor(private readonly db: Database) {}

  async list(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.db.query<Row>('SELECT public_key, private_pem, created_at, retired_at FROM signing_keys', [], 'signing-keys');
    return orderKeys(rows.map(recordOf));
  }

  async createIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    await this.db.query('INSERT INTO signing_keys (public_key, private_pem, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [key.publicKey, key.privatePem, key.createdAt]);
    return (await this.list())[0] as SigningKeyRecord;
  }

  /** A key as it is, current or retired (artifact-repo migrate). */
  async insert(key: SigningKeyRecord): Promise<void> {
    await this.db.query('INSERT INTO signing_keys (public_key, private_pem, created_at, retired_at) VALUES ($1, $2, $3, $4)', [key.publicKey, key.privatePem, key.createdAt, key.retiredAt]);
  }

  async rotate(key: SigningKeyRecord): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('UPDATE signing_keys SET retired_at = $1, private_pem = NULL WHERE retired_at IS NULL', [key.createdAt]);
      await client.query('INSERT INTO signing_keys (public_key, private_pem, created_at) VALUES ($1, $2, $3)', [key.publicKey, key.privatePem, key.createdAt]);
    });
  }
}
