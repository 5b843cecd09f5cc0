// The token store: one JSON file in TOKENS_DIR, kept by lowdb. lowdb's writer (steno)
// writes a temporary file and renames it over the old one, so a crash leaves either the
// old or the new file, and concurrent writes are coalesced into the latest state.
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';

export interface TokenRecord {
  id: string;
  username: string;
  /** argon2 hash of the password; null once the token is revoked or expired. */
  hash: string | null;
  scope: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
  /** The build proxy's mode for this token: upstream and recorded, or offline (absent: record). */
  proxy?: ProxyMode;
  /** Offline: the sealed build whose recorded inputs answer (absent: the mirror only). */
  replay?: string | null;
}

export type ProxyMode = 'record' | 'offline';

export interface MasterRecord {
  name: string;
  hash: string;
  created_at: string;
}

export interface StoreData {
  version: 1;
  masters: Record<string, MasterRecord>;
  tokens: Record<string, TokenRecord>;
  /** Masters removed with the admin CLI, and when: MASTER_USER does not bring them back. */
  removed_masters?: Record<string, string>;
}

export const STORE_FILE = 'tokens.json';

export class StoreError extends Error {}

export class TokenStore {
  private constructor(private readonly db: Low<StoreData>) {}

  static async open(tokensDir: string): Promise<TokenStore> {
    await mkdir(tokensDir, { recursive: true });
    // Hashes are secrets too: only the service's own user may read them.
    await chmod(tokensDir, 0o700);
    const file = path.join(tokensDir, STORE_FILE);
    const db = new Low<StoreData>(new JSONFile<StoreData>(file), emptyStore());
    try {
      await db.read();
    } catch (err) {
      throw new StoreError(`token store ${STORE_FILE} is not valid JSON (${(err as Error).name}); restore it from a backup or remove it`);
    }
    const data = db.data;
    if (data === null || typeof data !== 'object' || data.version !== 1 || typeof data.tokens !== 'object' || typeof data.masters !== 'object') {
      throw new StoreError(`token store ${STORE_FILE} has an unknown layout`);
    }
    return new TokenStore(db);
  }

  get data(): StoreData {
    return this.db.data;
  }

  /** Persists the current state; resolves once it is on disk. */
  save(): Promise<void> {
    return this.db.write();
  }
}

function emptyStore(): StoreData {
  return { version: 1, masters: {}, tokens: {} };
}
