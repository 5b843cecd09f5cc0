// The embedded build records' list of sealed builds, read back from files as a restart does.
import { expect } from 'chai';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { makeTempDir } from '../helpers/harness.js';
import { openStores } from '../../server/open-stores.js';

describe('storage/build-records (embedded): the sealed builds read at start', () => {
  it('a record that cannot be read (cut by a crash, or not an object) counts as none; the others are listed', async () => {
    const dir = await makeTempDir('records-');
    const location = { artifactsDir: dir, tokensDir: path.join(dir, 'tokens'), databaseUrl: null };
    const first = await openStores(location, { logger: pino({ level: 'silent' }) });
    try {
      await first.builds.put(['dpkg', 'ok', '1'], { sealed: { sealedAt: '2026-12-01T00:00:00.000Z', files: 1, bytes: 1 } });
      await first.builds.put(['dpkg', 'cut', '1'], { sealed: { sealedAt: '2026-12-01T00:00:01.000Z', files: 1, bytes: 1 } });
    } finally {
      await first.close();
    }
    await writeFile(path.join(dir, '.builds', 'dpkg', 'cut', '1.json'), '{"sealed": {"seal');
    await writeFile(path.join(dir, '.builds', 'dpkg', 'cut', '2.json'), 'null');
    const again = await openStores(location, { logger: pino({ level: 'silent' }) });
    try {
      expect((await again.builds.sealedBuilds({ limit: 10 })).map((e) => e.build.join('/'))).to.deep.equal(['dpkg/ok/1']);
    } finally {
      await again.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
