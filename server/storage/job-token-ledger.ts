// The job tokens that minted (docs/ci.md), embedded: digests with their expiry, one file on
// the tokens volume written whole; with DATABASE_URL: pg/job-token-ledger.ts. A token is
// refused past its expiry anyway, so an entry is kept only until then.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobTokenLedger } from '../domain/stores.js';
import { replaceFile } from './file-system.js';

export const LEDGER_FILE = 'used-job-tokens.json';

export class JobTokenLedgerFile implements JobTokenLedger {
  private readonly file: string;
  private entries: Map<string, string> | null = null;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(tokensDir: string) {
    this.file = path.join(tokensDir, LEDGER_FILE);
  }

  private async load(): Promise<Map<string, string>> {
    if (this.entries) return this.entries;
    try {
      this.entries = new Map(Object.entries(JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.entries = new Map();
    }
    return this.entries;
  }

  /** One change at a time: the file is read, changed and written whole. */
  private change<T>(work: (entries: Map<string, string>) => T): Promise<T> {
    const run = this.writing.then(async () => {
      const entries = await this.load();
      const result = work(entries);
      await replaceFile(this.file, JSON.stringify(Object.fromEntries(entries)));
      return result;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  claim(key: string, expiresAt: string): Promise<boolean> {
    return this.change((entries) => {
      if (entries.has(key)) return false;
      entries.set(key, expiresAt);
      return true;
    });
  }

  purge(now: string): Promise<void> {
    return this.change((entries) => {
      for (const [key, expiresAt] of entries) if (expiresAt < now) entries.delete(key);
    });
  }
}
