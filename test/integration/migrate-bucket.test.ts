// artifact-repo migrate --to-bucket s3://…: a repository on PostgreSQL and a volume (a
// sealed build with a dead property, an open one, a recorded body) copied into a bucket of
// a real Swift, then served in S3 mode from an empty folder with the same answers: bytes,
// ETag, Last-Modified, checksums, the seal, the property. Run again, it sends nothing; a
// file added since is all the next run sends; a file whose bytes are not its record's is
// refused, and the run fails.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { open, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import { requireSwift, startSwift, type RunningSwift } from '../helpers/swift.js';
import { s3Settings, useS3Credentials } from '../helpers/bucket-mode.js';
import { run } from '../helpers/tools.js';
import { ContentFiles } from '../../server/storage/content-store.js';
import { IncomingFiles } from '../../server/storage/incoming.js';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

describe('artifact-repo migrate --to-bucket s3://', function () {
  this.timeout(180_000);
  let postgres: Postgres;
  let swift: RunningSwift;
  let restore: () => void;
  let dataDir: string;
  let databaseUrl: string;
  let bucketSettings: Record<string, string>;
  const servers: TestServer[] = [];

  const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run(process.execPath, ['dist/cli/main.js', ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: '/tmp',
        DATA_DIR: dataDir,
        MASTER_USER,
        MASTER_PASSWORD,
        DATABASE_URL: databaseUrl,
        S3_ENDPOINT: bucketSettings.S3_ENDPOINT as string,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: swift.accessKeyId,
        AWS_SECRET_ACCESS_KEY: swift.secretAccessKey,
      },
    });

  before(async function () {
    postgres = await requirePostgres(this);
    requireSwift(this);
    swift = await startSwift();
    restore = useS3Credentials(swift);
    dataDir = await makeTempDir('migrate-bucket-');
    databaseUrl = await freshDatabase(postgres);
    bucketSettings = await s3Settings(swift);
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  after(async () => {
    restore?.();
    await swift?.stop();
    await postgres?.remove();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('copies the tree and the bodies, checked, and S3 mode then answers as the volume did; a second run sends nothing', async () => {
    const before = await startServer({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl });
    servers.push(before);
    const sealed = await mintWith(before.baseUrl, { type: 'dpkg', project: 'moved', build: '1' });
    const open = await mintWith(before.baseUrl, { type: 'dpkg', project: 'moved', build: '2' });
    const big = Buffer.alloc(12 * 1024 * 1024, 7);
    for (const [t, name, body] of [[sealed, 'a.txt', 'a\n'], [sealed, 'deep/b.bin', big], [open, 'c.txt', 'c\n']] as const) {
      expect((await fetch(`${t.url}${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body })).status).to.equal(201);
    }
    const prop = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:origin>kept</Z:origin></D:prop></D:set></D:propertyupdate>`;
    expect((await fetch(`${sealed.url}a.txt`, { method: 'PROPPATCH', headers: { Authorization: basic(sealed.username, sealed.password), 'Content-Type': 'application/xml' }, body: prop })).status).to.equal(207);
    expect((await fetch(`${before.baseUrl}/-/tokens/${sealed.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(204);
    // (With the seal's own three files: SHA256SUMS, its signature and the provenance, six in all.)
    const paths = ['/dpkg/moved/1/a.txt', '/dpkg/moved/1/deep/b.bin', '/dpkg/moved/1/SHA256SUMS', '/dpkg/moved/2/c.txt'];
    const seen = new Map<string, { etag: string | null; modified: string | null; sha: string | null; body: string }>();
    for (const p of paths) {
      const res = await fetch(`${before.baseUrl}${p}`);
      expect(res.status, p).to.equal(200);
      seen.set(p, { etag: res.headers.get('etag'), modified: res.headers.get('last-modified'), sha: res.headers.get('x-checksum-sha256'), body: sha256(Buffer.from(await res.arrayBuffer())) });
    }
    // A body a recording keeps, on the volume.
    const incoming = new IncomingFiles(path.join(dataDir, 'artifacts'), null);
    const recorded = await new ContentFiles(path.join(dataDir, 'artifacts'), incoming).put(Readable.from([Buffer.from('a recorded download\n')]));
    await before.close();
    servers.splice(0);

    const first = await cli(['migrate', '--to-bucket', bucketSettings.BLOB_STORE as string]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/6 files in \d+ folders: 6 sent \(\d+ bytes\), 0 there already; 1 recorded and mirrored bodies: 1 sent/);
    const again = await cli(['migrate', '--to-bucket', bucketSettings.BLOB_STORE as string]);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(/6 files in \d+ folders: 0 sent \(0 bytes\), 6 there already; 1 recorded and mirrored bodies: 0 sent/);

    // S3 mode, from an empty folder: the volume is not read any more.
    const after = await startServer({ DATA_DIR: await makeTempDir('migrated-'), DATABASE_URL: databaseUrl, ...bucketSettings });
    servers.push(after);
    for (const p of paths) {
      const res = await fetch(`${after.baseUrl}${p}`);
      expect(res.status, p).to.equal(200);
      const was = seen.get(p);
      expect({ etag: res.headers.get('etag'), modified: res.headers.get('last-modified'), sha: res.headers.get('x-checksum-sha256'), body: sha256(Buffer.from(await res.arrayBuffer())) }, p).to.deep.equal(was);
    }
    const props = await fetch(`${after.baseUrl}/dpkg/moved/1/a.txt`, { method: 'PROPFIND', headers: { Depth: '0', 'Content-Type': 'application/xml' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:x"><D:prop><Z:origin/></D:prop></D:propfind>' });
    expect(await props.text()).to.include('kept');
    // Still sealed: its token is gone and no new one is minted for it.
    const mint = await fetch(`${after.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'moved', build: '1' }) });
    expect(mint.status).to.equal(409);
    // The open build goes on in S3 mode.
    expect((await fetch(`${open.url}d.txt`.replace(before.baseUrl, after.baseUrl), { method: 'PUT', headers: { Authorization: basic(open.username, open.password) }, body: 'd\n' })).status).to.equal(201);
    // The recorded body is in the bucket's content store.
    const body = await after.app.services.content.read(recorded.sha256);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).to.equal('a recorded download\n');
  });

  it('resumes with what is new, and refuses (exit 1) a file whose bytes are not what its record says', async () => {
    // One more file through the server on the volume, then its bytes changed behind the
    // repository's back in place (same inode, size and time): its record says otherwise.
    const volume = await startServer({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl });
    servers.push(volume);
    const t = await mintWith(volume.baseUrl, { type: 'dpkg', project: 'moved', build: '3' });
    expect((await fetch(`${t.url}e.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'e\n' })).status).to.equal(201);
    await volume.close();
    servers.splice(0);
    const file = path.join(dataDir, 'artifacts/dpkg/moved/3/e.txt');
    const was = await stat(file);
    const handle = await open(file, 'r+');
    await handle.write('E', 0);
    await handle.close();
    await utimes(file, was.atime, was.mtime);
    // And one added by hand (no record: its checksum is computed from its bytes).
    await writeFile(path.join(dataDir, 'artifacts/dpkg/moved/2/late.txt'), 'added after the first run\n');
    const resumed = await cli(['migrate', '--to-bucket', bucketSettings.BLOB_STORE as string]);
    expect(resumed.stdout).to.match(/8 files in \d+ folders: 1 sent \(\d+ bytes\), 6 there already/);
    expect(resumed.code).to.equal(1);
    expect(resumed.stderr).to.include('/dpkg/moved/3/e.txt').and.match(/not what their checksum records say/);
  });
});
