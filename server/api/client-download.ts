// GET /-/client/artifact-repo: the client half of the CLI (cli/client.ts) as one file that
// Node runs with nothing installed, so that a CI worker, air-gapped included, gets the
// client from the repository it talks to. esbuild writes it at build time; it is read and
// hashed once, here, and served from memory (about 100 KiB).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Express, Response } from 'express';

export const CLIENT_FILE_NAME = 'artifact-repo';
const CLIENT_PATH = new URL('../../client/artifact-repo', import.meta.url);

interface ClientFile {
  bytes: Buffer;
  sha256: string;
}

export function mountClientDownload(app: Express): void {
  let loaded: Promise<ClientFile> | null = null;
  // Read once; a file not there yet (built after the start) is looked for again next time.
  const client = (): Promise<ClientFile | null> => {
    loaded ??= readFile(CLIENT_PATH).then((bytes) => ({ bytes, sha256: createHash('sha256').update(bytes).digest('hex') }));
    return loaded.catch(() => {
      loaded = null;
      return null;
    });
  };
  const missing = (res: Response): void => {
    res.status(404).type('text/plain').send('the client is not built on this server: `npm run build` writes it\n');
  };
  app.get(`/-/client/${CLIENT_FILE_NAME}`, async (_req, res) => {
    const file = await client();
    if (!file) return missing(res);
    res
      .set('Content-Type', 'text/javascript; charset=utf-8')
      .set('Content-Disposition', `attachment; filename="${CLIENT_FILE_NAME}"`)
      .set('X-Checksum-Sha256', file.sha256)
      .set('Repr-Digest', `sha-256=:${Buffer.from(file.sha256, 'hex').toString('base64')}:`)
      .set('ETag', `"${file.sha256.slice(0, 32)}"`)
      // A new release of the server brings a new client: ask each time, 304 when unchanged.
      .set('Cache-Control', 'no-cache')
      .set('X-Content-Type-Options', 'nosniff')
      .send(file.bytes);
  });
  // For `sha256sum -c`, beside the file.
  app.get(`/-/client/${CLIENT_FILE_NAME}.sha256`, async (_req, res) => {
    const file = await client();
    if (!file) return missing(res);
    res.set('Cache-Control', 'no-cache').type('text/plain').send(`${file.sha256}  ${CLIENT_FILE_NAME}\n`);
  });
}
