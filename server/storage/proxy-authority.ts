// The build proxy's certificate authority on the tokens volume: proxy-ca.key (0600) and
// proxy-ca.pem, written whole (temporary file, rename).
import { readFile } from 'node:fs/promises';
import { replaceFile } from './file-system.js';
import path from 'node:path';
import type { AuthorityKeeper } from '../domain/stores.js';

export const CA_KEY_FILE = 'proxy-ca.key';
export const CA_CERT_FILE = 'proxy-ca.pem';

export function fileKeeper(tokensDir: string): AuthorityKeeper {
  const keyFile = path.join(tokensDir, CA_KEY_FILE);
  const certFile = path.join(tokensDir, CA_CERT_FILE);
  const load = async (): Promise<{ keyPem: string; certPem: string } | null> => {
    try {
      return { keyPem: await readFile(keyFile, 'utf8'), certPem: await readFile(certFile, 'utf8') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };
  return {
    load,
    async saveIfAbsent(keyPem, certPem) {
      const existing = await load();
      if (existing) return existing;
      // The certificate first: a key without its certificate is never left alone.
      await replaceFile(certFile, certPem, 0o644);
      await replaceFile(keyFile, keyPem);
      return { keyPem, certPem };
    },
  };
}
