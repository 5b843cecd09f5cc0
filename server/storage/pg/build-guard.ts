// The build guard across replicas. A build's lock is a PostgreSQL advisory lock. A write in
// flight is a row in `writes` with a lease that its replica renews while the write runs; a
// seal waits until the build has no row with a lease still running, so a replica that dies
// mid-write holds a seal up for one lease at most. After the seal's grace the rows are
// marked cut, and each replica cuts its own writes at its next renewal.
//
// A write is admitted in one statement: its row is inserted only if the build's state does
// not close it. A state that closes a build is written under a SHARE lock on `writes`
// (pg/build-records.ts), which waits for the inserts running and holds off new ones until
// it commits; an insert takes its snapshot after its table lock, so it sees that state.
import { KeyedQueue } from '../../domain/gate.js';
import type { BuildGuard } from '../../domain/stores.js';
import type { Database } from './database.js';

/** How long a write in flight counts without its replica renewing it. */
export const WRITE_LEASE_MS = 10_000;
const RENEW_EVERY_MS = 2_000;
const DRAIN_POLL_MS = 50;

/** "/dpkg/hello/42/" -> "dpkg/hello/42", the key of the builds table. */
function buildKeyOf(scope: string): string {
  return scope.replace(/^\/|\/$/g, '');
}

interface LocalWrite {
  scope: string;
  abort?: () => void;
}

export class PgBuildGuard implements BuildGuard {
  readonly shared = true;
  private readonly queue = new KeyedQueue();
  private readonly local = new Map<string, LocalWrite>();
  /** Rows of writes that ended here but could not be deleted yet (the database was away). */
  private readonly ended = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private lastRenewal = Date.now();
  private renewing = false;

  constructor(
    private readonly db: Database,
    private readonly replica: string,
    private readonly leaseMs = WRITE_LEASE_MS,
  ) {
    this.timer = setInterval(() => this.tick(), Math.min(RENEW_EVERY_MS, leaseMs / 4));
    this.timer.unref();
  }

  exclusive<T>(scope: string, work: () => Promise<T>): Promise<T> {
    // One waiter per build in this process; the others queue here, not on a connection.
    return this.queue.run(scope, () => this.db.withLock(`build:${scope}`, work));
  }

  // `isOpen` is not called: the same test (sealed or being sealed, as Builds.whileWriting
  // asks it) is in the insert, so that admission is one statement. Change both together.
  async beginWrite(scope: string, _isOpen: () => Promise<boolean>, abort?: () => void): Promise<(() => Promise<void>) | null> {
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO writes (scope, replica, lease_until)
       SELECT $1, $2, clock_timestamp() + $3 * interval '1 millisecond'
       WHERE NOT EXISTS (SELECT 1 FROM builds WHERE scope = $4 AND (record ? 'sealed' OR record ? 'sealPending'))
       RETURNING id`,
      [scope, this.replica, this.leaseMs, buildKeyOf(scope)],
      'write-begin',
    );
    if (rows.length === 0) return null;
    const id = (rows[0] as { id: string }).id;
    if (this.local.size === 0) this.lastRenewal = Date.now();
    this.local.set(id, { scope, abort });
    return async () => {
      this.local.delete(id);
      // Should the database be away, the row is deleted at a later tick; it is no longer
      // renewed, so its lease runs out meanwhile.
      await this.db.query('DELETE FROM writes WHERE id = $1', [id], 'write-end').catch(() => this.ended.add(id));
    };
  }

  async drainWrites(scope: string, graceMs: number): Promise<void> {
    const graceEnds = Date.now() + graceMs;
    let cut = false;
    for (;;) {
      const { rows } = await this.db.query<{ live: string }>('SELECT count(*) AS live FROM writes WHERE scope = $1 AND lease_until > clock_timestamp()', [scope], 'write-count');
      if (Number(rows[0]?.live ?? 0) === 0) break;
      if (!cut && Date.now() >= graceEnds) {
        cut = true;
        await this.db.query('UPDATE writes SET cut = true WHERE scope = $1', [scope]);
        for (const write of this.local.values()) if (write.scope === scope) write.abort?.();
      }
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    // What dead replicas left.
    await this.db.query('DELETE FROM writes WHERE scope = $1 AND lease_until <= clock_timestamp()', [scope]);
  }

  writingHere(scope: string): boolean {
    for (const write of this.local.values()) if (write.scope === scope) return true;
    return false;
  }

  private tick(): void {
    // Leases not renewed run out: a seal elsewhere may then go ahead, so these writes must
    // not land. Cut before the lease can end, whether the renewals fail or hang.
    if (this.local.size > 0 && Date.now() - this.lastRenewal > this.leaseMs - 2 * RENEW_EVERY_MS) for (const write of this.local.values()) write.abort?.();
    if (!this.renewing) void this.renew();
  }

  private async renew(): Promise<void> {
    if (this.local.size === 0 && this.ended.size === 0) return;
    this.renewing = true;
    try {
      if (this.ended.size > 0) {
        const gone = [...this.ended];
        await this.db.query('DELETE FROM writes WHERE id = ANY($1)', [gone]);
        for (const id of gone) this.ended.delete(id);
      }
      if (this.local.size === 0) return;
      // Only the writes running here: a row this replica failed to delete is not kept alive.
      const { rows } = await this.db.query<{ id: string; cut: boolean }>(
        `UPDATE writes SET lease_until = clock_timestamp() + $2 * interval '1 millisecond' WHERE id = ANY($1) RETURNING id, cut`,
        [[...this.local.keys()], this.leaseMs],
        'write-renew',
      );
      this.lastRenewal = Date.now();
      for (const row of rows) if (row.cut) this.local.get(row.id)?.abort?.();
    } catch {
      // Tried again at the next tick; tick() cuts the writes before their leases end.
    } finally {
      this.renewing = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
