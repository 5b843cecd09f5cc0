// The replicas sharing one database: each registers at start and says it is alive every
// few seconds, so that what a dead one left (its temporary files) can be cleared.
import type { Database } from './database.js';

export const HEARTBEAT_MS = 5_000;
/** A replica not heard of for this long is gone. */
export const DEPARTED_AFTER_MS = 60_000;

export class Replicas {
  constructor(
    private readonly db: Database,
    readonly id: string,
  ) {}

  async register(): Promise<void> {
    await this.db.query('INSERT INTO replicas (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = clock_timestamp()', [this.id]);
  }

  async beat(): Promise<void> {
    await this.db.query('INSERT INTO replicas (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = clock_timestamp()', [this.id], 'replica-beat');
  }

  /** The replicas heard of lately (this one included). */
  async alive(): Promise<Set<string>> {
    const { rows } = await this.db.query<{ id: string }>(`SELECT id FROM replicas WHERE seen_at > clock_timestamp() - $1 * interval '1 millisecond'`, [DEPARTED_AFTER_MS]);
    return new Set(rows.map((r) => r.id));
  }

  /** Forgets replicas gone for a day. */
  async prune(): Promise<void> {
    await this.db.query(`DELETE FROM replicas WHERE seen_at < clock_timestamp() - interval '1 day'`);
  }

  async leave(): Promise<void> {
    await this.db.query('DELETE FROM replicas WHERE id = $1', [this.id]).catch(() => undefined);
  }
}
