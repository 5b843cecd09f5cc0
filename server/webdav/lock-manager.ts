// WebDAV write locks (RFC 4918 section 6), held in memory: a lock outlives no process,
// as its timeout is short and clients refresh or re-take it. A lock lies inside one build
// (a token's scope), so locks are kept per build and a lookup scans only that build's.
import { randomUUID } from 'node:crypto';
import { isInsideScope, sameSegments } from '../domain/tree-path.js';

export type LockScope = 'exclusive' | 'shared';
export type LockDepth = '0' | 'infinity';

export interface Lock {
  token: string;
  root: readonly string[];
  rootIsCollection: boolean;
  depth: LockDepth;
  scope: LockScope;
  ownerXml: string | null;
  /** Build token id that took the lock: only it may use the lock token. */
  principal: string;
  timeoutSeconds: number;
  expiresAt: number;
}

export const DEFAULT_LOCK_SECONDS = 600;
export const MAX_LOCK_SECONDS = 3600;
/** Locks one token may hold at once, and the size of a lock's owner element: every
 * PROPFIND of a covered resource repeats them, so they must stay small. */
export const MAX_LOCKS_PER_OWNER = 32;
export const MAX_OWNER_XML_BYTES = 4096;
/** Locks in one build, by all its tokens, and of those how many may cover a whole subtree. */
export const MAX_LOCKS_PER_BUILD = 64;
export const MAX_DEPTH_LOCKS_PER_BUILD = 8;

const BUILD_LEVEL = 3;

function buildKey(segments: readonly string[]): string {
  return segments.slice(0, BUILD_LEVEL).join('/');
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
  private readonly locks = new Map<string, Lock>();
  private readonly byBuild = new Map<string, Set<Lock>>();

  constructor(
    private readonly now: () => number = Date.now,
    /** A lock dies with the token that took it (revoked or expired). */
    private readonly isOwnerLive: (principal: string) => boolean = () => true,
  ) {}

  private isLive(lock: Lock, now: number): boolean {
    if (lock.expiresAt > now && this.isOwnerLive(lock.principal)) return true;
    this.drop(lock);
    return false;
  }

  private drop(lock: Lock): void {
    this.locks.delete(lock.token);
    const set = this.byBuild.get(buildKey(lock.root));
    set?.delete(lock);
    if (set?.size === 0) this.byBuild.delete(buildKey(lock.root));
  }

  /** The live locks that may concern a path: its build's, or every lock above build level. */
  private live(segments: readonly string[] | null = null): Lock[] {
    const now = this.now();
    const candidates = segments !== null && segments.length >= BUILD_LEVEL ? [...(this.byBuild.get(buildKey(segments)) ?? [])] : [...this.locks.values()];
    return candidates.filter((lock) => this.isLive(lock, now));
  }

  /** Locks that apply to a resource: on it, or depth-infinity on an ancestor. */
  covering(segments: readonly string[]): Lock[] {
    return this.live(segments).filter((l) => sameSegments(l.root, segments) || (l.depth === 'infinity' && isInsideScope(segments, l.root)));
  }

  /** Locks rooted on the resource or anywhere below it. */
  within(segments: readonly string[]): Lock[] {
    return this.live(segments).filter((l) => isInsideScope(l.root, segments));
  }

  get(token: string): Lock | undefined {
    const lock = this.locks.get(token);
    return lock && this.isLive(lock, this.now()) ? lock : undefined;
  }

  /** Why one more lock (of this depth) may not be taken in this build, or null. */
  buildLimitProblem(segments: readonly string[], depth: LockDepth): string | null {
    const locks = this.live(segments);
    if (locks.length >= MAX_LOCKS_PER_BUILD) return `a build may hold at most ${MAX_LOCKS_PER_BUILD} locks`;
    if (depth === 'infinity' && locks.filter((l) => l.depth === 'infinity' && l.rootIsCollection).length >= MAX_DEPTH_LOCKS_PER_BUILD) {
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
    return this.live().filter((l) => l.principal === principal).length;
  }

  create(fields: Omit<Lock, 'token' | 'expiresAt'>): Lock {
    const lock: Lock = { ...fields, token: `urn:uuid:${randomUUID()}`, expiresAt: this.now() + fields.timeoutSeconds * 1000 };
    this.locks.set(lock.token, lock);
    const key = buildKey(lock.root);
    let set = this.byBuild.get(key);
    if (!set) this.byBuild.set(key, (set = new Set()));
    set.add(lock);
    return lock;
  }

  refresh(lock: Lock, timeoutSeconds: number): Lock {
    lock.timeoutSeconds = timeoutSeconds;
    lock.expiresAt = this.now() + timeoutSeconds * 1000;
    return lock;
  }

  release(token: string): boolean {
    const lock = this.locks.get(token);
    if (!lock) return false;
    this.drop(lock);
    return true;
  }

  /** The resource and its members are gone (DELETE, MOVE source): so are their locks. */
  releaseWithin(segments: readonly string[]): void {
    for (const lock of this.within(segments)) this.drop(lock);
  }

  secondsLeft(lock: Lock): number {
    return Math.max(0, Math.ceil((lock.expiresAt - this.now()) / 1000));
  }
}
