// WebDAV locks in PostgreSQL, so that a lock taken through one replica holds on every
// replica. One row per lock, by build; the lock manager judges expiry and owners.
import type { Lock, LockStore } from '../../domain/stores.js';
import { buildKey } from '../../domain/stores.js';
import { KeyedQueue } from '../../domain/gate.js';
import type { Database } from './database.js';

export class PgLocks implements LockStore {
  // One waiter per build in this process: the others queue here, not on a lock connection.
  private readonly queue = new KeyedQueue();

  constructor(private readonly db: Database) {}

  async read(build: string, below = false): Promise<Lock[]> {
    const { rows } = below
      ? await this.db.query<{ lock: Lock }>('SELECT lock FROM dav_locks WHERE starts_with(build, $1)', [build], 'locks-below')
      : await this.db.query<{ lock: Lock }>('SELECT lock FROM dav_locks WHERE build = $1', [build], 'locks-of-build');
    return rows.map((r) => r.lock);
  }

  async replace(lock: Lock): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE dav_locks SET expires_at = to_timestamp($2 / 1000.0), lock = $3 WHERE token = $1', [lock.token, lock.expiresAt, JSON.stringify(lock)]);
    return (rowCount ?? 0) > 0;
  }

  async byToken(token: string): Promise<Lock | undefined> {
    const { rows } = await this.db.query<{ lock: Lock }>('SELECT lock FROM dav_locks WHERE token = $1', [token]);
    return rows[0]?.lock;
  }

  async put(lock: Lock): Promise<void> {
    await this.db.query(
      `INSERT INTO dav_locks (token, build, principal, expires_at, lock) VALUES ($1, $2, $3, to_timestamp($4 / 1000.0), $5)
       ON CONFLICT (token) DO UPDATE SET expires_at = EXCLUDED.expires_at, lock = EXCLUDED.lock`,
      [lock.token, buildKey(lock.root), lock.principal, lock.expiresAt, JSON.stringify(lock)],
    );
  }

  async remove(tokens: readonly string[]): Promise<void> {
    if (tokens.length > 0) await this.db.query('DELETE FROM dav_locks WHERE token = ANY($1)', [tokens]);
  }

  serially<T>(build: string, work: () => Promise<T>): Promise<T> {
    return this.queue.run(build, () => this.db.withLock(`locks:${build}`, work));
  }
}
