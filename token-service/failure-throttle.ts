// Slows down password guessing per key (an address and a name; a name from every address):
// after `limit` consecutive failures the key is refused for `lockoutMs`. A success clears
// the count, and nothing is added to requests that succeed.

export interface ThrottleVerdict {
  allowed: boolean;
  retryAfterSeconds: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  lockedUntil: number;
}

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly limit: number,
    private readonly lockoutMs: number,
    private readonly now: () => number,
    private readonly maxEntries = 100_000,
  ) {}

  check(address: string): ThrottleVerdict {
    const entry = this.entries.get(address);
    const now = this.now();
    if (!entry || entry.lockedUntil <= now) return { allowed: true, retryAfterSeconds: 0 };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((entry.lockedUntil - now) / 1000)) };
  }

  /** `scale` multiplies the limit, for a wider key (a name from every address). */
  recordFailure(address: string, scale = 1): void {
    const now = this.now();
    let entry = this.entries.get(address);
    // Failures spread wider apart than the lockout do not add up.
    if (!entry || now - entry.lastFailureAt > this.lockoutMs) {
      if (this.entries.size >= this.maxEntries) this.prune(now);
      entry = { failures: 0, lastFailureAt: now, lockedUntil: 0 };
      this.entries.set(address, entry);
    }
    entry.failures += 1;
    entry.lastFailureAt = now;
    if (entry.failures >= this.limit * scale) {
      entry.lockedUntil = now + this.lockoutMs;
      entry.failures = 0;
    }
  }

  /** Clears the count, but not a lockout in force: a success of the owner does not unlock guesses. */
  recordSuccess(address: string): void {
    const entry = this.entries.get(address);
    if (entry && entry.lockedUntil <= this.now()) this.entries.delete(address);
  }

  private prune(now: number): void {
    for (const [address, entry] of this.entries) {
      if (entry.lockedUntil <= now && now - entry.lastFailureAt > this.lockoutMs) this.entries.delete(address);
    }
    // Under a flood from many addresses, forget the oldest rather than grow without bound.
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
