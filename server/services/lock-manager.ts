// WebDAV write locks (RFC 4918 section 6). A lock lies inside one build (a token's scope),
// so locks are kept per build and a lookup reads only that build's: in memory in one
// process (a lock outlives no process, as its timeout is short and clients refresh or
// re-take it), in PostgreSQL with DATABASE_URL (pg/dav-locks.ts), so that a lock taken
// through one replica holds on all of them. Which locks apply is decided by LockView over
// the live locks of one build, read once per request.
import { randomUUID } from 'node:crypto';
import { BUILD_DEPTH, isInsideScope, sameSegments } from '../domain/tree-path.js';
import { type Lock, type LockDepth, type LockScope, type LockStore, buildKey } from '../domain/stores.js';

export const DEFAULT_LOCK_SECONDS = 600;
export const MAX_LOCK_SECONDS = 3600;
/** Locks one token may hold at once, and the size of a lock's owner element: every
 * PROPFIND of a covered resource repeats them, so they must stay small. */
export const MAX_LOCKS_PER_OWNER = 32;
export const MAX_OWNER_XML_BYTES = 4096;
/** Locks in one build, by all its tokens, and of those how many may cover a whole subtree. */
export const MAX_LOCKS_PER_BUILD = 64;
export const MAX_DEPTH_LOCKS_PER_BUILD = 8;

/** The live locks that may concern one path, and what they say about it. Pure. */
export class LockView {
  constructor(readonly locks: readonly Lock[]) {}

  /** Locks that apply to a resource: on it, or depth-infinity on an ancestor. */
  covering(segments: readonly string[]): Lock[] {
    return this.locks.filter((l) => sameSegments(l.root, segments) || (l.depth === 'infinity' && isInsideScope(segments, l.root)));
  }

  /** Locks rooted on the resource or anywhere below it. */
  within(segments: readonly string[]): Lock[] {
    return this.locks.filter((l) => isInsideScope(l.root, segments));
  }

  /** Why one more lock (of this depth) may not be taken in this build, or null. */
  buildLimitProblem(depth: LockDepth): string | null {
    if (this.locks.length >= MAX_LOCKS_PER_BUILD) return `a build may hold at most ${MAX_LOCKS_PER_BUILD} locks`;
    if (depth === 'infinity' && this.locks.filter((l) => l.depth === 'infinity' && l.rootIsCollection).length >= MAX_DEPTH_LOCKS_PER_BUILD) {
      return `a build may hold at most ${MAX_DEPTH_LOCKS_PER_BUILD} depth-infinity locks on collections`;
    }
    return null;
  }

  /** Locks that would conflict with a new lock of this scope and depth at `segments`. */
  conflicts(segments: readonly string[], scope: LockScope, depth: LockDepth): Lock[] {
    const candidates = depth === 'infinity' ? [...this.covering(segments), ...this.within(segments)] : this.covering(segments);
    const unique = [...new Map(candidates.map((l) => [l.token, l])).values()];
    return unique.filter((l) => scope === 'exclusive' || l.scope === 'exclusive');
  }

  heldBy(principal: string): number {
    return this.locks.filter((l) => l.principal === principal).length;
  }
}

/** Parses a Timeout header ("Second-600, Infinite"): the first value we can honour. */
export function lockTimeout(header: string | undefined): number {
  if (!header) return DEFAULT_LOCK_SECONDS;
  for (const part of header.split(',')) {
    const value = part.trim();
    if (/^infinite$/i.test(value)) return MAX_LOCK_SECONDS;
    const m = /^Second-(\d{1,10})$/i.exec(value);
    if (m) return Math.max(1, Math.min(MAX_LOCK_SECONDS, Number(m[1])));
  }
  return DEFAULT_LOCK_SECONDS;
}

export class LockManager {
  constructor(
    private readonly store: LockStore,
    private readonly now: () => number = Date.now,
    /** A lock dies with the token that took it (revoked or expired): which of these live. */
    private readonly liveOwners: (principals: readonly string[]) => Promise<ReadonlySet<string>> = async (p) => new Set(p),
  ) {}

  /** Of these locks, the live ones; the others are forgotten. */
  private async alive(locks: readonly Lock[]): Promise<Lock[]> {
    if (locks.length === 0) return [];
    const now = this.now();
    const unexpired = locks.filter((l) => l.expiresAt > now);
    const owners = unexpired.length > 0 ? await this.liveOwners([...new Set(unexpired.map((l) => l.principal))]) : new Set<string>();
    const live = unexpired.filter((l) => owners.has(l.principal));
    if (live.length < locks.length) {
      const liveTokens = new Set(live.map((l) => l.token));
      await this.store.remove(locks.filter((l) => !liveTokens.has(l.token)).map((l) => l.token));
    }
    return live;
  }

  /** The live locks that may concern a path: its build's, or above build level, those of the builds below it. */
  async view(segments: readonly string[]): Promise<LockView> {
    const locks = segments.length >= BUILD_DEPTH ? await this.store.read(buildKey(segments)) : await this.store.read(segments.map((s) => `${s}/`).join(''), true);
    return new LockView(await this.alive(locks));
  }

  async covering(segments: readonly string[]): Promise<Lock[]> {
    return (await this.view(segments)).covering(segments);
  }

  async within(segments: readonly string[]): Promise<Lock[]> {
    return (await this.view(segments)).within(segments);
  }

  async get(token: string): Promise<Lock | undefined> {
    const lock = await this.store.byToken(token);
    return lock ? (await this.alive([lock]))[0] : undefined;
  }

  /**
   * Takes a new lock at `segments` once `check` (given the build's live locks, under the
   * build's lock-change lock) has not thrown: no concurrent LOCK on any replica slips in
   * between the check and the lock.
   */
  async create(fields: Omit<Lock, 'token' | 'expiresAt'>, check: (view: LockView) => void = () => undefined): Promise<Lock> {
    return this.store.serially(buildKey(fields.root), async () => {
      check(await this.view(fields.root));
      const lock: Lock = { ...fields, root: [...fields.root], token: `urn:uuid:${randomUUID()}`, expiresAt: this.now() + fields.timeoutSeconds * 1000 };
      await this.store.put(lock);
      return lock;
    });
  }

  /** The lock with its new timeout, or null if it went meanwhile (released, or its resource deleted). */
  async refresh(lock: Lock, timeoutSeconds: number): Promise<Lock | null> {
    const refreshed: Lock = { ...lock, timeoutSeconds, expiresAt: this.now() + timeoutSeconds * 1000 };
    return (await this.store.replace(refreshed)) ? refreshed : null;
  }

  async release(token: string): Promise<boolean> {
    if (!(await this.store.byToken(token))) return false;
    await this.store.remove([token]);
    return true;
  }

  /** The resource and its members are gone (DELETE, MOVE source): so are their locks. */
  async releaseWithin(segments: readonly string[]): Promise<void> {
    const gone = (await this.within(segments)).map((l) => l.token);
    if (gone.length > 0) await this.store.remove(gone);
  }

  secondsLeft(lock: Lock): number {
    return Math.max(0, Math.ceil((lock.expiresAt - this.now()) / 1000));
  }
}
