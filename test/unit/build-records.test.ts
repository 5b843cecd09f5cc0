// The embedded build records' list of sealed builds, read back from files as a restart does.
import { expect } from 'chai';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { makeTempDir, until } from '../helpers/harness.js';
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

  it('a start reads the snapshot and the records changed since it, not every record; a cut snapshot means reading them all', async () => {
    const dir = await makeTempDir('records-');
    const location = { artifactsDir: dir, tokensDir: path.join(dir, 'tokens'), databaseUrl: null };
    const open = () => openStores(location, { logger: pino({ level: 'silent' }) });
    const sealed = (second: number) => ({ sealed: { sealedAt: `2026-12-01T00:00:${String(second).padStart(2, '0')}.000Z`, files: 1, bytes: 1 } });
    const names = async (stores: Awaited<ReturnType<typeof open>>): Promise<string[]> => (await stores.builds.sealedBuilds({ limit: 10 })).map((e) => e.build.join('/'));
    try {
      const first = await open();
      await first.builds.put(['dpkg', 'a', '1'], sealed(1));
      await first.builds.put(['dpkg', 'a', '2'], sealed(2));
      expect(await names(first)).to.deep.equal(['dpkg/a/2', 'dpkg/a/1']); // read in full, then a snapshot is written
      await until('the snapshot', async () => (await readFile(path.join(dir, '.builds', '.sealed-index.json'), 'utf8').catch(() => '')).includes('dpkg'));
      // After the snapshot: one more sealed, one deleted by retention, one open with a revision.
      await first.builds.put(['dpkg', 'a', '3'], sealed(3));
      await first.builds.put(['dpkg', 'a', '1'], { ...sealed(1), retired: { at: 'x', by: 'retention' } });
      await first.builds.put(['dpkg', 'a', '4'], { meta: { source: { revision: 'abcdef0123' } } });
      await first.close();
      // A record removed behind the store's back: the snapshot (not a scan) still lists it.
      await rm(path.join(dir, '.builds', 'dpkg', 'a', '2.json'));
      const second = await open();
      expect(await names(second)).to.deep.equal(['dpkg/a/3', 'dpkg/a/2']);
      expect(await second.builds.openBuildsOf('abcdef0', 10)).to.deep.equal([['dpkg', 'a', '4']]);
      await second.close();
      // (the snapshot the second start began, of what it read, is in place)
      await until('the second snapshot', async () => (await readFile(path.join(dir, '.builds', '.sealed-index.json'), 'utf8').catch(() => '')).includes('"3"'));
      // A snapshot cut short: every record is read, and the truth returns.
      await writeFile(path.join(dir, '.builds', '.sealed-index.json'), '{"version":1,"sealed":[');
      const third = await open();
      expect(await names(third)).to.deep.equal(['dpkg/a/3']);
      await third.close();
      // An admin command on the stopped server (retention, say) writes without reading the
      // index: the next start still sees it.
      await until('the third snapshot', async () => !(await readFile(path.join(dir, '.builds', '.sealed-index.json'), 'utf8').catch(() => '')).includes('"2"'));
      const admin = await open();
      await admin.builds.put(['dpkg', 'a', '3'], { ...sealed(3), retired: { at: 'y', by: 'retention' } });
      await admin.close();
      const fourth = await open();
      expect(await names(fourth)).to.deep.equal([]);
      await fourth.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
