// The token store: one JSON file in TOKENS_DIR, kept by lowdb. lowdb's writer (steno)
// writes a temporary file and renames it over the old one, so a crash leaves either the
// old or the new file, and concurrent writes are coalesced into the latest state.
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { MasterRecord, TokenRecord, TokenRecords } from '../domain/stores.js';
import { StoreError } from '../domain/stores.js';

export interface StoreData {
  version: 1;
  masters: Record<string, MasterRecord>;
  tokens: Record<string, TokenRecord>;
  /** Masters removed with the admin CLI, and when: MASTER_USER does not bring them back. */
  removed_masters?: Record<string, string>;
}

export const STORE_FILE = 'tokens.json';

/** The embedded token store: one JSON file kept by lowdb, its state in memory. */
export class TokenFile implements TokenRecords {
  // Changes are applied to the state at once and written in order; each answer waits for its write.
  private constructor(private readonly db: Low<StoreData>) {}

  static async open(tokensDir: string): Promise<TokenFile> {
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
    return new TokenFile(db);
  }

  /** The state as read and changed so far (for tests that look at the file's contents). */
  get data(): StoreData {
    return this.db.data;
  }

  private save(): Promise<void> {
    return this.db.write();
  }

  async masters(): Promise<MasterRecord[]> {
    return Object.values(this.data.masters).map((m) => ({ ...m }));
  }

  async master(name: string): Promise<MasterRecord | null> {
    const m = Object.hasOwn(this.data.masters, name) ? this.data.masters[name] : undefined;
    return m ? { ...m } : null;
  }

  async wasRemoved(name: string): Promise<boolean> {
    return Object.hasOwn(this.data.removed_masters ?? {}, name);
  }

  async addMaster(record: MasterRecord): Promise<boolean> {
    if (Object.hasOwn(this.data.masters, record.name)) return false;
    this.data.masters[record.name] = { ...record };
    delete this.data.removed_masters?.[record.name];
    await this.save();
    return true;
  }

  async putMaster(record: MasterRecord): Promise<void> {
    this.data.masters[record.name] = { ...record };
    await this.save();
  }

  async removeMaster(name: string, at: string): Promise<'removed' | 'unknown' | 'last'> {
    const masters = this.data.masters;
    if (!Object.hasOwn(masters, name)) return 'unknown';
    if (Object.keys(masters).length === 1) return 'last';
    delete masters[name];
    (this.data.removed_masters ??= {})[name] = at;
    await this.save();
    return 'removed';
  }

  async insertToken(record: TokenRecord): Promise<void> {
    this.data.tokens[record.id] = { ...record };
    await this.save();
  }

  async token(id: string): Promise<TokenRecord | null> {
    return this.tokenNow(id);
  }

  async tokensById(ids: readonly string[]): Promise<TokenRecord[]> {
    return ids.map((id) => this.tokenNow(id)).filter((r): r is TokenRecord => r !== null);
  }

  /** The record without waiting (the embedded store is in memory). */
  tokenNow(id: string): TokenRecord | null {
    const t = Object.hasOwn(this.data.tokens, id) ? this.data.tokens[id] : undefined;
    return t ? { ...t } : null;
  }

  async tokens(): Promise<TokenRecord[]> {
    return Object.values(this.data.tokens).map((t) => ({ ...t }));
  }

  async tokensOf(scope: string): Promise<TokenRecord[]> {
    const found: TokenRecord[] = [];
    for (const t of Object.values(this.data.tokens)) if (t.scope === scope) found.push({ ...t });
    return found;
  }

  async endToken(id: string, now: number, revoked: { at: string; by: string } | null): Promise<TokenRecord | null> {
    const record = Object.hasOwn(this.data.tokens, id) ? this.data.tokens[id] : undefined;
    if (!record || record.hash === null || record.revoked_at !== null) return null;
    const expired = Date.parse(record.expires_at) <= now;
    if (revoked ? expired : !expired) return null;
    record.hash = null;
    if (revoked) {
      record.revoked_at = revoked.at;
      record.revoked_by = revoked.by;
    }
    await this.save();
    return { ...record };
  }

  async forget(ids: readonly string[]): Promise<void> {
    for (const id of ids) delete this.data.tokens[id];
    if (ids.length > 0) await this.save();
  }
}

function emptyStore(): StoreData {
  return { version: 1, masters: {}, tokens: {} };
}
