// Real WebDAV clients from Debian's packages against the real server process, each
// through a build token: rclone, cadaver, curl, and davfs2 where the machine allows a mount.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, mintWith, startChild, type ChildServer, type MintedToken } from '../helpers/harness.js';
import { requireTool, run, skipUnlessCi } from '../helpers/tools.js';
import { replicaMode } from '../helpers/replicas.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

// One server process (docker/entrypoint.sh, files on disk), and three replicas behind
// nginx in S3 mode: the tree in PostgreSQL, the bytes in a bucket of a real Swift, each
// replica with its own empty folder.
for (const mode of ['one server', 'three replicas, S3 mode'] as const) describe(mode === 'one server' ? 'WebDAV clients' : 'WebDAV clients, three replicas in S3 mode with no shared volume', function () {
  this.timeout(120_000);
  let dataDir: string;
  let work: string;
  let server: { baseUrl: string; alive(): Promise<boolean>; stop(): Promise<unknown> };

  before(async function () {
    this.timeout(180_000);
    dataDir = await makeTempDir();
    work = await makeTempDir('clients-work-');
    if (mode === 'one server') {
      const child: ChildServer = await startChild(dataDir);
      server = { baseUrl: child.baseUrl, alive: async () => child.child.exitCode === null, stop: () => child.stop() };
    } else {
      const replicas = await replicaMode(this, { bucket: true });
      const set = await replicas.start();
      server = {
        baseUrl: set.baseUrl,
        // Every replica still answers (they run in this process: none can exit alone).
        alive: async () => (await Promise.all(set.replicas.map(async (r) => (await fetch(`${r.baseUrl}/-/health`)).status))).every((status) => status === 200),
        stop: async () => {
          await set.close();
          await replicas.teardown();
        },
      };
    }
  });
  after(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  const mint = (project: string): Promise<MintedToken> => mintWith(server.baseUrl, { type: 'clients', project, build: '1' });

  describe('rclone', () => {
    let rclone: string;
    let t: MintedToken;
    let tree: string;
    const rcloneEnv = (withCredentials: boolean, obscured = ''): NodeJS.ProcessEnv => ({
      ...process.env,
      RCLONE_CONFIG: '/dev/null',
      RCLONE_WEBDAV_URL: t.url,
      RCLONE_WEBDAV_VENDOR: 'other',
      ...(withCredentials ? { RCLONE_WEBDAV_USER: t.username, RCLONE_WEBDAV_PASS: obscured } : {}),
    });
    let obscured = '';

    before(async function () {
      rclone = requireTool(this, 'rclone', 'rclone');
      t = await mint('rclone');
      // The password reaches rclone through its environment, obscured, never as an argument.
      obscured = (await run(rclone, ['obscure', '-'], { input: t.password })).stdout.trim();
      tree = path.join(work, 'rclone-tree');
      for (let i = 1; i <= 50; i++) {
        const dir = i % 5 === 0 ? 'deb/pool' : i % 3 === 0 ? 'logs' : '.';
        await mkdir(path.join(tree, dir), { recursive: true });
        await writeFile(path.join(tree, dir, `artifact-${i}.bin`), randomBytes(i * 97));
      }
    });

    it('copies a tree of 50 files into the scope, and check --download finds no difference', async () => {
      const copy = await run(rclone, ['copy', tree, ':webdav:'], { env: rcloneEnv(true, obscured) });
      expect(copy.code, copy.stderr).to.equal(0);
      const check = await run(rclone, ['check', '--download', tree, ':webdav:'], { env: rcloneEnv(true, obscured) });
      expect(check.code, check.stderr).to.equal(0);
      expect(check.stderr).to.match(/0 differences found/).and.match(/50 matching files/);
    });

    it('lists the build anonymously (lsf)', async () => {
      const lsf = await run(rclone, ['lsf', '-R', '--files-only', ':webdav:'], { env: rcloneEnv(false) });
      expect(lsf.code, lsf.stderr).to.equal(0);
      expect(lsf.stdout.trim().split('\n').sort()).to.have.length(50).and.include('deb/pool/artifact-5.bin');
    });

    it('a second copy that changes one file transfers that file only', async () => {
      const changed = randomBytes(4321);
      await writeFile(path.join(tree, 'logs', 'artifact-3.bin'), changed);
      const copy = await run(rclone, ['copy', '-v', tree, ':webdav:'], { env: rcloneEnv(true, obscured) });
      expect(copy.code, copy.stderr).to.equal(0);
      const copied = copy.stderr.split('\n').filter((l) => /: Copied/.test(l));
      expect(copied, copy.stderr).to.have.length(1);
      expect(copied[0]).to.include('logs/artifact-3.bin');
      const served = Buffer.from(await (await fetch(`${t.url}logs/artifact-3.bin`)).arrayBuffer());
      expect(sha256(served)).to.equal(sha256(changed));
    });

    it('is refused outside the scope, with nothing written', async () => {
      const other = await run(rclone, ['copy', tree, ':webdav:'], { env: { ...rcloneEnv(true, obscured), RCLONE_WEBDAV_URL: `${server.baseUrl}/clients/rclone/2/`, RCLONE_RETRIES: '1', RCLONE_LOW_LEVEL_RETRIES: '1' } });
      expect(other.code).to.not.equal(0);
      expect((await fetch(`${server.baseUrl}/clients/rclone/2/`)).status).to.equal(404);
    });
  });

  describe('cadaver', () => {
    it('mkcol, put, ls and get, non-interactively, with credentials from .netrc', async function () {
      const cadaver = requireTool(this, 'cadaver', 'cadaver');
      const t = await mint('cadaver');
      const home = path.join(work, 'cadaver-home');
      await mkdir(home, { recursive: true });
      await writeFile(path.join(home, '.netrc'), `machine 127.0.0.1\nlogin ${t.username}\npassword ${t.password}\n`, { mode: 0o600 });
      const local = path.join(work, 'notes.txt');
      await writeFile(local, 'uploaded by cadaver\n');
      const back = path.join(work, 'notes-back.txt');
      const script = `mkcol docs\nput ${local} docs/notes.txt\nls docs\nget docs/notes.txt ${back}\nquit\n`;
      const result = await run(cadaver, [t.url], { env: { ...process.env, HOME: home }, input: script, timeoutMs: 30_000 });
      expect(result.stdout).to.match(/Creating `docs': succeeded/).and.match(/Uploading .* succeeded/);
      expect(result.stdout).to.match(/notes\.txt\s+20\s/);
      expect(await readFile(back, 'utf8')).to.equal('uploaded by cadaver\n');
      expect(await (await fetch(`${t.url}docs/notes.txt`)).text()).to.equal('uploaded by cadaver\n');
    });
  });

  describe('curl', () => {
    let curl: string;
    let t: MintedToken;
    // Credentials go to curl on stdin as a config line, never on its command line.
    const creds = (tok: MintedToken): string => `user = "${tok.username}:${tok.password}"\n`;

    before(async function () {
      curl = requireTool(this, 'curl', 'curl');
      t = await mint('curl');
    });

    it('PUT (201, then 204) and nested PUT that creates its folders', async () => {
      const file = path.join(work, 'curl.bin');
      await writeFile(file, randomBytes(100_000));
      const put = async (url: string): Promise<string> => (await run(curl, ['-sS', '-K', '-', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, url], { input: creds(t) })).stdout;
      expect(await put(`${t.url}curl.bin`)).to.equal('201');
      expect(await put(`${t.url}curl.bin`)).to.equal('204');
      expect(await put(`${t.url}deep/er/still/curl.bin`)).to.equal('201');
      const served = Buffer.from(await (await fetch(`${t.url}deep/er/still/curl.bin`)).arrayBuffer());
      expect(sha256(served)).to.equal(sha256(await readFile(file)));
    });

    it('Range and conditional GET', async () => {
      const part = path.join(work, 'curl.part');
      const range = await run(curl, ['-sS', '-r', '10-19', '-o', part, '-w', '%{http_code}', `${t.url}curl.bin`]);
      expect(range.stdout).to.equal('206');
      expect(await readFile(part)).to.deep.equal((await readFile(path.join(work, 'curl.bin'))).subarray(10, 20));
      const headers = await run(curl, ['-sS', '-I', `${t.url}curl.bin`]);
      const etag = /etag: (\S+)/i.exec(headers.stdout)?.[1] as string;
      const lastModified = /last-modified: (.+)\r/i.exec(headers.stdout)?.[1] as string;
      expect((await run(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${etag}`, `${t.url}curl.bin`])).stdout).to.equal('304');
      expect((await run(curl, ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', `If-Modified-Since: ${lastModified}`, `${t.url}curl.bin`])).stdout).to.equal('304');
      const file = path.join(work, 'curl-z.bin');
      await writeFile(file, 'x');
      // curl -z: download only if newer than the local file (dated 2000): it is, so 200.
      await run('touch', ['-d', '2000-01-01', file]);
      expect((await run(curl, ['-sS', '-z', file, '-o', '/dev/null', '-w', '%{http_code}', `${t.url}curl.bin`])).stdout).to.equal('200');
    });

    it('without credentials a PUT gets the Basic challenge, and curl --anyauth then sends them', async () => {
      const file = path.join(work, 'challenge.txt');
      await writeFile(file, 'challenge');
      const anon = await run(curl, ['-sS', '-D', '-', '-o', '/dev/null', '-T', file, `${t.url}challenge.txt`]);
      // (nginx in front says 100 Continue to curl's Expect itself, before the app's answer.)
      const answer = anon.stdout.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
      expect(answer).to.match(/^HTTP\/1\.1 401/).and.match(/www-authenticate: Basic realm="artifact-repo"/i);
      const any = await run(curl, ['-sS', '--anyauth', '-K', '-', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, `${t.url}challenge.txt`], { input: creds(t) });
      expect(any.stdout).to.equal('201');
    });
  });

  describe('davfs2', () => {
    it('mounts the scope and copies files in', async function () {
      const mountDavfs = requireTool(this, 'mount.davfs', 'davfs2');
      const t = await mint('davfs');
      const mountPoint = path.join(work, 'mnt');
      await mkdir(mountPoint, { recursive: true });
      const secrets = path.join(work, 'davfs-secrets');
      await writeFile(secrets, `${t.url} ${t.username} ${t.password}\n`, { mode: 0o600 });
      const conf = path.join(work, 'davfs2.conf');
      // buf_size 64: davfs2 1.6.1's directory reads fail with EINVAL on Linux >= 6.16
      // otherwise (davfs2 issue #22, "davfs2 no longer works under Linux 6.16").
      await writeFile(conf, `secrets ${secrets}\nuse_locks 1\nbuf_size 64\n`);
      const mounted = await run(mountDavfs, ['-o', `conf=${conf}`, t.url, mountPoint], { timeoutMs: 30_000 });
      if (mounted.code !== 0) {
        // The kernel or sandbox refused the mount (no /dev/fuse, no CAP_SYS_ADMIN, ...).
        skipUnlessCi(this, `davfs2 could not mount here (${mounted.stderr.trim()})`, 'it needs /dev/fuse and root, as CI has');
      }
      try {
        const a = randomBytes(50_000);
        await writeFile(path.join(mountPoint, 'from-davfs.bin'), a);
        await mkdir(path.join(mountPoint, 'sub'));
        await writeFile(path.join(mountPoint, 'sub', 'nested.txt'), 'nested via davfs2\n');
        const listed = await run('ls', [mountPoint]);
        expect(listed.code, listed.stderr).to.equal(0);
        expect(listed.stdout).to.include('from-davfs.bin');
        // davfs2 uploads on close or at unmount at the latest.
        const unmounted = await run('umount', [mountPoint], { timeoutMs: 60_000 });
        expect(unmounted.code, unmounted.stderr).to.equal(0);
        const served = Buffer.from(await (await fetch(`${t.url}from-davfs.bin`)).arrayBuffer());
        expect(sha256(served)).to.equal(sha256(a));
        expect(await (await fetch(`${t.url}sub/nested.txt`)).text()).to.equal('nested via davfs2\n');
      } finally {
        await run('umount', [mountPoint], { timeoutMs: 30_000 });
      }
    });
  });

  describe('afterwards', () => {
    it('the server process is still up after every client', async () => {
      expect(await server.alive()).to.equal(true);
    });
  });
});
