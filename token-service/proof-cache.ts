// Remembers credentials that argon2 has already accepted, so that a build's 2000 requests
// pay for one verification. Keys are HMAC-SHA256 of "user:password" under a key that lives
// only in this process: the cache holds no password and no reusable hash, and a lookup
// that misses or hits reveals nothing about the password's bytes.
import { createHmac, randomBytes } from 'node:crypto';

export class ProofCache {
  private readonly key = randomBytes(32);
  private readonly proofs = new Map<string, string>();
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly pending = new Map<string, Promise<boolean>>();

  constructor(private readonly maxEntries = 50_000) {}

  proofKey(username: string, password: string): string {
    // Length-prefixed, so no other (user, password) pair gives the same input.
    return createHmac('sha256', this.key).update(`${Buffer.byteLength(username)}:`).update(username).update(password).digest('base64');
  }

  /** The owner (token id or master name) proven by this key, if any. */
  owner(proofKey: string): string | undefined {
    return this.proofs.get(proofKey);
  }

  remember(proofKey: string, owner: string): void {
    if (this.proofs.get(proofKey) === owner) return;
    if (this.proofs.size >= this.maxEntries) this.evictOldest();
    this.proofs.set(proofKey, owner);
    let keys = this.byOwner.get(owner);
    if (!keys) this.byOwner.set(owner, (keys = new Set()));
    keys.add(proofKey);
  }

  /** Drops every proof of one owner: used at revoke, expiry and master removal. */
  forget(owner: string): void {
    const keys = this.byOwner.get(owner);
    if (!keys) return;
    for (const key of keys) this.proofs.delete(key);
    this.byOwner.delete(owner);
  }

  /**
   * Runs one verification per distinct credential at a time: eight connections that open
   * with the same new token share a single argon2 run.
   */
  verifyOnce(proofKey: string, verify: () => Promise<boolean>): Promise<boolean> {
    const running = this.pending.get(proofKey);
    if (running) return running;
    const promise = verify().finally(() => this.pending.delete(proofKey));
    this.pending.set(proofKey, promise);
    return promise;
  }

  /** A verification of this credential is running now. */
  isPending(proofKey: string): boolean {
    return this.pending.has(proofKey);
  }

  get size(): number {
    return this.proofs.size;
  }

  private evictOldest(): void {
    const oldest = this.proofs.keys().next();
    if (oldest.done) return;
    const owner = this.proofs.get(oldest.value);
    this.proofs.delete(oldest.value);
    if (owner === undefined) return;
    const keys = this.byOwner.get(owner);
    keys?.delete(oldest.value);
    if (keys?.size === 0) this.byOwner.delete(owner);
  }
}
