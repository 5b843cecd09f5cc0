// WebDAV locks in this process's memory: the embedded store (a lock outlives no process,
// as its timeout is short and clients refresh or re-take it).
import { KeyedQueue } from '../domain/gate.js';
import { type Lock, type LockStore, buildKey } from '../domain/stores.js';

/** Locks in this process's memory: the embedded store. */
export class MemoryLocks implements LockStore {
  private readonly locks = new Map<string, Lock>();
  private readonly byBuild = new Map<string, Map<string, Lock>>();
  private readonly queue = new KeyedQueue();

  async read(build: string, below = false): Promise<Lock[]> {
    if (!below) return [...(this.byBuild.get(build)?.values() ?? [])];
    const found: Lock[] = [];
    for (const [key, locks] of this.byBuild) if (key.startsWith(build)) found.push(...locks.values());
    return found;
  }

  async replace(lock: Lock): Promise<boolean> {
    if (!this.locks.has(lock.token)) return false;
    await this.put(lock);
    return true;
  }

  async byToken(token: string): Promise<Lock | undefined> {
    return this.locks.get(token);
  }

  async put(lock: Lock): Promise<void> {
    this.locks.set(lock.token, lock);
    const key = buildKey(lock.root);
    let set = this.byBuild.get(key);
    if (!set) this.byBuild.set(key, (set = new Map()));
    set.set(lock.token, lock);
  }

  async remove(tokens: readonly string[]): Promise<void> {
    for (const token of tokens) {
      const lock = this.locks.get(token);
      if (!lock) continue;
      this.locks.delete(token);
      const key = buildKey(lock.root);
      const set = this.byBuild.get(key);
      set?.delete(token);
      if (set?.size === 0) this.byBuild.delete(key);
    }
  }

  serially<T>(build: string, work: () => Promise<T>): Promise<T> {
    return this.queue.run(build, work);
  }
}
