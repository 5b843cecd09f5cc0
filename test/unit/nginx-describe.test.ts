// nginx/describe.js, nginx's own description of a download, run here in Node against
// records that the app's own code writes: it must say exactly what the app would, or
// nothing (then nginx asks the app). test/deploy/nginx.test.ts runs it in nginx's njs.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeTempDir, REPO_ROOT } from '../helpers/harness.js';
import { ArtifactStore } from '../../server/storage/artifact-store.js';
import { BuildRecordFiles } from '../../server/storage/build-records.js';
import { ResourceRecordFiles } from '../../server/storage/resource-records.js';
import { recordMatches, recordOf } from '../../server/services/catalog.js';
import { type FileRecord } from '../../server/domain/stores.js';
import { reprDigest } from '../../server/domain/checksum.js';
import { etagOf } from '../../server/http/conditional.js';

interface NginxRequest {
  method: string;
  uri: string;
  variables: Record<string, string>;
}
type Identity = { ino: number; size: number; mtimeMs: number };
interface Describe {
  describe(r: NginxRequest): string;
  recordMatches(record: unknown, stats: Identity): boolean;
  reprDigest(hex: string): string;
}

describe('nginx/describe.js: what nginx says of a download without asking the app', () => {
  let nginx: Describe;
  let root: string;
  let store: ArtifactStore;
  let records: ResourceRecordFiles;
  let builds: BuildRecordFiles;
  const sha = 'ab'.repeat(32);

  before(async () => {
    nginx = ((await import(pathToFileURL(path.join(REPO_ROOT, 'nginx/describe.js')).href)) as { default: Describe }).default;
    root = path.join(await makeTempDir('describe-js-'), 'artifacts');
    store = new ArtifactStore(root);
    await store.init();
    records = new ResourceRecordFiles(root, store.incoming);
    builds = new BuildRecordFiles(root, store.incoming);
  });
  after(async () => {
    await rm(path.dirname(root), { recursive: true, force: true });
  });

  /** A file of the tree with the record the app writes for it. */
  async function recorded(relative: string, content = 'bytes\n'): Promise<string[]> {
    const segments = relative.split('/');
    const file = path.join(root, ...segments);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    await records.setFileRecord(segments, recordOf(sha, await lstat(file)));
    return segments;
  }

  const get = (uri: string, variables: Record<string, string> = {}, method = 'GET'): string =>
    nginx.describe({ method, uri, variables: { document_root: root, artifact_records: 'volume', ...variables } });

  it("writes Repr-Digest as the app does, for any checksum", () => {
    const checksums = ['00'.repeat(32), 'ff'.repeat(32), ...Array.from({ length: 200 }, () => randomBytes(32).toString('hex'))];
    for (const hex of checksums) expect(nginx.reprDigest(hex), hex).to.equal(reprDigest(hex));
  });

  it("believes a record exactly when the app's recordMatches does", () => {
    const stats = { ino: 7, size: 10, mtimeMs: 1_700_000_000_000.5 };
    const cases: [string, Partial<FileRecord>][] = [
      ['the same file', {}],
      ['another inode', { ino: 8 }],
      ['a record from before inodes were recorded', { ino: undefined }],
      ['another size', { size: 11 }],
      ['an mtime 0.9 ms off', { mtimeMs: stats.mtimeMs + 0.9 }],
      ['an mtime 1 ms off', { mtimeMs: stats.mtimeMs + 1 }],
      ['an mtime a second off', { mtimeMs: stats.mtimeMs - 1000 }],
    ];
    for (const [what, change] of cases) {
      const record = { ...recordOf(sha, stats), ...change };
      expect(nginx.recordMatches(record, stats), what).to.equal(recordMatches(record, stats));
    }
    expect(nginx.recordMatches({ ...recordOf('not-hex', stats) }, stats), 'a checksum that is not one').to.equal(false);
    expect(nginx.recordMatches(null, stats)).to.equal(false);
  });

  it('describes a recorded file: its checksum, digest, the ETag nginx will give it, and the build open, then sealed', async () => {
    const segments = await recorded('deb/hello/1/pool/pkg.deb');
    const stats = await lstat(path.join(root, ...segments));
    expect(get('/deb/hello/1/pool/pkg.deb')).to.equal(`${sha} ${reprDigest(sha)} ${etagOf(stats)} open`);
    expect(get('/deb/hello/1/pool/pkg.deb', {}, 'HEAD')).to.equal(`${sha} ${reprDigest(sha)} ${etagOf(stats)} open`);
    await builds.put(['deb', 'hello', '1'], { sealed: { sealedAt: new Date().toISOString(), files: 1, bytes: stats.size } });
    expect(get('/deb/hello/1/pool/pkg.deb')).to.equal(`${sha} ${reprDigest(sha)} ${etagOf(stats)} sealed`);
    // A pin alone, or a seal still pending, is not a seal.
    await builds.put(['deb', 'hello', '1'], { pin: { by: 'buildbot', at: new Date().toISOString() }, sealPending: { since: new Date().toISOString(), reason: null } });
    expect(get('/deb/hello/1/pool/pkg.deb')).to.match(/ open$/);
  });

  it('says nothing where it cannot be sure, and the app describes the download', async () => {
    await recorded('deb/hello/2/a.txt');
    await recorded('deb/hello/2/b.txt');
    await recorded('deb/hello/2/with space.txt');
    await recorded('top/level/file.txt');
    expect(get('/deb/hello/2/a.txt'), 'the control').to.not.equal('');
    expect(get('/deb/hello/2/with space.txt'), 'a space is printable ASCII').to.not.equal('');
    const silent: [string, string][] = [
      ['records in the database', nginx.describe({ method: 'GET', uri: '/deb/hello/2/a.txt', variables: { document_root: root, artifact_records: 'database' } })],
      ['a PUT', get('/deb/hello/2/a.txt', {}, 'PUT')],
      ['a PROPFIND', get('/deb/hello/2/a.txt', {}, 'PROPFIND')],
      ['a folder', get('/deb/hello/2')],
      ['a folder with its slash', get('/deb/hello/2/')],
      ['a missing file', get('/deb/hello/2/missing.txt')],
      ['a file outside any build', get('/top/level/file.txt')],
      ['a dot segment', get('/deb/hello/2/../2/a.txt')],
      ['a hidden name', get('/deb/hello/2/.a.txt')],
      ['an empty segment', get('/deb/hello//2/a.txt')],
      ['a name that is not ASCII', get('/deb/hello/2/\u00e4.txt')],
      ['a control character', get('/deb/hello/2/a\u0001.txt')],
      ['the metadata folder', get('/.meta/deb.d/hello.d/2.d/a.txt.m')],
      ['a path through a file (ENOTDIR)', get('/deb/hello/2/a.txt/x')],
      ['a name too long for the volume', get(`/deb/hello/2/${'n'.repeat(300)}`)],
      ['a path too long for the kernel', get(`/deb/hello/2/${'d/'.repeat(2100)}f`)],
    ];
    for (const [what, said] of silent) expect(said, what).to.equal('');
    // Replaced behind the app's back (another inode, same size): its record is for the old one.
    const tmp = path.join(root, 'deb/hello/2/a.new');
    await writeFile(tmp, 'BYTES\n');
    await rename(tmp, path.join(root, 'deb/hello/2/a.txt'));
    expect(get('/deb/hello/2/a.txt'), 'a record of another inode').to.equal('');
    // A record as the version before wrote it (a symbolic link): left to the app.
    const recordFile = path.join(root, '.meta/deb.d/hello.d/2.d/b.txt.m');
    await rm(recordFile);
    await symlink(`record:${JSON.stringify(recordOf(sha, await lstat(path.join(root, 'deb/hello/2/b.txt'))))}`, recordFile);
    expect(get('/deb/hello/2/b.txt'), 'a record written as a link').to.equal('');
    // The app reads it (a fresh process: nothing in memory) and rewrites it as a file.
    const fresh = new ResourceRecordFiles(root, store.incoming);
    expect((await fresh.fileRecord(['deb', 'hello', '2', 'b.txt']))?.sha256).to.equal(sha);
    expect((await lstat(recordFile)).isFile(), 'the record is a file now').to.equal(true);
    expect(get('/deb/hello/2/b.txt'), 'then nginx reads it').to.match(new RegExp(`^${sha} `));
    await rm(recordFile);
    await symlink(`record:${JSON.stringify(recordOf(sha, await lstat(path.join(root, 'deb/hello/2/b.txt'))))}`, recordFile);
    // A file that is a symbolic link, even to a recorded file of the tree.
    await symlink(path.join(root, 'deb/hello/2/with space.txt'), path.join(root, 'deb/hello/2/link.txt'));
    await records.setFileRecord(['deb', 'hello', '2', 'link.txt'], recordOf(sha, await lstat(path.join(root, 'deb/hello/2/with space.txt'))));
    expect(get('/deb/hello/2/link.txt'), 'a symbolic link').to.equal('');
    // An unreadable record.
    await writeFile(path.join(root, '.meta/deb.d/hello.d/2.d/with space.txt.m'), '{"sha256":');
    expect(get('/deb/hello/2/with space.txt'), 'a record cut short').to.equal('');
  });
});
