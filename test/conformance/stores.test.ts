// One suite over every implementation of the store interfaces (the way distribution runs
// one suite over each storage driver): the embedded default (files on the artifacts volume)
// and PostgreSQL (a real server from Debian's package, started by the test). What one does,
// the other does.
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from '../helpers/harness.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import { MAX_LINE_BYTES, serialiseLine } from '../../server/domain/recording-lines.js';
import type { ArtifactTree, AuditTrail, AuthorityKeeper, BuildGuard, BuildRecords, FileRecord, InputLine, InputStore, LockStore, MirrorEntry, MirrorEntryStore, RecordingLimits, ResourceRecords, StoredProperty, TokenRecord, TokenRecords } from '../../server/domain/stores.js';
import { Database, DatabaseUnavailable, SCHEMA_VERSION } from '../../server/storage/pg/database.js';
import { PgInputRecords } from '../../server/storage/pg/input-records.js';
import { PgBuildGuard } from '../../server/storage/pg/build-guard.js';
import { LockManager } from '../../server/services/lock-manager.js';
import { PgChecksumIndex, PgResourceRecords } from '../../server/storage/pg/resource-records.js';
import { Catalog } from '../../server/services/catalog.js';
import { openStores, type Stores as OpenedStores } from '../../server/open-stores.js';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { httpErrorOf } from '../../server/http/errors.js';

interface Stores {
  mirror: MirrorEntryStore;
  inputs: InputStore;
  /** The recordings as two replicas see them (one process twice, embedded). */
  inputReplicas: [InputStore, InputStore];
  audit: AuditTrail;
  tokens: TokenRecords;
  authority: AuthorityKeeper;
  builds: BuildRecords;
  locks: LockStore;
  resources: ResourceRecords;
  /** Checksums of real files in a temporary tree, over `resources` and its checksum index. */
  catalog: Catalog;
  files: ArtifactTree;
  /** Two guards of one repository: two replicas with DATABASE_URL, one process twice otherwise. */
  guards: [BuildGuard, BuildGuard];
  close(): Promise<void>;
}

interface Backend {
  name: string;
  setup?(ctx: Mocha.Context): Promise<void>;
  teardown?(): Promise<void>;
  open(): Promise<Stores>;
}

// Quiet: what opening the stores would log (nothing, for fresh directories) is not under test here.
const quiet = { warn: () => undefined, error: () => undefined };

/** The suite's view of an opened set: `files` and the catalog over them, the rest as opened. */
function suiteStores(a: OpenedStores, b: OpenedStores, close: () => Promise<void>): Stores {
  return {
    mirror: a.mirror,
    inputs: a.inputs,
    inputReplicas: [a.inputs, b.inputs],
    audit: a.audit,
    tokens: a.tokens,
    authority: a.authority,
    builds: a.builds,
    locks: a.locks,
    resources: a.resources,
    // Another replica's view of the records, over this one's files (the same one, embedded).
    catalog: new Catalog(a.tree, b.resources, b.checksums),
    files: a.tree,
    guards: [a.guard, b.guard],
    close,
  };
}

// Both sets are opened as the server opens them (open-stores.ts), from where they are.
const embedded: Backend = {
  name: 'embedded (files)',
  async open() {
    const dir = await makeTempDir('stores-');
    const opened = await openStores({ artifactsDir: dir, tokensDir: path.join(dir, 'tokens'), databaseUrl: null }, { logger: quiet });
    return suiteStores(opened, opened, async () => {
      await opened.close();
      await rm(dir, { recursive: true, force: true });
    });
  },
};

let server: Postgres | null = null;

const postgres: Backend = {
  name: 'PostgreSQL',
  async setup(ctx) {
    server = await requirePostgres(ctx);
  },
  async teardown() {
    await server?.remove();
    server = null;
  },
  async open() {
    const dir = await makeTempDir('stores-');
    const location = { artifactsDir: dir, tokensDir: path.join(dir, 'tokens'), databaseUrl: await freshDatabase(server as Postgres) };
    // Two replicas of one repository, with short leases, so that a replica that stops
    // renewing is given up within the test.
    const a = await openStores(location, { logger: quiet, writeLeaseMs: 1_000 });
    const b = await openStores(location, { logger: quiet, writeLeaseMs: 1_000 });
    return suiteStores(a, b, async () => {
      await b.close();
      await a.close();
      await rm(dir, { recursive: true, force: true });
    });
  },
};

function entry(id: string, overrides: Partial<MirrorEntry> = {}): MirrorEntry {
  return {
    id,
    kind: 'file',
    url: `https://example.org/${id}.tar.gz`,
    image: null,
    declaredSha256: null,
    note: 'ünïcode note',
    declaredBy: 'master:ci',
    declaredAt: '2026-12-01T00:00:00.000Z',
    state: 'pending',
    reason: null,
    nextTryAt: null,
    attempts: 0,
    sha256: null,
    size: null,
    fetchedAt: null,
    parts: [],
    ...overrides,
  };
}

function miss(n: number, by = 'a'): InputLine {
  return { kind: 'miss', time: `2026-12-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`, method: 'GET', url: `https://example.org/${by}/${n}`, replayed: null };
}

const ROOMY: RecordingLimits = { maxLines: 1_000_000, maxBytes: 1024 ** 3 };

/** A build's whole recording, read as every reader reads it (a stream). */
async function readAll(store: InputStore, build: readonly string[], limits: RecordingLimits = ROOMY): Promise<InputLine[]> {
  const lines: InputLine[] = [];
  for await (const batch of store.scan(build, limits)) lines.push(...batch.map((scanned) => scanned.line));
  return lines;
}

for (const backend of [embedded, postgres]) {
  describe(`store conformance: ${backend.name}`, function () {
    this.timeout(60_000);
    let stores: Stores;

    before(async function () {
      await backend.setup?.(this);
    });
    after(async () => {
      await backend.teardown?.();
    });
    beforeEach(async () => {
      stores = await backend.open();
    });
    afterEach(async () => {
      await stores?.close();
    });

    describe('mirror entries', () => {
      it('starts empty, keeps what is saved whole, and replaces an entry by its id', async () => {
        expect(await stores.mirror.all()).to.deep.equal([]);
        const a = entry('a1');
        const b = entry('b2', { kind: 'image', url: null, image: `r.example/app@sha256:${'a'.repeat(64)}`, parts: [{ url: 'https://r.example/v2/app/blobs/x', sha256: 'b'.repeat(64), size: 3, contentType: 'application/octet-stream', digest: `sha256:${'b'.repeat(64)}` }] });
        await stores.mirror.save(a);
        await stores.mirror.save(b);
        const all = await stores.mirror.all();
        expect(all.sort((x, y) => x.id.localeCompare(y.id))).to.deep.equal([a, b]);
        const done = { ...a, state: 'ok' as const, sha256: 'c'.repeat(64), size: 10, fetchedAt: '2026-12-01T00:01:00.000Z' };
        await stores.mirror.save(done);
        expect((await stores.mirror.all()).find((e) => e.id === 'a1')).to.deep.equal(done);
        expect(await stores.mirror.all()).to.have.length(2);
      });

      it('notes the builds an entry answered: newest first, each once, at most 20, and never brings back a removed entry', async () => {
        await stores.mirror.save(entry('a1'));
        const before = await stores.mirror.generation();
        await stores.mirror.recordUse('a1', { build: '/dpkg/a/1/', at: '2026-12-01T00:00:01.000Z' });
        await stores.mirror.recordUse('a1', { build: '/dpkg/a/2/', at: '2026-12-01T00:00:02.000Z' });
        await stores.mirror.recordUse('a1', { build: '/dpkg/a/1/', at: '2026-12-01T00:00:03.000Z' });
        const used = (await stores.mirror.all())[0]?.usedBy;
        expect(used).to.deep.equal([
          { build: '/dpkg/a/1/', at: '2026-12-01T00:00:03.000Z' },
          { build: '/dpkg/a/2/', at: '2026-12-01T00:00:02.000Z' },
        ]);
        expect(await stores.mirror.generation()).to.be.greaterThan(before);
        for (let i = 0; i < 25; i++) await stores.mirror.recordUse('a1', { build: `/dpkg/b/${i}/`, at: '2026-12-01T00:01:00.000Z' });
        const kept = (await stores.mirror.all())[0]?.usedBy ?? [];
        expect(kept.map((u) => u.build)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `/dpkg/b/${24 - i}/`));
        await stores.mirror.remove('a1');
        await stores.mirror.recordUse('a1', { build: '/dpkg/c/1/', at: '2026-12-01T00:02:00.000Z' });
        expect(await stores.mirror.all()).to.deep.equal([]);
      });

      it('removes an entry, and removing one that is not there changes nothing', async () => {
        await stores.mirror.save(entry('a1'));
        await stores.mirror.save(entry('b2'));
        await stores.mirror.remove('a1');
        await stores.mirror.remove('nosuch');
        expect((await stores.mirror.all()).map((e) => e.id)).to.deep.equal(['b2']);
      });
    });

    describe('mirror generation', () => {
      it('moves with every save and removal', async () => {
        const g0 = await stores.mirror.generation();
        await stores.mirror.save(entry('a1'));
        const g1 = await stores.mirror.generation();
        expect(g1).to.not.equal(g0);
        await stores.mirror.remove('a1');
        expect(await stores.mirror.generation()).to.not.equal(g1);
      });
    });

    describe('build states', () => {
      const build = ['dpkg', 'hello', '42'];
      it('a build without a state has an empty record; put, update and an empty record remove it', async () => {
        expect(await stores.builds.get(build)).to.deep.equal({});
        const sealed = { sealedAt: '2026-12-01T00:00:00.000Z', files: 2, bytes: 10 };
        await stores.builds.put(build, { sealed });
        await stores.builds.update(build, (r) => ({ ...r, pin: { by: 'master:ci', at: '2026-12-01T00:00:01.000Z' } }));
        expect(await stores.builds.get(build)).to.deep.equal({ sealed, pin: { by: 'master:ci', at: '2026-12-01T00:00:01.000Z' } });
        expect(await stores.builds.all()).to.deep.equal([build]);
        expect(await stores.builds.entries()).to.deep.equal([{ build, record: { sealed, pin: { by: 'master:ci', at: '2026-12-01T00:00:01.000Z' } } }]);
        await stores.builds.put(build, {});
        expect(await stores.builds.get(build)).to.deep.equal({});
        expect(await stores.builds.all()).to.deep.equal([]);
      });

      it('lists sealed builds newest first, by filter and cursor, and keeps the list as records change', async () => {
        const at = (i: number): string => `2026-12-01T00:00:${String(i).padStart(2, '0')}.000Z`;
        // Read once before the writes: an index read early must follow them.
        expect(await stores.builds.sealedBuilds({ limit: 10 })).to.deep.equal([]);
        const seal = (b: string[], i: number, meta?: { branch?: string; revision?: string }): Promise<void> =>
          stores.builds.put(b, { sealed: { sealedAt: at(i), files: i, bytes: i * 10, ...(i % 2 ? { signedBy: 'SHA256:k' } : {}) }, ...(meta ? { meta: { source: meta } } : {}) });
        await seal(['dpkg', 'hello', '1'], 1, { branch: 'main', revision: 'a'.repeat(40) });
        await seal(['dpkg', 'hello', '2'], 3, { branch: 'dev', revision: 'b'.repeat(40) });
        await seal(['dpkg', 'other', '1'], 2);
        await seal(['exe', 'hello', '9'], 3, { branch: 'main' });
        await stores.builds.put(['dpkg', 'hello', '3'], { pin: { by: 'm', at: at(9) } }); // open: never listed
        const names = (list: Array<{ build: string[] }>): string[] => list.map((e) => e.build.join('/'));
        expect(names(await stores.builds.sealedBuilds({ limit: 10 }))).to.deep.equal(['exe/hello/9', 'dpkg/hello/2', 'dpkg/other/1', 'dpkg/hello/1']);
        expect(await stores.builds.sealedBuilds({ limit: 1, type: 'dpkg', project: 'hello', branch: 'main' })).to.deep.equal([
          { build: ['dpkg', 'hello', '1'], sealedAt: at(1), files: 1, bytes: 10, signed: true, branch: 'main', revision: 'a'.repeat(40) },
        ]);
        expect(names(await stores.builds.sealedBuilds({ limit: 10, revision: 'bbbbbbb' }))).to.deep.equal(['dpkg/hello/2']);
        expect(names(await stores.builds.sealedBuilds({ limit: 10, revision: 'bbbbbb' }))).to.deep.equal([]);
        expect(names(await stores.builds.sealedBuilds({ limit: 10, revision: 'b'.repeat(40) }))).to.deep.equal(['dpkg/hello/2']);
        // A cursor continues after the last one given, even between two of the same time.
        const first = await stores.builds.sealedBuilds({ limit: 1 });
        const last = first[0] as { build: string[]; sealedAt: string };
        expect(names(await stores.builds.sealedBuilds({ limit: 2, before: { sealedAt: last.sealedAt, scope: last.build.join('/') } }))).to.deep.equal(['dpkg/hello/2', 'dpkg/other/1']);
        // Removed (retention), it leaves the list; sealed again later, it moves to the top.
        await stores.builds.put(['exe', 'hello', '9'], { retired: { at: at(10), by: 'retention' } });
        await seal(['dpkg', 'other', '1'], 20);
        expect(names(await stores.builds.sealedBuilds({ limit: 10 }))).to.deep.equal(['dpkg/other/1', 'dpkg/hello/2', 'dpkg/hello/1']);
      });

      it('keeps only the fields of a build record', async () => {
        await stores.builds.put(build, { sealPending: { since: '2026-12-01T00:00:00.000Z', reason: null }, ...({ extra: 'x' } as object) });
        expect(await stores.builds.get(build)).to.deep.equal({ sealPending: { since: '2026-12-01T00:00:00.000Z', reason: null } });
      });
    });

    describe('WebDAV locks', () => {
      const fields = { root: ['t', 'p', '1', 'f'], rootIsCollection: false, depth: '0' as const, scope: 'exclusive' as const, ownerXml: '<D:owner xmlns:D="DAV:">ü</D:owner>', principal: 'tok_1', timeoutSeconds: 600 };
      it('keeps locks by build and by token, replaces on refresh, removes by token', async () => {
        const manager = new LockManager(stores.locks);
        const lock = await manager.create(fields);
        await manager.create({ ...fields, root: ['t', 'p', '2', 'g'] });
        await manager.create({ ...fields, root: ['t', 'p2', '1', 'h'] });
        expect(await stores.locks.byToken(lock.token)).to.deep.equal(lock);
        expect(await stores.locks.read('t/p/1')).to.deep.equal([lock]);
        // Above build level: the builds below that path only ("t/p/" is not "t/p2/").
        expect(await stores.locks.read('t/p/', true)).to.have.length(2);
        expect(await stores.locks.read('', true)).to.have.length(3);
        const refreshed = await manager.refresh(lock, 60);
        expect(await stores.locks.read('t/p/1')).to.deep.equal([refreshed]);
        await stores.locks.remove([lock.token, 'urn:uuid:nosuch']);
        expect(await stores.locks.read('t/p/1')).to.deep.equal([]);
        // A refresh of a lock that went brings nothing back.
        expect(await manager.refresh(lock, 60)).to.equal(null);
        expect(await stores.locks.read('t/p/1')).to.deep.equal([]);
        expect(await stores.locks.byToken(lock.token)).to.equal(undefined);
      });

      it('two LOCKs of one resource at once: exactly one is taken', async () => {
        const managers = [new LockManager(stores.locks), new LockManager(stores.locks)];
        const results = await Promise.allSettled(
          managers.map((m) =>
            m.create(fields, (view) => {
              if (view.conflicts(fields.root, 'exclusive', '0').length > 0) throw new Error('locked');
            }),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
        expect(await stores.locks.read('t/p/1')).to.have.length(1);
      });
    });

    describe('checksum records and dead properties', () => {
      // Siblings whose names sort next to "b" (".", "-", "0" is the character after "/"),
      // and characters that mean something to SQL's LIKE.
      const names = ['b', 'b.x', 'b-c', 'b0', 'bc', '100%_ü'];
      const at = (...rest: string[]): string[] => ['t', 'p', '1', ...rest];
      const record = (n: number): FileRecord => ({ sha256: createHash('sha256').update(String(n)).digest('hex'), size: n * 1000 + 7, mtimeMs: 1733000000123.4567 + n, ino: 2 ** 40 + n });
      const props = (v: string): StoredProperty[] => [
        { ns: 'urn:x', local: 'z', valueXml: `<z xmlns="urn:x">${v}</z>`, lang: 'fr' },
        { ns: 'urn:x', local: 'a', valueXml: '<a xmlns="urn:x">ü</a>' },
      ];
      async function fill(): Promise<void> {
        for (const [i, name] of names.entries()) {
          await stores.resources.setFileRecord(at(name), record(i));
          await stores.resources.setProperties(at(name), props(name));
        }
        await stores.resources.setFileRecord(at('b', 'in', 'deep'), record(50));
        await stores.resources.setProperties(at('b'), props('collection'));
      }
      async function snapshot(): Promise<unknown[]> {
        const all: unknown[] = [];
        for (const segs of [...names.map((n) => at(n)), at('b', 'in', 'deep'), at('moved'), at('moved', 'in', 'deep'), at('copy'), at('copy', 'in', 'deep')]) {
          all.push([segs.join('/'), await stores.resources.fileRecord(segs), await stores.resources.properties(segs)]);
        }
        return all;
      }

      it('none at first; a record and properties are kept exactly, apart, and a record is undone to the one before', async () => {
        expect(await stores.resources.fileRecord(at('f'))).to.equal(null);
        expect(await stores.resources.properties(at('f'))).to.deep.equal([]);
        const first = await stores.resources.setFileRecord(at('f'), record(1));
        await stores.resources.setProperties(at('f'), props('v'));
        expect(await stores.resources.fileRecord(at('f'))).to.deep.equal(record(1));
        expect(await stores.resources.properties(at('f'))).to.deep.equal(props('v'));
        const second = await stores.resources.setFileRecord(at('f'), record(2));
        expect(await stores.resources.fileRecord(at('f'))).to.deep.equal(record(2));
        await second.restore();
        expect(await stores.resources.fileRecord(at('f'))).to.deep.equal(record(1));
        expect(await stores.resources.properties(at('f'))).to.deep.equal(props('v'));
        await first.restore();
        expect(await stores.resources.fileRecord(at('f'))).to.equal(null);
        await stores.resources.setProperties(at('f'), []);
        expect(await stores.resources.properties(at('f'))).to.deep.equal([]);
        // The root has properties of its own.
        await stores.resources.setProperties([], props('root'));
        expect(await stores.resources.properties([])).to.deep.equal(props('root'));
      });

      it("set aside: a collection's metadata and its members' go, siblings stay; restored over what came since, or dropped", async () => {
        await fill();
        const before = await snapshot();
        const aside = await stores.resources.setAside(at('b'));
        expect(await stores.resources.fileRecord(at('b'))).to.equal(null);
        expect(await stores.resources.properties(at('b'))).to.deep.equal([]);
        expect(await stores.resources.fileRecord(at('b', 'in', 'deep'))).to.equal(null);
        for (const [i, name] of names.slice(1).entries()) expect(await stores.resources.fileRecord(at(name))).to.deep.equal(record(i + 1));
        await stores.resources.setFileRecord(at('b', 'in', 'deep'), record(99));
        await aside.restore();
        expect(await snapshot()).to.deep.equal(before);
        await (await stores.resources.setAside(at('b'))).drop();
        expect(await stores.resources.fileRecord(at('b', 'in', 'deep'))).to.equal(null);
        expect(await stores.resources.fileRecordsUnder(at())).to.have.length(names.length - 1);
        await stores.resources.remove(at());
        expect(await stores.resources.fileRecordsUnder([])).to.deep.equal([]);
      });

      it('move and copy carry members along, replace the target, and are undone exactly', async () => {
        await fill();
        await stores.resources.setFileRecord(at('moved'), record(70));
        const before = await snapshot();
        const move = await stores.resources.move(at('b'), at('moved'));
        expect(await stores.resources.fileRecord(at('moved'))).to.deep.equal(record(0));
        expect(await stores.resources.properties(at('moved'))).to.deep.equal(props('collection'));
        expect(await stores.resources.fileRecord(at('moved', 'in', 'deep'))).to.deep.equal(record(50));
        expect(await stores.resources.fileRecord(at('b'))).to.equal(null);
        expect(await stores.resources.fileRecord(at('b0'))).to.deep.equal(record(3));
        await move.restore();
        expect(await snapshot()).to.deep.equal(before);

        const shallow = await stores.resources.copy(at('b'), at('copy'), false);
        expect(await stores.resources.fileRecord(at('copy'))).to.deep.equal(record(0));
        expect(await stores.resources.fileRecord(at('copy', 'in', 'deep'))).to.equal(null);
        await shallow.restore();
        expect(await snapshot()).to.deep.equal(before);
        const deep = await stores.resources.copy(at('b'), at('copy'), true);
        expect(await stores.resources.fileRecord(at('copy', 'in', 'deep'))).to.deep.equal(record(50));
        expect(await stores.resources.fileRecord(at('b', 'in', 'deep'))).to.deep.equal(record(50));
        await deep.drop();
        const under = (await stores.resources.fileRecordsUnder(at('copy'))).sort((x, y) => x[0].join('/').localeCompare(y[0].join('/')));
        expect(under).to.deep.equal([[['in', 'deep'], record(50)]]);
      });

      it('search by checksum finds the files that have it now: not a replaced, moved-away or removed one', async () => {
        const body = (text: string): Readable => Readable.from([Buffer.from(text)]);
        const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
        await stores.catalog.storeFile(at('one'), body('same'));
        await stores.catalog.storeFile(at('two'), body('same'));
        await stores.catalog.storeFile(at('three'), body('other'));
        const found = async (text: string): Promise<string[]> => (await stores.catalog.search(sha(text))).hits.map((h) => h.path).sort();
        expect(await found('same')).to.deep.equal(['/t/p/1/one', '/t/p/1/two']);
        await stores.catalog.storeFile(at('two'), body('changed'));
        expect(await found('same')).to.deep.equal(['/t/p/1/one']);
        expect(await found('changed')).to.deep.equal(['/t/p/1/two']);
        const stats = await stores.files.stat(at('one'));
        expect(await stores.catalog.checksumOf(at('one'), stats as NonNullable<typeof stats>)).to.equal(sha('same'));
        await stores.files.remove(at('three'));
        expect(await found('other')).to.deep.equal([]);
      });
    });

    describe('build guard', () => {
      it('runs work for one build one at a time, across both guards', async () => {
        let inside = 0;
        let most = 0;
        const work = async (): Promise<void> => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 20));
          inside--;
        };
        await Promise.all([0, 1, 2, 3].map((i) => stores.guards[i % 2]?.exclusive('/dpkg/x/1/', work)));
        expect(most).to.equal(1);
      });

      // What Builds asks: is the build's record still open?
      const open = (scope: string) => async (): Promise<boolean> => {
        const record = await stores.builds.get(scope.split('/').filter(Boolean));
        return !record.sealed && !record.sealPending;
      };

      it('admits a write while the build is open, refuses it once its state closes it, and a refused write does not count', async () => {
        const [a, b] = stores.guards;
        const end = await a.beginWrite('/dpkg/x/3/', open('/dpkg/x/3/'));
        expect(end).to.be.a('function');
        await end?.();
        await stores.builds.put(['dpkg', 'x', '3'], { sealPending: { since: '2026-12-01T00:00:00.000Z', reason: null } });
        expect(await b.beginWrite('/dpkg/x/3/', open('/dpkg/x/3/'))).to.equal(null);
        expect(a.writingHere('/dpkg/x/3/') || b.writingHere('/dpkg/x/3/')).to.equal(false);
        // Nothing in flight: a drain returns at once.
        await a.drainWrites('/dpkg/x/3/', 60_000);
      });

      it('a write admitted as the seal is recorded is waited for; one admitted after is refused (100 races)', async () => {
        const [a, b] = stores.guards;
        // All at once, so that the database interleaves them as much as it can.
        await Promise.all(Array.from({ length: 100 }, async (_, i) => {
          const scope = `/dpkg/race/${i}/`;
          const build = ['dpkg', 'race', String(i)];
          let landedAfterSeal = false;
          let sealed = false;
          const writer = (async () => {
            const end = await b.beginWrite(scope, open(scope));
            if (!end) return;
            await new Promise((r) => setImmediate(r));
            if (sealed) landedAfterSeal = true;
            await end();
          })();
          const sealer = (async () => {
            await stores.builds.put(build, { sealPending: { since: '2026-12-01T00:00:00.000Z', reason: null } });
            await a.drainWrites(scope, 60_000);
            sealed = true;
          })();
          await Promise.all([writer, sealer]);
          expect(landedAfterSeal, `race ${i}`).to.equal(false);
        }));
      });

      it('a drain waits for a write on the other guard, then returns once it ends', async () => {
        const [a, b] = stores.guards;
        const end = (await b.beginWrite('/dpkg/x/1/', async () => true)) as () => Promise<void>;
        let drained = false;
        const draining = a.drainWrites('/dpkg/x/1/', 60_000).then(() => (drained = true));
        await new Promise((r) => setTimeout(r, 200));
        expect(drained).to.equal(false);
        await end();
        await draining;
        expect(drained).to.equal(true);
      });

      it('after the grace, a drain cuts the writes still running', async () => {
        const [a, b] = stores.guards;
        let cut = false;
        let end: () => Promise<void> = async () => undefined;
        end = (await b.beginWrite('/dpkg/x/2/', async () => true, () => {
          cut = true;
          void end();
        })) as () => Promise<void>;
        await a.drainWrites('/dpkg/x/2/', 100);
        expect(cut).to.equal(true);
      });
    });

    describe('tokens and masters', () => {
      const HOUR = 3600_000;
      const base = Date.parse('2026-12-01T12:00:00Z');
      const token = (id: string, expiresIn = HOUR): TokenRecord => ({
        id,
        username: id,
        hash: `$argon2id$v=19$m=19456,t=2,p=1$${id}`,
        scope: '/dpkg/hello/1/',
        created_by: 'ci',
        created_at: new Date(base).toISOString().replace('.000Z', 'Z'),
        expires_at: new Date(base + expiresIn).toISOString().replace('.000Z', 'Z'),
        revoked_at: null,
        revoked_by: null,
        proxy: 'record',
        replay: null,
      });

      it('adds a master once, replaces its password, and removes any but the last', async () => {
        const ci = { name: 'ci', hash: 'h1', created_at: '2026-12-01T00:00:00Z' };
        expect(await stores.tokens.masters()).to.deep.equal([]);
        expect(await stores.tokens.addMaster(ci)).to.equal(true);
        expect(await stores.tokens.addMaster({ ...ci, hash: 'other' })).to.equal(false);
        expect(await stores.tokens.master('ci')).to.deep.equal(ci);
        await stores.tokens.putMaster({ ...ci, hash: 'h2' });
        expect((await stores.tokens.master('ci'))?.hash).to.equal('h2');
        expect(await stores.tokens.removeMaster('ci', '2026-12-01T01:00:00Z')).to.equal('last');
        expect(await stores.tokens.removeMaster('nobody', '2026-12-01T01:00:00Z')).to.equal('unknown');
        await stores.tokens.addMaster({ name: 'ci2', hash: 'h3', created_at: '2026-12-01T00:00:00Z' });
        expect(await stores.tokens.removeMaster('ci', '2026-12-01T01:00:00Z')).to.equal('removed');
        expect(await stores.tokens.wasRemoved('ci')).to.equal(true);
        expect((await stores.tokens.masters()).map((m) => m.name)).to.deep.equal(['ci2']);
        expect(await stores.tokens.addMaster(ci)).to.equal(true);
        expect(await stores.tokens.wasRemoved('ci')).to.equal(false);
      });

      it('every master removed at once: all go but one, the last stays', async () => {
        const names = [...'abcdefgh'];
        for (const name of names) await stores.tokens.addMaster({ name, hash: 'h', created_at: '2026-12-01T00:00:00Z' });
        const results = await Promise.all(names.map((name) => stores.tokens.removeMaster(name, '2026-12-01T01:00:00Z')));
        expect(results.filter((r) => r === 'removed')).to.have.length(names.length - 1);
        expect(results.filter((r) => r === 'last')).to.have.length(1);
        expect(await stores.tokens.masters()).to.have.length(1);
      });

      it('keeps a token whole; revoking it while live wins once and drops the hash', async () => {
        const t = token('tok1');
        await stores.tokens.insertToken(t);
        expect(await stores.tokens.token('tok1')).to.deep.equal(t);
        expect(await stores.tokens.token('nosuch')).to.equal(null);
        const revokes = await Promise.all([1, 2, 3, 4, 5].map(() => stores.tokens.endToken('tok1', base + 1000, { at: '2026-12-01T12:00:01Z', by: 'master:ci' })));
        const winners = revokes.filter((r) => r !== null);
        expect(winners).to.have.length(1);
        expect(winners[0]).to.deep.equal({ ...t, hash: null, revoked_at: '2026-12-01T12:00:01Z', revoked_by: 'master:ci' });
        expect(await stores.tokens.token('tok1')).to.deep.equal(winners[0]);
        expect(await stores.tokens.endToken('tok1', base + 2000, null)).to.equal(null);
      });

      it('expires a token only once its time is past, and a revoke after that finds nothing to end', async () => {
        await stores.tokens.insertToken(token('tok2', 60_000));
        expect(await stores.tokens.endToken('tok2', base + 30_000, null), 'not yet expired').to.equal(null);
        expect(await stores.tokens.endToken('tok2', base + 61_000, { at: 'x', by: 'y' }), 'revoke after expiry').to.equal(null);
        const expired = await stores.tokens.endToken('tok2', base + 61_000, null);
        expect(expired).to.deep.include({ id: 'tok2', hash: null, revoked_at: null });
        await stores.tokens.insertToken(token('tok3'));
        await stores.tokens.insertToken({ ...token('tok4'), scope: '/dpkg/other/1/' });
        expect((await stores.tokens.tokens()).map((t) => t.id).sort()).to.deep.equal(['tok2', 'tok3', 'tok4']);
        expect((await stores.tokens.tokensOf('/dpkg/hello/1/')).map((t) => t.id).sort()).to.deep.equal(['tok2', 'tok3']);
        expect((await stores.tokens.tokensOf('/dpkg/other/1/')).map((t) => t.id)).to.deep.equal(['tok4']);
        await stores.tokens.forget(['tok4']);
        await stores.tokens.forget(['tok2']);
        expect((await stores.tokens.tokens()).map((t) => t.id)).to.deep.equal(['tok3']);
      });
    });

    describe("the build proxy's certificate authority", () => {
      it('none at first; the first saved is kept, a second is not', async () => {
        expect(await stores.authority.load()).to.equal(null);
        const first = { keyPem: '-----BEGIN PRIVATE KEY-----\nfirst\n-----END PRIVATE KEY-----\n', certPem: '-----BEGIN CERTIFICATE-----\nfirst\n-----END CERTIFICATE-----\n' };
        expect(await stores.authority.saveIfAbsent(first.keyPem, first.certPem)).to.deep.equal(first);
        expect(await stores.authority.saveIfAbsent('other key', 'other cert')).to.deep.equal(first);
        expect(await stores.authority.load()).to.deep.equal(first);
      });
    });

    describe('audit trail', () => {
      it('keeps a build\'s events in order with their time, pages them, and leaves out what is not audited', async () => {
        const before = Date.now();
        stores.audit.record({ event: 'build.pinned', build: '/dpkg/a/1/', by: 'master:ci' });
        stores.audit.record({ event: 'master.added', master: 'ci2', by: 'admin-cli' });
        stores.audit.record({ event: 'auth.failed', kind: 'token', throttled: false });
        stores.audit.record({ event: 'build.unpinned', build: '/dpkg/a/1/', by: 'master:ci' });
        stores.audit.record({ event: 'build.sealed', build: '/dpkg/b/1/', files: 2, bytes: 10 });
        stores.audit.record({ event: 'build.sealed', build: '/dpkg/a/1/', files: 3, bytes: 30 });
        const all = await stores.audit.forBuild('/dpkg/a/1/');
        expect(all.total).to.equal(3);
        expect(all.entries.map((e) => e.event)).to.deep.equal(['build.pinned', 'build.unpinned', 'build.sealed']);
        expect(all.entries[2]).to.deep.include({ build: '/dpkg/a/1/', files: 3, bytes: 30 });
        for (const e of all.entries) {
          expect(e.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
          expect(Date.parse(e.time)).to.be.within(before - 60_000, Date.now() + 60_000);
        }
        const second = await stores.audit.forBuild('/dpkg/a/1/', { offset: 1, limit: 1 });
        expect(second.total).to.equal(3);
        expect(second.entries.map((e) => e.event)).to.deep.equal(['build.unpinned']);
        expect((await stores.audit.forBuild('/dpkg/none/1/')).entries).to.deep.equal([]);
      });
    });

    describe('recorded inputs', () => {
      const A = ['dpkg', 'hello', '1'];
      const B = ['dpkg', 'hello', '2'];

      it('a build without a recording has no lines; lines come back in the order appended, per build', async () => {
        expect(await readAll(stores.inputs, A)).to.deep.equal([]);
        expect(await stores.inputs.totals(A)).to.deep.equal({ lines: 0, bytes: 0 });
        for (let n = 0; n < 5; n++) expect(await stores.inputs.append(A, miss(n), ROOMY)).to.equal('appended');
        await stores.inputs.append(B, miss(99), ROOMY);
        expect(await readAll(stores.inputs, A)).to.deep.equal([0, 1, 2, 3, 4].map((n) => miss(n)));
        expect(await readAll(stores.inputs, B)).to.deep.equal([miss(99)]);
        expect((await stores.inputs.all()).map((b) => b.join('/')).sort()).to.deep.equal(['dpkg/hello/1', 'dpkg/hello/2']);
        const bytes = [0, 1, 2, 3, 4].reduce((n, i) => n + Buffer.byteLength(serialiseLine(miss(i))), 0);
        expect(await stores.inputs.totals(A)).to.deep.equal({ lines: 5, bytes });
      });

      it('keeps every line of writers appending at once, each writer\'s in its order', async () => {
        const writers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
        await Promise.all(
          writers.map(async (w) => {
            for (let n = 0; n < 25; n++) await stores.inputs.append(A, miss(n, w), ROOMY);
          }),
        );
        const lines = await readAll(stores.inputs, A);
        expect(lines).to.have.length(writers.length * 25);
        for (const w of writers) {
          const mine = lines.filter((l) => l.url.includes(`/${w}/`)).map((l) => l.url);
          expect(mine).to.deep.equal([...Array(25).keys()].map((n) => `https://example.org/${w}/${n}`));
        }
      });

      it('refuses a line past the limit of lines or of bytes, also to writers racing for the last room, and writes nothing of it', async () => {
        const lines: RecordingLimits = { maxLines: 10, maxBytes: 1024 ** 2 };
        const outcomes = await Promise.all([...Array(40).keys()].map((n) => stores.inputs.append(A, miss(n), lines)));
        expect(outcomes.filter((o) => o === 'appended')).to.have.length(10);
        expect(await readAll(stores.inputs, A)).to.have.length(10);
        expect((await stores.inputs.totals(A)).lines).to.equal(10);
        const one = Buffer.byteLength(serialiseLine(miss(10, 'b')));
        const bytes: RecordingLimits = { maxLines: 1000, maxBytes: one * 3 + 1 };
        const byBytes = await Promise.all([...Array(12).keys()].map((n) => stores.inputs.append(B, miss(10 + n, 'b'), bytes)));
        expect(byBytes.filter((o) => o === 'appended')).to.have.length(3);
        expect(await stores.inputs.totals(B)).to.deep.equal({ lines: 3, bytes: one * 3 });
        expect(await stores.inputs.append(B, { ...miss(1), url: `https://example.org/${'x'.repeat(70 * 1024)}` }, ROOMY).catch((e: Error) => e.message)).to.match(/at most 65536 bytes/);
        expect((await stores.inputs.totals(B)).lines).to.equal(3);
      });

      it('holds room for exchanges in flight: reservations racing on two replicas never pass a limit, and every held line lands', async () => {
        const [one, two] = stores.inputReplicas;
        const limits: RecordingLimits = { maxLines: 20, maxBytes: 1024 ** 3 };
        const outcomes = await Promise.all([...Array(60).keys()].map((n) => (n % 2 ? one : two).reserve(A, limits)));
        expect(outcomes.filter((o) => o === null)).to.have.length(20);
        expect(outcomes.filter((o) => o !== null)).to.deep.equal(Array(40).fill('lines'));
        // Nothing is written yet, and nothing else fits beside what is held.
        expect((await one.totals(A)).lines).to.equal(0);
        expect(await one.append(A, miss(99), limits)).to.equal('full');
        // One is given back: room for one more.
        await two.unreserve(A);
        expect(await one.reserve(A, limits)).to.equal(null);
        await Promise.all([...Array(20).keys()].map((n) => (n % 2 ? one : two).appendReserved(A, miss(n))));
        expect(await one.totals(A)).to.deep.include({ lines: 20 });
        expect(await readAll(stores.inputs, A)).to.have.length(20);
        expect(await two.reserve(A, limits)).to.equal('lines');
        // Bytes: each held line counts as the largest a line may be.
        const bytes: RecordingLimits = { maxLines: 1000, maxBytes: 3 * MAX_LINE_BYTES };
        const byBytes = await Promise.all([...Array(10).keys()].map((n) => (n % 2 ? one : two).reserve(B, bytes)));
        expect(byBytes.filter((o) => o === null)).to.have.length(3);
        expect(byBytes.filter((o) => o === 'bytes')).to.have.length(7);
      });

      it('a scan stops at the limits it is given (a recording made under larger ones), and readAt finds each line it gave', async () => {
        for (let n = 0; n < 30; n++) await stores.inputs.append(A, miss(n), ROOMY);
        expect(await readAll(stores.inputs, A, { maxLines: 7, maxBytes: 1024 ** 2 })).to.deep.equal([...Array(7).keys()].map((n) => miss(n)));
        const first5 = [0, 1, 2, 3, 4].reduce((n, i) => n + Buffer.byteLength(serialiseLine(miss(i))), 0);
        expect(await readAll(stores.inputs, A, { maxLines: 100, maxBytes: first5 + 10 })).to.have.length(5);
        for await (const batch of stores.inputs.scan(A, ROOMY)) for (const { line, at } of batch) expect(await stores.inputs.readAt(A, at)).to.deep.equal(line);
        expect(await stores.inputs.readAt(['dpkg', 'hello', 'none'], 0)).to.equal(null);
      });

      it('removing a build\'s recording removes it alone, and its totals with it', async () => {
        await stores.inputs.append(A, miss(1), ROOMY);
        await stores.inputs.append(B, miss(2), ROOMY);
        await stores.inputs.remove(A);
        await stores.inputs.remove(['dpkg', 'hello', 'none']);
        expect(await readAll(stores.inputs, A)).to.deep.equal([]);
        expect(await stores.inputs.totals(A)).to.deep.equal({ lines: 0, bytes: 0 });
        expect(await readAll(stores.inputs, B)).to.deep.equal([miss(2)]);
        expect((await stores.inputs.all()).map((b) => b.join('/'))).to.deep.equal(['dpkg/hello/2']);
      });
    });
  });
}

describe('PostgreSQL: schema and outages', function () {
  this.timeout(120_000);
  let pg: Postgres;

  before(async function () {
    pg = await requirePostgres(this);
  });
  after(async () => {
    await pg?.remove();
  });

  it('replicas starting together create the schema once (an advisory lock), at the current version', async () => {
    const url = await freshDatabase(pg);
    const opened = await Promise.all([1, 2, 3, 4, 5].map(() => Database.open(url)));
    for (const db of opened) expect(await db.schemaVersion()).to.equal(SCHEMA_VERSION);
    const { rows } = await (opened[0] as Database).query<{ n: string }>('SELECT count(*) AS n FROM schema_version');
    expect(rows[0]?.n).to.equal('1');
    await Promise.all(opened.map((db) => db.close()));
  });

  it('a stopped server is "unavailable" (503), and the same pool works again once it is back', async () => {
    const db = await Database.open(await freshDatabase(pg));
    const inputs = new PgInputRecords(db);
    await inputs.append(['dpkg', 'x', '1'], miss(1), ROOMY);
    await pg.stop();
    try {
      const err = await readAll(inputs, ['dpkg', 'x', '1']).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(DatabaseUnavailable);
      expect(httpErrorOf(err).error.status).to.equal(503);
      expect(httpErrorOf(err).error.headers['Retry-After']).to.equal('5');
      expect((err as Error).message).to.equal('the database is unreachable; try again shortly');
    } finally {
      await pg.start();
    }
    expect(await readAll(inputs, ['dpkg', 'x', '1'])).to.deep.equal([miss(1)]);
    await db.close();
  });

  it('a write of a replica that died (no renewal) holds a seal up for one lease, no longer', async () => {
    const url = await freshDatabase(pg);
    const [one, two] = [await Database.open(url), await Database.open(url)];
    const dead = new PgBuildGuard(two, 'r-dead', 1_000);
    const alive = new PgBuildGuard(one, 'r-alive', 1_000);
    try {
      await dead.beginWrite('/dpkg/x/1/', async () => true);
      await dead.close();
      const started = Date.now();
      await alive.drainWrites('/dpkg/x/1/', 60_000);
      // Held while the lease ran (a drain that ignored the row would return at once), then given up.
      expect(Date.now() - started).to.be.at.least(500);
      const { rows } = await one.query('SELECT * FROM writes');
      expect(rows).to.deep.equal([]);
    } finally {
      await alive.close();
      await Promise.all([one.close(), two.close()]);
    }
  });

  it("what a replica that died had set aside is swept; a live replica's is kept and goes back", async () => {
    const db = await Database.open(await freshDatabase(pg));
    try {
      const [dead, live] = [new PgResourceRecords(db, 'r-dead'), new PgResourceRecords(db, 'r-live')];
      const record: FileRecord = { sha256: 'a'.repeat(64), size: 1, mtimeMs: 1, ino: 1 };
      await dead.setFileRecord(['t', 'p', '1', 'f'], record);
      await live.setFileRecord(['t', 'p', '2', 'f'], record);
      await dead.setAside(['t', 'p', '1']);
      const kept = await live.setAside(['t', 'p', '2']);
      // Nothing set aside is found by a search, whoever set it aside.
      expect((await new PgChecksumIndex(db).lookup('a'.repeat(64))).hrefs).to.deep.equal([]);
      expect(await live.sweepDeparted(new Set(['r-live']))).to.equal(1);
      await kept.restore();
      expect(await live.fileRecord(['t', 'p', '2', 'f'])).to.deep.equal(record);
      const { rows } = await db.query<{ path: string }>('SELECT path FROM resources ORDER BY path');
      expect(rows.map((r) => r.path)).to.deep.equal(['t/p/2/f']);
    } finally {
      await db.close();
    }
  });

  it('servers share the replica lock, migrate needs it alone; one leader at a time, taken back after a restart', async () => {
    const url = await freshDatabase(pg);
    const first = await Database.open(url);
    const second = await Database.open(url);
    try {
      expect(await first.replicaLock(true).take()).to.equal(true);
      expect(await second.replicaLock(true).take()).to.equal(true);
      // What migrate asks for: refused while any server holds its share.
      expect(await second.replicaLock(false).take()).to.equal(false);
      const lead = first.leaderLock();
      const other = second.leaderLock();
      expect(await lead.take()).to.equal(true);
      expect(await other.take()).to.equal(false);
      await pg.stop();
      await pg.start();
      // The restart ended the session that held it: whoever asks first leads.
      expect(await lead.keep()).to.equal(true);
      expect(await other.keep()).to.equal(false);
      lead.release();
      // Released by ending its session: free once the server has seen the session end.
      let taken = false;
      for (let i = 0; i < 50 && !taken; i++) {
        taken = await other.keep();
        if (!taken) await new Promise((r) => setTimeout(r, 100));
      }
      expect(taken).to.equal(true);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
