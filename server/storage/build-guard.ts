// Who may touch a build when: mints and seals of one build run one at a time, and a seal
// waits for the build's writes in flight (cutting them after a grace). In one process
// (LocalBuildGuard) that is memory; across replicas it is PostgreSQL (pg/build-guard.ts):
// an advisory lock per build, and a row with a lease per write in flight.
import { KeyedQueue } from '../domain/gate.js';
import type { BuildGuard } from '../domain/stores.js';

interface Writing {
  count: number;
  idle: Array<() => void>;
  aborts: Set<() => void>;
}

export class LocalBuildGuard implements BuildGuard {
  readonly shared = false;
  private readonly queue = new KeyedQueue();
  private readonly writing = new Map<string, Writing>();

  exclusive<T>(scope: string, work: () => Promise<T>): Promise<T> {
    return this.queue.run(scope, work);
  }

  async beginWrite(scope: string, isOpen: () => Promise<boolean>, abort?: () => void): Promise<(() => Promise<void>) | null> {
    const entry = this.writing.get(scope) ?? { count: 0, idle: [], aborts: new Set() };
    this.writing.set(scope, entry);
    entry.count++;
    if (abort) entry.aborts.add(abort);
    const end = async (): Promise<void> => {
      if (abort) entry.aborts.delete(abort);
      entry.count--;
      if (entry.count === 0) {
        this.writing.delete(scope);
        for (const wake of entry.idle.splice(0)) wake();
      }
    };
    // Counted first, checked second: a seal that starts after the count waits for us.
    try {
      if (await isOpen()) return end;
    } catch (err) {
      await end();
      throw err;
    }
    await end();
    return null;
  }

  async drainWrites(scope: string, graceMs: number): Promise<void> {
    const entry = this.writing.get(scope);
    if (!entry) return;
    const idle = new Promise<void>((resolve) => entry.idle.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    if ((await Promise.race([idle, graceOver])) === 'late') for (const abort of entry.aborts) abort();
    clearTimeout(timer);
    await idle;
  }

  writingHere(scope: string): boolean {
    return this.writing.has(scope);
  }

  async close(): Promise<void> {}
}
