// Bounds how much of one kind of expensive work runs at once (argon2 checks, compares,
// long listings): a few at a time, a bounded queue behind them, and a clear refusal
// beyond it, so that a flood of such requests sheds load instead of stalling everyone.
import { Failure } from './errors.js';
/**
 * Too much at once: for the whole server (a Gate: `unavailable`, 503) or for one client
 * (a Pacer: `throttled`, 429).
 */
export class Busy extends Failure {
  constructor(
    readonly what: string,
    retryAfterSeconds: number,
    kind: 'unavailable' | 'throttled' = 'unavailable',
  ) {
    super(kind, `too many ${what} at once; try again in ${retryAfterSeconds} s`, retryAfterSeconds);
  }
}

export class Gate {
  private running = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    /** What is limited, for the refusal: "credential checks", "compares". */
    readonly what: string,
    readonly concurrency: number,
    readonly maxQueued: number,
    private readonly retryAfterSeconds = 1,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.queue.length >= this.maxQueued) throw new Busy(this.what, this.retryAfterSeconds);
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      const next = this.queue.shift();
      // The slot passes to the next in line, or is given back.
      if (next) next();
      else this.running--;
    }
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }
}

/** Lets the event loop serve other requests: long loops call it every so many steps. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Sorts without holding the event loop: slices of a few thousand are sorted at a time,
 * then merged, with a yield between steps. Stable, like Array.prototype.sort.
 */
export async function sortYielding<T>(items: readonly T[], compare: (a: T, b: T) => number, slice = 2000): Promise<T[]> {
  let runs: T[][] = [];
  for (let i = 0; i < items.length; i += slice) {
    runs.push(items.slice(i, i + slice).sort(compare));
    if (i + slice < items.length) await yieldToLoop();
  }
  while (runs.length > 1) {
    const merged: T[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r] as T[];
      const b = runs[r + 1];
      if (!b) {
        merged.push(a);
        continue;
      }
      const out: T[] = new Array(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) out[k++] = compare(b[j] as T, a[i] as T) < 0 ? (b[j++] as T) : (a[i++] as T);
      while (i < a.length) out[k++] = a[i++] as T;
      while (j < b.length) out[k++] = b[j++] as T;
      merged.push(out);
      await yieldToLoop();
    }
    runs = merged;
  }
  return runs[0] ?? [];
}

/** Runs `work` after every earlier call for the same key has settled. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.catch(() => undefined);
    this.tails.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.tails.get(key) === settled) this.tails.delete(key);
    }
  }
}

/**
 * Paces one kind of work per key (a build token's new tunnels, say): a burst goes at once,
 * then `ratePerSecond`; what comes faster waits its turn (a token bucket whose debt is the
 * queue), and more than `maxWaiting` waiting for one key is refused (Busy). A key that
 * keeps to the rate never waits.
 */
export class Pacer {
  private readonly buckets = new Map<string, { tokens: number; at: number; waiting: number }>();

  constructor(
    readonly what: string,
    readonly ratePerSecond: number,
    readonly burst: number,
    readonly maxWaiting: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** Resolves when this key may go on (at once, or after its wait); Busy when too many of its wait already. */
  async pass(key: string): Promise<void> {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= 10_000) this.forgetIdle(now);
      bucket = { tokens: this.burst, at: now, waiting: 0 };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    if (bucket.waiting >= this.maxWaiting) throw new Busy(this.what, Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)), 'throttled');
    // Taken now, paid for by waiting until the bucket would have held it.
    bucket.tokens -= 1;
    const waitMs = (-bucket.tokens / this.ratePerSecond) * 1000;
    bucket.waiting++;
    try {
      await this.sleep(waitMs);
    } finally {
      bucket.waiting--;
    }
  }

  /** Buckets that are full again and have no one waiting say nothing: forgotten. */
  private forgetIdle(now: number): void {
    for (const [key, b] of this.buckets) if (b.waiting === 0 && b.tokens + ((now - b.at) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(key);
  }
}
