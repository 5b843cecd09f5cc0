// One suite over both homes of the projects' apt indexes (issue 32): files on the artifacts
// volume (AptIndexFiles) and rows in PostgreSQL (PgAptIndexes, a real server from Debian's
// package, started by the test). What the seal's refresh relies on (services/packages.ts):
// files written whole and read back with their time, by-hash copies written once and kept
// an hour after they stop being listed, an architecture's named indexes removed, and the
// architectures' folders listed.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { makeTempDir } from '../helpers/harness.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import type { AptIndexStore } from '../../server/domain/stores.js';
import { AptIndexFiles } from '../../server/storage/apt-index-files.js';
import { IncomingFiles } from '../../server/storage/incoming.js';
import { Database } from '../../server/storage/pg/database.js';
import { PgAptIndexes } from '../../server/storage/pg/apt-indexes.js';

interface Opened {
  store: AptIndexStore;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  setup?(ctx: Mocha.Context): Promise<void>;
  teardown?(): Promise<void>;
  open(): Promise<Opened>;
}

const files: Backend = {
  name: 'files',
  async open() {
    const dir = await makeTempDir('apt-indexes-');
    const incoming = new IncomingFiles(dir, null);
    await incoming.ensure();
    return { store: new AptIndexFiles(dir, incoming), close: () => rm(dir, { recursive: true, force: true }) };
  },
};

let server: Postgres | null = null;
const postgres: Backend = {
  name: 'PostgreSQL',
  async setup(ctx) {
    // Under CI, a missing PostgreSQL fails the suite (never a skip).
    server = await requirePostgres(ctx);
  },
  async teardown() {
    await server?.remove();
    server = null;
  },
  async open() {
    const db = await Database.open(await freshDatabase(server as Postgres));
    return { store: new PgAptIndexes(db), close: () => db.close() };
  },
};

const P = ['dpkg', 'app'];
const AMD64 = 'dists/stable/main/binary-amd64';
const ARM64 = 'dists/stable/main/binary-arm64';
// Whole seconds: a file's time goes through utimes and stat, which need not keep every millisecond.
const T0 = new Date('2025-01-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const HOUR = 3_600_000;
const sha = (c: string): string => c.repeat(64);

async function text(store: AptIndexStore, project: readonly string[], relative: string): Promise<string | null> {
  return (await store.read(project, relative))?.body.toString() ?? null;
}

for (const backend of [files, postgres]) {
  describe(`apt index store conformance: ${backend.name}`, function () {
    this.timeout(60_000);
    let opened: Opened;
    let store: AptIndexStore;

    before(async function () {
      this.timeout(180_000);
      await backend.setup?.(this);
    });
    after(async () => {
      await backend.teardown?.();
    });
    beforeEach(async () => {
      opened = await backend.open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened?.close();
    });

    it('reads back what was written whole, bytes and time, from a string or a buffer', async () => {
      const binary = Buffer.concat([Buffer.from([0, 255, 1, 254, 0]), randomBytes(256 * 1024)]);
      const t0 = Date.now();
      await store.replace(P, `${AMD64}/Packages.gz`, binary);
      await store.replace(P, 'dists/stable/Release', 'Origin: ünïcode\nSuite: stable\n');
      const t1 = Date.now();
      const gz = await store.read(P, `${AMD64}/Packages.gz`);
      expect(gz).to.not.equal(null);
      expect(Buffer.isBuffer(gz?.body)).to.equal(true);
      expect(gz?.body.equals(binary)).to.equal(true);
      expect(gz?.mtime).to.be.instanceOf(Date);
      // The time of the write (a file system's clock may lag a little).
      expect(gz?.mtime.getTime()).to.be.within(t0 - 1_000, t1 + 1_000);
      const release = await store.read(P, 'dists/stable/Release');
      expect(release?.body.equals(Buffer.from('Origin: ünïcode\nSuite: stable\n'))).to.equal(true);
      expect(release?.mtime.getTime()).to.be.within(t0 - 1_000, t1 + 1_000);
    });

    it('replaces a file whole: the new bytes, shorter or longer, and a new time', async () => {
      await store.replace(P, 'dists/stable/InRelease', 'a much longer first version of the file');
      await store.keepByHash(P, AMD64, sha('a'), Buffer.from('copy'), T0);
      await store.replace(P, `${AMD64}/by-hash/SHA256/${sha('a')}`, 'copy');
      expect((await store.read(P, `${AMD64}/by-hash/SHA256/${sha('a')}`))?.mtime.getTime()).to.be.greaterThan(T0.getTime());
      await store.replace(P, 'dists/stable/InRelease', 'short');
      expect(await text(store, P, 'dists/stable/InRelease')).to.equal('short');
      await store.replace(P, 'dists/stable/InRelease', Buffer.from('longer than short again'));
      expect(await text(store, P, 'dists/stable/InRelease')).to.equal('longer than short again');
      await store.replace(P, 'dists/stable/InRelease', '');
      expect(await text(store, P, 'dists/stable/InRelease')).to.equal('');
    });

    it('keeps each project apart', async () => {
      await store.replace(P, 'dists/stable/Release', 'app');
      await store.replace(['dpkg', 'app2'], 'dists/stable/Release', 'app2');
      await store.replace(['pypi', 'app'], 'dists/stable/Release', 'pypi');
      expect(await text(store, P, 'dists/stable/Release')).to.equal('app');
      expect(await text(store, ['dpkg', 'app2'], 'dists/stable/Release')).to.equal('app2');
      expect(await text(store, ['pypi', 'app'], 'dists/stable/Release')).to.equal('pypi');
      expect(await store.read(['dpkg', 'ap'], 'dists/stable/Release')).to.equal(null);
    });

    it('answers null for a file that is not there, a folder, or a project that has nothing', async () => {
      await store.replace(P, `${AMD64}/Packages`, 'Package: a\n');
      expect(await store.read(P, `${AMD64}/Packages.gz`)).to.equal(null);
      expect(await store.read(P, AMD64)).to.equal(null);
      expect(await store.read(P, 'dists/stable')).to.equal(null);
      expect(await store.read(P, `${AMD64}/Packages/more`)).to.equal(null);
      expect(await store.read(['dpkg', 'nothing'], 'dists/stable/Release')).to.equal(null);
    });

    it('writes a by-hash copy once, and sets its time every time it is kept', async () => {
      const name = `${AMD64}/by-hash/SHA256/${sha('a')}`;
      await store.keepByHash(P, AMD64, sha('a'), Buffer.from('first bytes'), T0);
      let kept = await store.read(P, name);
      expect(kept?.body.toString()).to.equal('first bytes');
      expect(kept?.mtime.getTime()).to.equal(T0.getTime());
      // Named by its SHA-256: a copy that is there keeps its bytes; only its time moves (either way).
      await store.keepByHash(P, AMD64, sha('a'), Buffer.from('other bytes'), at(2 * HOUR));
      kept = await store.read(P, name);
      expect(kept?.body.toString()).to.equal('first bytes');
      expect(kept?.mtime.getTime()).to.equal(at(2 * HOUR).getTime());
      await store.keepByHash(P, AMD64, sha('a'), Buffer.from('first bytes'), at(HOUR));
      expect((await store.read(P, name))?.mtime.getTime()).to.equal(at(HOUR).getTime());
    });

    it('touches a by-hash copy that is there, and creates none that is not', async () => {
      await store.keepByHash(P, AMD64, sha('a'), Buffer.from('a'), T0);
      await store.touchByHash(P, AMD64, sha('a'), at(3 * HOUR));
      const touched = await store.read(P, `${AMD64}/by-hash/SHA256/${sha('a')}`);
      expect(touched?.body.toString()).to.equal('a');
      expect(touched?.mtime.getTime()).to.equal(at(3 * HOUR).getTime());
      await store.touchByHash(P, AMD64, sha('b'), at(3 * HOUR));
      await store.touchByHash(['dpkg', 'nothing'], AMD64, sha('a'), at(3 * HOUR));
      expect(await store.read(P, `${AMD64}/by-hash/SHA256/${sha('b')}`)).to.equal(null);
      expect(await store.read(['dpkg', 'nothing'], `${AMD64}/by-hash/SHA256/${sha('a')}`)).to.equal(null);
    });

    it('sweeps the by-hash copies of one folder that are neither listed nor recent, and says how many', async () => {
      // A project and folders with LIKE's wildcards in their names: no neighbour matches them.
      const project = ['dpkg', 'my_app%'];
      const dir = 'dists/stable/main/binary-x_64';
      const neighbour = 'dists/stable/main/binary-xy64';
      for (const c of ['a', 'b', 'c', 'd', 'e']) await store.keepByHash(project, dir, sha(c), Buffer.from(c), T0);
      await store.keepByHash(project, neighbour, sha('b'), Buffer.from('b'), T0);
      await store.keepByHash(['dpkg', 'myXapp%'], dir, sha('b'), Buffer.from('b'), T0);
      await store.replace(project, `${dir}/Packages`, 'old named index');
      // c stopped being listed half an hour ago; e was listed again since.
      await store.touchByHash(project, dir, sha('c'), at(90 * 60_000));
      await store.keepByHash(project, dir, sha('e'), Buffer.from('e'), at(2 * HOUR - 1_000));
      const removed = await store.sweepByHash(project, dir, new Set([sha('a')]), at(HOUR).getTime());
      expect(removed).to.equal(2);
      const left = async (p: readonly string[], d: string, c: string): Promise<boolean> => (await store.read(p, `${d}/by-hash/SHA256/${sha(c)}`)) !== null;
      expect(await left(project, dir, 'a'), 'listed').to.equal(true);
      expect(await left(project, dir, 'b'), 'old, unlisted').to.equal(false);
      expect(await left(project, dir, 'c'), 'recently unlisted').to.equal(true);
      expect(await left(project, dir, 'd'), 'old, unlisted').to.equal(false);
      expect(await left(project, dir, 'e'), 'listed again').to.equal(true);
      expect(await left(project, neighbour, 'b'), 'another folder').to.equal(true);
      expect(await left(['dpkg', 'myXapp%'], dir, 'b'), 'another project').to.equal(true);
      expect(await text(store, project, `${dir}/Packages`)).to.equal('old named index');
      // Exactly at the limit is not before it; nothing left to sweep is 0; nor does a folder that is not there fail.
      expect(await store.sweepByHash(project, dir, new Set([sha('a'), sha('e')]), at(90 * 60_000).getTime())).to.equal(0);
      expect(await left(project, dir, 'c')).to.equal(true);
      expect(await store.sweepByHash(project, dir, new Set([sha('e')]), at(90 * 60_000 + 1).getTime())).to.equal(2);
      expect(await left(project, dir, 'a')).to.equal(false);
      expect(await left(project, dir, 'c')).to.equal(false);
      expect(await left(project, dir, 'e')).to.equal(true);
      expect(await store.sweepByHash(project, 'dists/stable/main/binary-none', new Set(), at(10 * HOUR).getTime())).to.equal(0);
    });

    it("removes an architecture's named indexes, and only those", async () => {
      await store.replace(P, `${ARM64}/Packages`, 'p');
      await store.replace(P, `${ARM64}/Packages.gz`, 'gz');
      await store.keepByHash(P, ARM64, sha('a'), Buffer.from('a'), T0);
      await store.replace(P, `${AMD64}/Packages`, 'amd64');
      await store.replace(['dpkg', 'other'], `${ARM64}/Packages`, 'other');
      await store.removeNamed(P, ARM64, ['Packages', 'Packages.gz', 'Sources']);
      expect(await store.read(P, `${ARM64}/Packages`)).to.equal(null);
      expect(await store.read(P, `${ARM64}/Packages.gz`)).to.equal(null);
      expect(await text(store, P, `${ARM64}/by-hash/SHA256/${sha('a')}`)).to.equal('a');
      expect(await text(store, P, `${AMD64}/Packages`)).to.equal('amd64');
      expect(await text(store, ['dpkg', 'other'], `${ARM64}/Packages`)).to.equal('other');
      await store.removeNamed(P, ARM64, ['Packages']);
      await store.removeNamed(P, ARM64, []);
    });

    it('lists the folders directly below a folder, never its files', async () => {
      await store.replace(P, 'dists/stable/Release', 'r');
      await store.replace(P, 'dists/stable/main/Contents-all', 'file beside the architectures');
      await store.replace(P, `${AMD64}/Packages`, 'p');
      await store.replace(P, `${AMD64}/Packages.gz`, 'gz');
      await store.keepByHash(P, AMD64, sha('a'), Buffer.from('a'), T0);
      await store.keepByHash(P, ARM64, sha('b'), Buffer.from('b'), T0);
      await store.replace(P, 'dists/stable/main/binary-all/Packages', 'all');
      await store.replace(P, 'dists/latest/main/binary-amd64/Packages', 'latest');
      await store.replace(['dpkg', 'other'], 'dists/stable/main/binary-i386/Packages', 'other');
      await store.replace(P, 'state', 'x');
      const below = async (relative: string): Promise<string[]> => (await store.directoriesBelow(P, relative)).sort();
      expect(await below('dists/stable/main')).to.deep.equal(['binary-all', 'binary-amd64', 'binary-arm64']);
      expect(await below('dists/stable')).to.deep.equal(['main']);
      expect(await below('dists')).to.deep.equal(['latest', 'stable']);
      expect(await below(AMD64)).to.deep.equal(['by-hash']);
      expect(await below(`${AMD64}/by-hash/SHA256`)).to.deep.equal([]);
      expect(await below('dists/unstable/main')).to.deep.equal([]);
      expect(await below('dists/stable/Release')).to.deep.equal([]);
      expect(await below('dists/stable/mai')).to.deep.equal([]);
      expect(await store.directoriesBelow(['dpkg', 'nothing'], 'dists/stable/main')).to.deep.equal([]);
    });
  });
}
