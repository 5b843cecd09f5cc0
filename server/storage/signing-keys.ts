// The repository's signing keys: the current one (with its private half) and the retired
// ones (public halves only, so that what they signed still verifies). Embedded: one file
// on the tokens volume, 0600, written whole; with DATABASE_URL: pg/signing-keys.ts.
import { readFile } from 'node:fs/promises';
import { replaceFile } from './file-system.js';
import path from 'node:path';
import type { SigningKeyRecord, SigningKeyStore } from '../domain/stores.js';
import { orderKeys } from '../domain/record-rules.js';

export const SIGNING_KEYS_FILE = 'signing-keys.json';

export class SigningKeyFile implements SigningKeyStore {
  private readonly file: string;

  constructor(tokensDir: string) {
    this.file = path.join(tokensDir, SIGNING_KEYS_FILE);
  }

  async list(): Promise<SigningKeyRecord[]> {
    try {
      return orderKeys(JSON.parse(await readFile(this.file, 'utf8')) as SigningKeyRecord[]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  private write(keys: readonly SigningKeyRecord[]): Promise<void> {
    return replaceFile(this.file, JSON.stringify(orderKeys(keys), null, 1));
  }

  async createIfAbsent(key: SigningKeyRecord): Promise<SigningKeyRecord> {
    const keys = await this.list();
    const current = keys.find((k) => k.retiredAt === null);
    if (current) return current;
    await this.write([key, ...keys]);
    return key;
  }

  async rotate(key: SigningKeyRecord): Promise<void> {
    const keys = (await this.list()).map((k) => (k.retiredAt === null ? { ...k, privatePem: null, pgpPrivate: null, retiredAt: key.createdAt } : k));
    await this.write([key, ...keys]);
  }

  async attachPgp(publicKey: string, pgpPublic: string, pgpPrivate: string): Promise<void> {
    const keys = await this.list();
    if (!keys.some((k) => k.publicKey === publicKey && !k.pgpPublic)) return;
    await this.write(keys.map((k) => (k.publicKey === publicKey && !k.pgpPublic ? { ...k, pgpPublic, pgpPrivate: k.retiredAt === null ? pgpPrivate : null } : k)));
  }
}
