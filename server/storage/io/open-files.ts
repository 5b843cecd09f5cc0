// Files kept open between uses, at most `max` at once (the least recently used is closed
// first): a recording appended to, or read from, once per exchange would otherwise cost an
// open and a close each time, two more trips through the thread pool per request.
import { open, type FileHandle } from 'node:fs/promises';

interface Entry {
  handle: Promise<FileHandle>;
  /** Uses in progress: a handle is closed only once none is left. */
  users: number;
  /** No longer kept (evicted or forgotten): closed when its last use ends. */
  dropped: boolean;
}

export class OpenFiles {
  private readonly entries = new Map<string, Entry>();
  /** After closeAll: files are still opened for a use, and closed after it. */
  private closed = false;

  constructor(
    private readonly flags: 'r' | 'a',
    private readonly max: number,
    private readonly mode?: number,
  ) {}

  /** Runs `work` with the file open (opened now if it is not); a failed open is not kept, and rejects. */
  async with<T>(file: string, work: (handle: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.entries.get(file);
    if (entry) {
      // The most recently used is last.
      this.entries.delete(file);
    } else {
      entry = { handle: open(file, this.flags, this.mode), users: 0, dropped: this.closed };
      this.evictBeyond(this.max - 1);
    }
    if (!entry.dropped) this.entries.set(file, entry);
    entry.users++;
    try {
      return await work(await entry.handle);
    } catch (err) {
      // A handle that could not be opened is asked for again next time.
      if (this.entries.get(file) === entry && (await entry.handle.then(() => false, () => true))) this.drop(file, entry);
      throw err;
    } finally {
      entry.users--;
      if (entry.dropped && entry.users === 0) closeQuietly(entry.handle);
    }
  }

  /** Lets go of the file's handle (before the file is removed or replaced). */
  forget(file: string): void {
    const entry = this.entries.get(file);
    if (entry) this.drop(file, entry);
  }

  /** Lets go of every handle (when the store closes). */
  closeAll(): void {
    this.closed = true;
    for (const [file, entry] of [...this.entries]) this.drop(file, entry);
  }

  private evictBeyond(count: number): void {
    for (const [file, entry] of this.entries) {
      if (this.entries.size <= count) return;
      this.drop(file, entry);
    }
  }

  private drop(file: string, entry: Entry): void {
    this.entries.delete(file);
    entry.dropped = true;
    if (entry.users === 0) closeQuietly(entry.handle);
  }
}

function closeQuietly(handle: Promise<FileHandle>): void {
  handle.then((h) => h.close()).catch(() => undefined);
}
