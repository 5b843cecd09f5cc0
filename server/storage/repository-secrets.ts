// Secrets the repository makes once and keeps for ever, by name: the key of the keyed
// hashes a recording keeps instead of request values (matching.ts). Never served, never
// logged. Embedded: one file on the tokens volume, 0600, written whole; with DATABASE_URL:
// pg/repository-secrets.ts, so that every replica uses the same one.
import { readFile } from 'node:fs/promises';
import { replaceFile } from './file-system.js';
import path from 'node:path';
import type { RepositorySecrets } from '../domain/stores.js';

export const SECRETS_FILE = 'repository-secrets.json';

export class RepositorySecretFile implements RepositorySecrets {
  private readonly file: string;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(tokensDir: string) {
    this.file = path.join(tokensDir, SECRETS_FILE);
  }

  async all(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  getOrCreate(name: string, make: () => string): Promise<string> {
    // One change at a time in this process: the file is read, changed and written whole.
    const run = this.writing.then(async () => {
      const secrets = await this.all();
      const existing = secrets[name];
      if (existing) return existing;
      secrets[name] = make();
      await this.write(secrets);
      return secrets[name];
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  private write(secrets: Record<string, string>): Promise<void> {
    return replaceFile(this.file, JSON.stringify(secrets));
  }
}
