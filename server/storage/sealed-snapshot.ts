// The embedded store's index of sealed builds, kept on disk so that a start reads one file
// instead of every build record (100 000 records took 14 s): a snapshot of the index, and
// a journal of the builds whose record changed since. A record's build is journaled before
// the record is written, so whatever a crash interrupts, the snapshot and the journals
// name every build whose record may differ from it; those are read again at the start.
//
// Journals are numbered: a snapshot names the first journal it does not cover, and is
// begun (synchronously, with the index as it is) by starting the next journal. Once the
// snapshot is in place, the journals it covers are removed; until then the old snapshot
// and every journal from the one it names still cover everything.
//
// The files are the store's own, in ARTIFACTS_DIR/.builds/ (names begin with a dot: no
// type can). Restoring `.builds` from elsewhere, remove `.sealed-index.json` with it: the
// next start then reads every record and writes a new one.
import { appendFileSync, mkdirSync, readdirSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SealedBuildEntry } from '../domain/stores.js';

export interface SealedState {
  sealed: SealedBuildEntry[];
  /** Open builds with a revision: [scope, revision]. */
  open: Array<[string, string]>;
}

const SNAPSHOT = '.sealed-index.json';
const JOURNAL_RE = /^\.sealed-journal-(\d{1,15})$/;
const VERSION = 2;

export class SealedSnapshot {
  private current = 0;
  private writing: Promise<void> | null = null;

  // Appended to from the start, before any snapshot is read (an admin command may only
  // write): the newest journal there is. A snapshot's first journal is made as the
  // snapshot is begun and never removed with the ones it covers, so the newest is never
  // older than the snapshot in place.
  constructor(private readonly base: string) {
    let names: string[] = [];
    try {
      names = readdirSync(base);
    } catch {
      // no records yet
    }
    for (const name of names) {
      const m = JOURNAL_RE.exec(name);
      if (m) this.current = Math.max(this.current, Number(m[1]));
    }
  }

  private file(name: string): string {
    return path.join(this.base, name);
  }

  private journal(n: number): string {
    return this.file(`.sealed-journal-${n}`);
  }

  /** Names a build whose record is about to change (synchronous: before the record is). */
  note(scope: string): void {
    try {
      appendFileSync(this.journal(this.current), `${scope}\n`);
    } catch {
      mkdirSync(this.base, { recursive: true });
      appendFileSync(this.journal(this.current), `${scope}\n`);
    }
  }

  /** The last snapshot (null: none, or unreadable) and every build the journals since it name. */
  async read(): Promise<{ state: SealedState | null; journaled: Set<string> }> {
    let state: SealedState | null = null;
    let from = 0;
    try {
      const parsed = JSON.parse(await readFile(this.file(SNAPSHOT), 'utf8')) as { version?: number; journal?: number } & Partial<SealedState>;
      if (parsed.version === VERSION && Array.isArray(parsed.sealed) && Array.isArray(parsed.open) && Number.isSafeInteger(parsed.journal)) {
        state = { sealed: parsed.sealed, open: parsed.open };
        from = parsed.journal as number;
      }
    } catch {
      // none, or cut: every record is read
    }
    const numbers = (await readdir(this.base).catch(() => [] as string[])).flatMap((name) => {
      const m = JOURNAL_RE.exec(name);
      return m ? [Number(m[1])] : [];
    });
    const journaled = new Set<string>();
    for (const n of numbers) {
      if (state && n < from) continue;
      const text = await readFile(this.journal(n), 'utf8').catch(() => '');
      for (const line of text.split('\n')) if (/^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(line)) journaled.add(line);
    }
    this.current = Math.max(this.current, from);
    return { state, journaled };
  }

  /** Whether a snapshot is being written (one at a time). */
  get busy(): boolean {
    return this.writing !== null;
  }

  /**
   * Begins a snapshot of `state`, which must be the index as it is at this very call (the
   * caller computes it in the same synchronous step). Resolves once it is in place.
   */
  capture(state: SealedState): Promise<void> {
    if (this.writing) return this.writing;
    const next = this.current + 1;
    mkdirSync(this.base, { recursive: true });
    appendFileSync(this.journal(next), '');
    this.current = next;
    const text = JSON.stringify({ version: VERSION, journal: next, ...state });
    const temp = this.file(`${SNAPSHOT}.${process.pid}.tmp`);
    this.writing = (async () => {
      try {
        await writeFile(temp, text);
        await rename(temp, this.file(SNAPSHOT));
        // What the snapshot covers is no longer needed.
        for (const name of await readdir(this.base)) {
          const m = JOURNAL_RE.exec(name);
          if (m && Number(m[1]) < next) await rm(this.file(name), { force: true });
        }
      } finally {
        this.writing = null;
      }
    })();
    return this.writing;
  }
}
