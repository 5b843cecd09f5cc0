// The audit trail in PostgreSQL: one row per event, its time from the database's clock (so
// the order of events is one order across replicas), appended in the order this replica
// saw them (one write at a time), read a page at a time by build.
import { isAudited } from '../../domain/record-rules.js';
import { type AuditEntry, type AuditTrail } from '../../domain/stores.js';
import type { RepoEvent } from '../../domain/events.js';
import type { Database } from './database.js';

export class PgAuditTrail implements AuditTrail {
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** The pool is the database's, closed with it. */
  close(): void {}

  record(event: RepoEvent): void {
    if (!isAudited(event)) return;
    const build = 'build' in event && typeof event.build === 'string' ? event.build : null;
    this.pending = this.pending.then(() => this.db.query('INSERT INTO audit (build, entry) VALUES ($1, $2)', [build, JSON.stringify(event)]).then(() => undefined, this.onError));
  }

  /** Appends an entry with the time it already has (moving a trail here). */
  async append(entry: AuditEntry): Promise<void> {
    const { time, ...event } = entry;
    const build = 'build' in event && typeof event.build === 'string' ? event.build : null;
    await this.db.query('INSERT INTO audit (time, build, entry) VALUES ($1, $2, $3)', [time, build, JSON.stringify(event)]);
  }

  async forBuild(build: string, page: { offset?: number; limit?: number } = {}): Promise<{ entries: AuditEntry[]; total: number }> {
    // What this replica recorded before the question is in the answer.
    await this.pending;
    const offset = page.offset ?? 0;
    const limit = page.limit === undefined || page.limit === Infinity ? null : page.limit;
    const [count, rows] = await Promise.all([
      this.db.query<{ n: string }>('SELECT count(*) AS n FROM audit WHERE build = $1', [build]),
      this.db.query<{ time: string; entry: RepoEvent }>(
        `SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time, entry FROM audit WHERE build = $1 ORDER BY seq OFFSET $2 LIMIT $3`,
        [build, offset, limit],
      ),
    ]);
    return { entries: rows.rows.map((r) => ({ time: r.time, ...r.entry }) as AuditEntry), total: Number(count.rows[0]?.n ?? 0) };
  }
}
