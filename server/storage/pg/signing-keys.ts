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
  pgp_public: string | null;
  pgp_private: string | null;
}

function recordOf(row: Row): SigningKeyRecord {
  return { publicKey: row.public_key, privatePem: row.private_pem, createdAt: row.created_at.toISOString(), retiredAt: row.retired_at?.toISOString() ?? null, pgpPublic: row.pgp_public, pgpPrivate: row.pgp_private };
}

export class PgSigningKeys implements SigningKeyStore {
  constructor(private readonly db: Database) {}

  async list(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.db.query<Row>('SELECT public_key, private_pem, created_at, retired_at, pgp_public, pgp_private FROM signing_keys', [], 'signing-keys');
    return orderKeys(rows.map(recordOf));
  }

  async createIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    await this.db.query('INSERT INTO signing_keys (public_key, private_pem, created_at, pgp_public, pgp_private) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [key.publicKey, key.privatePem, key.createdAt, key.pgpPublic ?? null, key.pgpPrivate ?? null]);
    return (await this.list())[0] as SigningKeyRecord;
  }

  /** A key as it is, current or retired (artifact-repo migrate). */
  async insert(key: SigningKeyRecord): Promise<void> {
    await this.db.query('INSERT INTO signing_keys (public_key, private_pem, created_at, retired_at, pgp_public, pgp_private) VALUES ($1, $2, $3, $4, $5, $6)', [key.publicKey, key.privatePem, key.createdAt, key.retiredAt, key.pgpPublic ?? null, key.pgpPrivate ?? null]);
  }

  async rotate(key: SigningKeyRecord): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('UPDATE signing_keys SET retired_at = $1, private_pem = NULL, pgp_private = NULL WHERE retired_at IS NULL', [key.createdAt]);
      await client.query('INSERT INTO signing_keys (public_key, private_pem, created_at, pgp_public, pgp_private) VALUES ($1, $2, $3, $4, $5)', [key.publicKey, key.privatePem, key.createdAt, key.pgpPublic ?? null, key.pgpPrivate ?? null]);
    });
  }

  async attachPgp(publicKey: string, pgpPublic: string, pgpPrivate: string): Promise<void> {
    await this.db.query('UPDATE signing_keys SET pgp_public = $2, pgp_private = CASE WHEN retired_at IS NULL THEN $3 END WHERE public_key = $1 AND pgp_public IS NULL', [publicKey, pgpPublic, pgpPrivate]);
  }
}
