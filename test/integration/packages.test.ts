// Installing from the repository with the real clients: apt-get (isolated from this
// machine's configuration, with apt's default security and `signed-by`) from one sealed
// build and from a project's suites, and pip from the simple index, into a virtual
// environment. On both stores. Hostile packages are listed as not indexed, never served.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startServer, until, type TestServer } from '../helpers/harness.js';
import { requireTool, run } from '../helpers/tools.js';
import { databaseMode } from '../helpers/postgres.js';
import { bucketMode } from '../helpers/bucket-mode.js';
import { IsolatedApt, makeDeb, makeWheel } from '../helpers/packages.js';

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** Uploads files (name → bytes) into a new build and seals it; returns the build's URL. */
async function sealBuild(s: TestServer, type: string, project: string, build: string, files: Record<string, Buffer | string>): Promise<string> {
  const t = await mintWith(s.baseUrl, { type, project, build });
  const auth = basic(t.username, t.password);
  for (const [name, body] of Object.entries(files)) {
    const res = await fetch(`${s.baseUrl}/${type}/${project}/${build}/${name}`, { method: 'PUT', headers: { Authorization: auth }, body: typeof body === 'string' ? body : new Uint8Array(body) });
    expect(res.status, `PUT ${name}: ${await res.text()}`).to.equal(201);
  }
  const revoked = await fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  expect(revoked.status).to.equal(204);
  expect(revoked.headers.get('x-artifact-repo-seal')).to.equal('sealed');
  return `${s.baseUrl}/${type}/${project}/${build}/`;
}

// S3: the tree in PostgreSQL and its bytes in a Swift bucket, the apt indexes as rows.
for (const mode of ['embedded', 'PostgreSQL', 'S3'] as const) {
  describe(`installing with apt and pip (${mode})`, function () {
    this.timeout(180_000);
    let s: TestServer;
    let work: string;
    let teardown: (() => Promise<void>) | null = null;
    const debs: Record<string, Buffer> = {};
    let keyFile: string;

    before(async function () {
      requireTool(this, 'apt-get', 'apt');
      requireTool(this, 'dpkg-deb', 'dpkg');
      requireTool(this, 'gpgv', 'gpgv');
      requireTool(this, 'sqv', 'sqv');
      if (mode === 'PostgreSQL') teardown = await databaseMode(this);
      if (mode === 'S3') teardown = (await bucketMode(this)).teardown;
      work = await makeTempDir('packages-');
      s = await startServer();
      for (const [key, spec] of Object.entries({
        tool1: { name: 'hello-tool', version: '1.0-1', arch: 'amd64', compression: 'gzip' as const },
        tool2: { name: 'hello-tool', version: '1.1-1', arch: 'amd64', compression: 'xz' as const },
        data1: { name: 'hello-data', version: '1.0-1', compression: 'zstd' as const },
        data2: { name: 'hello-data', version: '1.1-1', depends: 'hello-tool (>= 1.1)' },
      })) {
        debs[key] = await readFile(await makeDeb(path.join(work), spec));
      }
      keyFile = path.join(work, 'artifact-repo.asc');
      const keys = await fetch(`${s.baseUrl}/-/signing-keys.asc`);
      expect(keys.status).to.equal(200);
      expect(keys.headers.get('content-type')).to.match(/^application\/pgp-keys/);
      await writeFile(keyFile, await keys.text());
    });

    after(async () => {
      await s?.close();
      await teardown?.();
      if (work) await rm(work, { recursive: true, force: true });
    });

    async function apt(name: string, sources: string): Promise<IsolatedApt> {
      const a = new IsolatedApt(path.join(work, `apt-${name}`));
      await a.setUp(sources);
      return a;
    }

    function expectClean(result: { code: number | null; stdout: string; stderr: string }, what: string): void {
      expect(result.code, `${what}: ${result.stdout}\n${result.stderr}`).to.equal(0);
      expect(result.stderr, what).to.not.match(/^(W|E|Err):/m);
      expect(result.stdout, what).to.not.match(/^(W|E|Err):/m);
    }

    it('serves the OpenPGP key, which gpgv and sqv check the flat Release signatures with', async () => {
      const one = await fetch(`${s.baseUrl}/-/signing-key.asc`);
      expect(one.status).to.equal(200);
      const armored = await one.text();
      expect(armored).to.match(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/).and.not.include('PRIVATE');
      expect(one.headers.get('x-key-fingerprint')).to.match(/^[0-9A-F]{40}$/);
      await sealBuild(s, 'dpkg', 'flat', '1', { 'hello-tool_1.0-1_amd64.deb': debs.tool1 as Buffer, 'sub/dir/hello-data_1.0-1_all.deb': debs.data1 as Buffer });
      const dir = path.join(work, 'flat');
      await run('mkdir', ['-p', dir]);
      for (const name of ['Release', 'Release.gpg', 'InRelease', 'Packages', 'Packages.gz']) {
        const res = await fetch(`${s.baseUrl}/dpkg/flat/1/${name}`);
        expect(res.status, name).to.equal(200);
        await writeFile(path.join(dir, name), Buffer.from(await res.arrayBuffer()));
      }
      const keyring = path.join(dir, 'keyring.gpg');
      expect((await run('gpg', ['--batch', '--yes', '--dearmor', '--output', keyring, keyFile])).code).to.equal(0);
      const gpgv = await run('gpgv', ['--keyring', keyring, path.join(dir, 'Release.gpg'), path.join(dir, 'Release')]);
      expect(gpgv.code, gpgv.stderr).to.equal(0);
      expect((await run('gpgv', ['--keyring', keyring, path.join(dir, 'InRelease')])).code).to.equal(0);
      const sqv = await run('sqv', ['--keyring', keyFile, path.join(dir, 'Release.gpg'), path.join(dir, 'Release')]);
      expect(sqv.code, sqv.stderr).to.equal(0);
      // A changed Release does not verify.
      await writeFile(path.join(dir, 'Release'), `${await readFile(path.join(dir, 'Release'), 'utf8')}Extra: field\n`);
      expect((await run('sqv', ['--keyring', keyFile, path.join(dir, 'Release.gpg'), path.join(dir, 'Release')])).code).to.not.equal(0);
      // Packages lists both, Filename relative to the build's root, with their checksums.
      const packages = await readFile(path.join(dir, 'Packages'), 'utf8');
      expect(packages).to.include('Filename: hello-tool_1.0-1_amd64.deb\n').and.include('Filename: sub/dir/hello-data_1.0-1_all.deb\n');
      expect(packages).to.include(`SHA256: ${sha256(debs.tool1 as Buffer)}`);
      expect(packages).to.include(' A second line of the description,\n .\n and a paragraph.\n');
    });

    it('apt-get update and download from one sealed build, with signed-by and default security', async () => {
      const a = await apt('flat', `deb [signed-by=${keyFile}] ${s.baseUrl}/dpkg/flat/1/ /\n`);
      expectClean(await a.aptGet(['update']), 'apt-get update');
      expectClean(await a.aptGet(['download', 'hello-tool']), 'apt-get download');
      expect(sha256(await a.downloaded('hello-tool_1.0-1_amd64.deb'))).to.equal(sha256(debs.tool1 as Buffer));
      expectClean(await a.aptGet(['install', '--download-only', '-y', 'hello-data']), 'apt-get install --download-only');
      expect(sha256(await a.archive('hello-data_1.0-1_all.deb'))).to.equal(sha256(debs.data1 as Buffer));
    });

    it('apt-get update fails without the key, and with another key', async () => {
      const unsigned = await apt('nokey', `deb ${s.baseUrl}/dpkg/flat/1/ /\n`);
      const r1 = await unsigned.aptGet(['update']);
      expect(r1.code).to.not.equal(0);
      expect(`${r1.stdout}${r1.stderr}`).to.match(/NO_PUBKEY|not signed/);
      const other = path.join(work, 'other.asc');
      const gen = await run(process.execPath, ['--input-type=module', '-e', "import * as o from 'openpgp'; const k = await o.generateKey({type:'ecc', curve:'ed25519Legacy', userIDs:[{name:'x'}], subkeys:[], format:'armored'}); process.stdout.write(k.publicKey);"], { cwd: process.cwd() });
      await writeFile(other, gen.stdout);
      const wrong = await apt('wrongkey', `deb [signed-by=${other}] ${s.baseUrl}/dpkg/flat/1/ /\n`);
      const r2 = await wrong.aptGet(['update']);
      expect(r2.code).to.not.equal(0);
      expect(`${r2.stdout}${r2.stderr}`).to.match(/NO_PUBKEY|not signed/);
    });

    it('a project is a repository: stable installs the highest version, =1.0-1 the older one, latest only the newest build', async () => {
      await sealBuild(s, 'dpkg', 'proj', '1', { 'hello-tool_1.0-1_amd64.deb': debs.tool1 as Buffer, 'hello-data_1.0-1_all.deb': debs.data1 as Buffer });
      await sealBuild(s, 'dpkg', 'proj', '2', { 'hello-tool_1.1-1_amd64.deb': debs.tool2 as Buffer });
      const stable = await apt('stable', `deb [signed-by=${keyFile}] ${s.baseUrl}/-/apt/dpkg/proj/ stable main\n`);
      expectClean(await stable.aptGet(['update']), 'update stable');
      expectClean(await stable.aptGet(['download', 'hello-tool']), 'download highest');
      expect(sha256(await stable.downloaded('hello-tool_1.1-1_amd64.deb'))).to.equal(sha256(debs.tool2 as Buffer));
      expectClean(await stable.aptGet(['download', 'hello-tool=1.0-1']), 'download =1.0-1');
      expect(sha256(await stable.downloaded('hello-tool_1.0-1_amd64.deb'))).to.equal(sha256(debs.tool1 as Buffer));
      expectClean(await stable.aptGet(['install', '--download-only', '-y', 'hello-data']), 'install arch:all from an older build');
      const latest = await apt('latest', `deb [signed-by=${keyFile}] ${s.baseUrl}/-/apt/dpkg/proj/ latest main\n`);
      expectClean(await latest.aptGet(['update']), 'update latest');
      expectClean(await latest.aptGet(['download', 'hello-tool']), 'latest download');
      expect(sha256(await latest.downloaded('hello-tool_1.1-1_amd64.deb'))).to.equal(sha256(debs.tool2 as Buffer));
      const older = await latest.aptGet(['download', 'hello-tool=1.0-1']);
      expect(older.code).to.not.equal(0);
      expect((await latest.aptGet(['download', 'hello-data'])).code, 'hello-data is only in build 1').to.not.equal(0);
      // The Release says what it holds, signed, by-hash.
      const release = await (await fetch(`${s.baseUrl}/-/apt/dpkg/proj/dists/stable/Release`)).text();
      expect(release).to.match(/^Suite: stable$/m).and.match(/^Acquire-By-Hash: yes$/m).and.match(/^Architectures: amd64 all$/m).and.match(/^Date: .+ UTC$/m);
    });

    it('an update that straddles a seal sees no hash mismatch: apt reads the indexes by hash', async () => {
      await sealBuild(s, 'dpkg', 'straddle', '1', { 'hello-tool_1.0-1_amd64.deb': debs.tool1 as Buffer });
      // apt goes through this proxy, which seals a new build of the project right after
      // apt has read InRelease, before it asks for the indexes that InRelease lists.
      const asked: string[] = [];
      let sealedMeanwhile = false;
      const proxy = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/');
        asked.push(url.pathname);
        const forward = (): void => {
          const upstream = http.request({ host: '127.0.0.1', port: s.port, path: url.pathname + url.search, method: req.method, headers: { ...req.headers, host: `127.0.0.1:${s.port}` } }, (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          });
          upstream.on('error', () => res.destroy());
          req.pipe(upstream);
        };
        if (!url.pathname.endsWith('/InRelease') && url.pathname.includes('/dists/') && !sealedMeanwhile) {
          sealedMeanwhile = true;
          void sealBuild(s, 'dpkg', 'straddle', '2', { 'hello-tool_1.1-1_amd64.deb': debs.tool2 as Buffer }).then(forward, () => res.destroy());
          return;
        }
        forward();
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
      try {
        const port = (proxy.address() as AddressInfo).port;
        const a = await apt('straddle', `deb [signed-by=${keyFile}] http://127.0.0.1:${s.port}/-/apt/dpkg/straddle/ stable main\n`);
        const result = await a.aptGet(['update'], [`Acquire::http::Proxy=http://127.0.0.1:${port}/`]);
        expectClean(result, 'apt-get update across a seal');
        expect(sealedMeanwhile).to.equal(true);
        expect(asked.some((p) => p.includes('/by-hash/SHA256/'))).to.equal(true);
        // What apt read is the index of before the seal: 1.0-1 only; the next update sees 1.1-1.
        expectClean(await a.aptGet(['download', 'hello-tool']), 'download after the straddled update');
        expect(sha256(await a.downloaded('hello-tool_1.0-1_amd64.deb'))).to.equal(sha256(debs.tool1 as Buffer));
        expectClean(await a.aptGet(['update']), 'update after');
        expectClean(await a.aptGet(['download', 'hello-tool']), 'download after');
        expect(sha256(await a.downloaded('hello-tool_1.1-1_amd64.deb'))).to.equal(sha256(debs.tool2 as Buffer));
      } finally {
        await new Promise((resolve) => proxy.close(resolve));
      }
    });

    it('the newer sealed build wins a clash of package, version and architecture', async () => {
      const rebuilt = await readFile(await makeDeb(path.join(work), { name: 'clash', version: '2.0', content: 'second build\n' }));
      const first = await readFile(await makeDeb(path.join(work), { name: 'clash', version: '2.0', content: 'first build\n' }));
      await sealBuild(s, 'dpkg', 'clash', '1', { 'clash_2.0_all.deb': first });
      await sealBuild(s, 'dpkg', 'clash', '2', { 'clash_2.0_all.deb': rebuilt });
      const index = await (await fetch(`${s.baseUrl}/-/apt/dpkg/clash/dists/stable/main/binary-all/Packages`)).text();
      expect(index.match(/^Package: clash$/gm)).to.have.length(1);
      expect(index).to.include(`SHA256: ${sha256(rebuilt)}`).and.include('Filename: pool/2/clash_2.0_all.deb');
      const pool = await fetch(`${s.baseUrl}/-/apt/dpkg/clash/pool/2/clash_2.0_all.deb`, { redirect: 'manual' });
      expect(pool.status).to.equal(302);
      expect(pool.headers.get('location')).to.equal('/dpkg/clash/2/clash_2.0_all.deb');
    });

    it('a token cannot write the index files at the build root, nor their lookalikes', async () => {
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'sneaky', build: '1' });
      const auth = basic(t.username, t.password);
      for (const name of ['Packages', 'Packages.gz', 'Release', 'InRelease', 'Release.gpg', 'release', 'INRELEASE', 'Re1ease', 'Packages .gz', 'Ｒｅｌｅａｓｅ', 'Rеlease']) {
        const res = await fetch(`${s.baseUrl}/dpkg/sneaky/1/${encodeURIComponent(name)}`, { method: 'PUT', headers: { Authorization: auth }, body: 'Origin: me\n' });
        expect(res.status, name).to.equal(403);
        expect(await res.text(), name).to.match(/sealed/);
      }
      // Below the root, and a folder called release/, are the build's own.
      expect((await fetch(`${s.baseUrl}/dpkg/sneaky/1/sub/Release`, { method: 'PUT', headers: { Authorization: auth }, body: 'x' })).status).to.equal(201);
      expect((await fetch(`${s.baseUrl}/dpkg/sneaky/1/release/`, { method: 'MKCOL', headers: { Authorization: auth } })).status).to.equal(201);
      expect((await fetch(`${s.baseUrl}/dpkg/sneaky/1/Release/`, { method: 'MKCOL', headers: { Authorization: auth } })).status).to.equal(403);
      await fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    });

    it('a malformed .deb or wheel is not indexed, the seal and the index go on, and the build page says why', async () => {
      const good = debs.tool1 as Buffer;
      const truncated = good.subarray(0, Math.floor(good.length / 3));
      const lying = Buffer.from(good);
      // A "control" member that says it is bigger than the file.
      const at = lying.indexOf('control.tar');
      lying.write('99999999  ', at + 48, 'latin1');
      const bomb = await makeWheel(work, { name: 'bomb', version: '1.0' });
      const bombed = path.join(work, 'bomb-1.0-py3-none-any.whl');
      await run('python3', ['-c', "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1],'w',zipfile.ZIP_DEFLATED)\nz.writestr('bomb-1.0.dist-info/METADATA', b'Name: bomb\\nVersion: 1.0\\n' + b' ' * (200*1024*1024))\nz.close()", bombed]);
      expect(bomb).to.equal(bombed);
      await sealBuild(s, 'dpkg', 'hostile', '1', {
        'truncated_1.0_all.deb': truncated,
        'lying_1.0_amd64.deb': lying,
        'fine_1.0-1_amd64.deb': good,
        'bomb-1.0-py3-none-any.whl': await readFile(bombed),
        'notazip-1.0-py3-none-any.whl': 'not a zip',
      });
      const view = (await (await fetch(`${s.baseUrl}/dpkg/hostile/1/`, { headers: { Accept: 'application/json' } })).json()) as { build: { packages: { debs: number; python: number; skipped: Array<{ path: string; reason: string }> } } };
      expect(view.build.packages.debs).to.equal(1);
      expect(view.build.packages.python).to.equal(0);
      expect(view.build.packages.skipped.map((x) => x.path).sort()).to.deep.equal(['bomb-1.0-py3-none-any.whl', 'lying_1.0_amd64.deb', 'notazip-1.0-py3-none-any.whl', 'truncated_1.0_all.deb']);
      for (const skipped of view.build.packages.skipped) expect(skipped.reason, skipped.path).to.be.a('string').and.have.length.within(5, 300);
      const page = await (await fetch(`${s.baseUrl}/dpkg/hostile/1/`, { headers: { Accept: 'text/html' } })).text();
      expect(page).to.include('Not indexed').and.include('truncated_1.0_all.deb');
      const a = await apt('hostile', `deb [signed-by=${keyFile}] ${s.baseUrl}/-/apt/dpkg/hostile/ stable main\n`);
      expectClean(await a.aptGet(['update']), 'update');
      expectClean(await a.aptGet(['download', 'hello-tool']), 'the good one');
      expect((await fetch(`${s.baseUrl}/-/pypi/simple/bomb/`)).status).to.equal(404);
      expect((await fetch(`${s.baseUrl}/-/health`)).status).to.equal(200);
    });

    it('pip download and install resolve a dependency between two wheels of the repository, in a virtual environment', async function () {
      requireTool(this, 'python3', 'python3-venv');
      const lib = await makeWheel(work, { name: 'hello-lib', version: '1.0', requiresPython: '>=3.7', module: { name: 'hello_lib', source: 'GREETING = "hello from the repository"\n' } });
      const lib2 = await makeWheel(work, { name: 'hello-lib', version: '0.9', module: { name: 'hello_lib', source: 'GREETING = "old"\n' } });
      const app = await makeWheel(work, { name: 'Hello.App', version: '2.0', requiresDist: ['hello-lib>=1.0'], module: { name: 'hello_app', source: 'from hello_lib import GREETING\n' } });
      await sealBuild(s, 'pypi', 'hello-lib', '1', { [`dist/${path.basename(lib2)}`]: await readFile(lib2) });
      await sealBuild(s, 'pypi', 'hello-lib', '2', { [`dist/${path.basename(lib)}`]: await readFile(lib) });
      await sealBuild(s, 'pypi', 'hello-app', '7', { [path.basename(app)]: await readFile(app) });
      const venv = path.join(work, 'venv');
      expect((await run('/usr/bin/python3', ['-m', 'venv', venv])).code).to.equal(0);
      const env = { PATH: `${venv}/bin:/usr/bin:/bin`, HOME: work, PIP_CONFIG_FILE: '/dev/null', PIP_NO_CACHE_DIR: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
      const index = `${s.baseUrl}/-/pypi/simple/`;
      const dl = await run(`${venv}/bin/pip`, ['download', '--no-input', '--index-url', index, '--dest', path.join(work, 'pipdl'), 'hello-app'], { env });
      expect(dl.code, dl.stdout + dl.stderr).to.equal(0);
      expect(sha256(await readFile(path.join(work, 'pipdl', path.basename(lib))))).to.equal(sha256(await readFile(lib)));
      const install = await run(`${venv}/bin/pip`, ['install', '--no-input', '--index-url', index, 'hello-app'], { env });
      expect(install.code, install.stdout + install.stderr).to.equal(0);
      const imported = await run(`${venv}/bin/python`, ['-c', 'import hello_app; print(hello_app.GREETING)'], { env });
      expect(imported.stdout.trim()).to.equal('hello from the repository');
    });

    it('PEP 503 and PEP 691: names normalised (301), links with #sha256, requires-python and core metadata', async () => {
      const index = await fetch(`${s.baseUrl}/-/pypi/simple/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } });
      expect(index.headers.get('content-type')).to.equal('application/vnd.pypi.simple.v1+json');
      const names = ((await index.json()) as { meta: { 'api-version': string }; projects: Array<{ name: string }> }).projects.map((p) => p.name);
      expect(names).to.include.members(['hello-app', 'hello-lib']);
      const moved = await fetch(`${s.baseUrl}/-/pypi/simple/Hello_Lib/`, { redirect: 'manual' });
      expect(moved.status).to.equal(301);
      expect(moved.headers.get('location')).to.equal('/-/pypi/simple/hello-lib/');
      expect((await fetch(`${s.baseUrl}/-/pypi/simple/no-such-thing/`)).status).to.equal(404);
      const json = (await (await fetch(`${s.baseUrl}/-/pypi/simple/hello-lib/`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as {
        meta: { 'api-version': string };
        name: string;
        versions: string[];
        files: Array<{ filename: string; url: string; hashes: { sha256: string }; 'requires-python': string | null; 'core-metadata': { sha256: string } | false; size: number; 'upload-time': string }>;
      };
      expect(json.meta['api-version']).to.match(/^1\.\d+$/);
      expect(json.name).to.equal('hello-lib');
      expect(json.versions).to.deep.equal(['0.9', '1.0']);
      const file = json.files.find((f) => f.filename === 'hello_lib-1.0-py3-none-any.whl');
      expect(file).to.not.equal(undefined);
      const wheel = Buffer.from(await (await fetch(`${s.baseUrl}${file?.url}`)).arrayBuffer());
      expect(file?.hashes.sha256).to.equal(sha256(wheel));
      expect(file?.size).to.equal(wheel.length);
      expect(file?.['requires-python']).to.equal('>=3.7');
      expect(file?.url).to.equal('/pypi/hello-lib/2/dist/hello_lib-1.0-py3-none-any.whl');
      expect(Date.parse(file?.['upload-time'] ?? '')).to.be.greaterThan(0);
      const metadata = await fetch(`${s.baseUrl}${file?.url}.metadata`);
      expect(metadata.status).to.equal(200);
      const metadataBytes = Buffer.from(await metadata.arrayBuffer());
      expect(file?.['core-metadata']).to.deep.equal({ sha256: sha256(metadataBytes) });
      expect(metadataBytes.toString()).to.include('Name: hello-lib\n').and.include('Requires-Python: >=3.7');
      const html = await (await fetch(`${s.baseUrl}/-/pypi/simple/hello-lib/`)).text();
      expect(html).to.include(`href="/pypi/hello-lib/2/dist/hello_lib-1.0-py3-none-any.whl#sha256=${sha256(wheel)}"`).and.include('data-requires-python="&gt;=3.7"').and.include(`data-core-metadata="sha256=${sha256(metadataBytes)}"`);
    });
  });
}

describe('apt and pip indexes through retention, a key rotation and an upgrade', function () {
  this.timeout(180_000);
  let s: TestServer;
  let work: string;
  let dataDir: string;
  let keyFile: string;
  const debs: Record<string, Buffer> = {};

  const cli = (args: string[]): ReturnType<typeof run> =>
    run(process.execPath, ['dist/cli/main.js', ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', DATA_DIR: dataDir, MASTER_USER, MASTER_PASSWORD } });

  before(async function () {
    requireTool(this, 'apt-get', 'apt');
    requireTool(this, 'dpkg-deb', 'dpkg');
    work = await makeTempDir('packages-life-');
    dataDir = path.join(work, 'data');
    const policy = path.join(work, 'retention.json');
    await writeFile(policy, JSON.stringify({ projects: { 'dpkg/ret': { keep_newest: 1, keep_days: 0 } } }));
    s = await startServer({ DATA_DIR: dataDir, RETENTION_POLICY: policy, RETENTION_INTERVAL: '0' });
    debs.old = await readFile(await makeDeb(work, { name: 'ret-tool', version: '1.0-1', arch: 'amd64' }));
    debs.new = await readFile(await makeDeb(work, { name: 'ret-tool', version: '1.1-1', arch: 'amd64' }));
    keyFile = path.join(work, 'keys.asc');
  });

  after(async () => {
    await s?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const aptFor = async (name: string, line: string): Promise<IsolatedApt> => {
    await writeFile(keyFile, await (await fetch(`${s.baseUrl}/-/signing-keys.asc`)).text());
    const a = new IsolatedApt(path.join(work, `apt-${name}-${Math.random().toString(36).slice(2)}`));
    await a.setUp(`deb [signed-by=${keyFile}] ${s.baseUrl}${line}\n`);
    return a;
  };

  it('a build retention removes leaves the project index at once; its by-hash index stays for the clients that read the InRelease before', async () => {
    const wheel = await makeWheel(work, { name: 'ret-lib', version: '1.0' });
    await sealBuild(s, 'dpkg', 'ret', '1', { 'ret-tool_1.0-1_amd64.deb': debs.old as Buffer, [path.basename(wheel)]: await readFile(wheel) });
    await sealBuild(s, 'dpkg', 'ret', '2', { 'ret-tool_1.1-1_amd64.deb': debs.new as Buffer });
    const before = await (await fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/stable/InRelease`)).text();
    const listed = /^ ([0-9a-f]{64}) +\d+ main\/binary-amd64\/Packages$/m.exec(before)?.[1];
    expect(listed).to.be.a('string');
    expect(await (await fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/stable/main/binary-amd64/Packages`)).text()).to.include('Version: 1.0-1');
    expect((await fetch(`${s.baseUrl}/-/pypi/simple/ret-lib/`)).status).to.equal(200);
    const removed = await fetch(`${s.baseUrl}/-/retention`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: '{}' });
    expect(removed.status).to.equal(200);
    expect(((await removed.json()) as { deleted: Array<{ build: string }> }).deleted.map((d) => d.build)).to.deep.equal(['/dpkg/ret/1/']);
    const after = await (await fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/stable/main/binary-amd64/Packages`)).text();
    expect(after).to.include('Version: 1.1-1').and.not.include('Version: 1.0-1');
    expect((await fetch(`${s.baseUrl}/-/pypi/simple/ret-lib/`)).status).to.equal(404);
    // The index the old InRelease lists is still there, by its hash.
    const old = await fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/stable/main/binary-amd64/by-hash/SHA256/${listed}`);
    expect(old.status).to.equal(200);
    expect(sha256(Buffer.from(await old.arrayBuffer()))).to.equal(listed);
    const a = await aptFor('ret', '/-/apt/dpkg/ret/ stable main');
    expect((await a.aptGet(['update'])).code).to.equal(0);
    expect((await a.aptGet(['download', 'ret-tool=1.0-1'])).code).to.not.equal(0);
    expect((await a.aptGet(['download', 'ret-tool'])).code).to.equal(0);
  });

  it('an index replaced hours after it was written stays an hour from its replacement, then goes', async () => {
    const listed = async (): Promise<string> => /^ ([0-9a-f]{64}) +\d+ main\/binary-amd64\/Packages$/m.exec(await (await fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/latest/InRelease`)).text())?.[1] ?? '';
    const byHash = (hex: string): Promise<number> => fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/latest/main/binary-amd64/by-hash/SHA256/${hex}`).then((r) => r.status);
    const first = await listed();
    s.clock.offsetMs = 3 * 3600 * 1000;
    await sealBuild(s, 'dpkg', 'ret', 'later', { 'ret-tool_1.0-1_amd64.deb': debs.old as Buffer });
    const second = await listed();
    expect(second).to.not.equal(first);
    expect(await byHash(first), 'replaced just now, after hours in use').to.equal(200);
    s.clock.offsetMs += 2 * 3600 * 1000;
    await sealBuild(s, 'dpkg', 'ret', 'later2', { 'ret-tool_1.1-1_amd64.deb': debs.new as Buffer });
    expect(await byHash(first), 'replaced two hours ago').to.equal(404);
    expect(await byHash(second), 'replaced just now').to.equal(200);
    s.clock.offsetMs = 0;
  });

  it('after a key rotation the old and the new key are in signing-keys.asc; every index verifies with it, the projects\' at once with the new key', async () => {
    const oldKey = (await fetch(`${s.baseUrl}/-/signing-key.asc`)).headers.get('x-key-fingerprint');
    const rotated = await cli(['signing-key', 'rotate']);
    expect(rotated.code, rotated.stderr).to.equal(0);
    const newKey = (await fetch(`${s.baseUrl}/-/signing-key.asc`)).headers.get('x-key-fingerprint');
    expect(newKey).to.match(/^[0-9A-F]{40}$/).and.not.equal(oldKey);
    const keys = await (await fetch(`${s.baseUrl}/-/signing-keys.asc`)).text();
    expect(keys.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----/g)).to.have.length(2);
    await sealBuild(s, 'dpkg', 'ret', '3', { 'ret-tool_1.1-1_amd64.deb': debs.new as Buffer });
    // The old build's flat index (the old key), the new one's (the new key), the project's (re-signed).
    for (const line of ['/dpkg/ret/2/ /', '/dpkg/ret/3/ /', '/-/apt/dpkg/ret/ stable main']) {
      const a = await aptFor('rot', line);
      const update = await a.aptGet(['update']);
      expect(update.code, `${line}: ${update.stdout}${update.stderr}`).to.equal(0);
      expect(update.stdout + update.stderr, line).to.not.match(/^(W|E):/m);
    }
    // With the new key alone, the project verifies (re-signed at the rotation), the old build's flat index does not.
    await writeFile(keyFile, await (await fetch(`${s.baseUrl}/-/signing-key.asc`)).text());
    const project = new IsolatedApt(path.join(work, 'apt-newkey-project'));
    await project.setUp(`deb [signed-by=${keyFile}] ${s.baseUrl}/-/apt/dpkg/ret/ latest main\n`);
    expect((await project.aptGet(['update'])).code).to.equal(0);
    const oldFlat = new IsolatedApt(path.join(work, 'apt-newkey-old'));
    await oldFlat.setUp(`deb [signed-by=${keyFile}] ${s.baseUrl}/dpkg/ret/2/ /\n`);
    expect((await oldFlat.aptGet(['update'])).code).to.not.equal(0);
  });

  it('a restart leaves the project indexes as they were; indexes a crash kept from being written are written at start', async () => {
    const inRelease = `${s.baseUrl}/-/apt/dpkg/ret/dists/stable/InRelease`;
    const before = await (await fetch(inRelease)).text();
    await s.close();
    s = await startServer({ DATA_DIR: dataDir, RETENTION_INTERVAL: '0' });
    await new Promise((r) => setTimeout(r, 500));
    expect(await (await fetch(inRelease.replace(/^http:\/\/[^/]+/, s.baseUrl))).text()).to.equal(before);
    await s.close();
    // As if the server died between a seal and its project's index.
    await rm(path.join(dataDir, 'artifacts', '.apt', 'dpkg', 'ret'), { recursive: true, force: true });
    s = await startServer({ DATA_DIR: dataDir, RETENTION_INTERVAL: '0' });
    const again = await until('the indexes written at start', async () => {
      const res = await fetch(`${s.baseUrl}/-/apt/dpkg/ret/dists/stable/main/binary-amd64/Packages`);
      return res.status === 200 ? res.text() : null;
    });
    expect(again).to.include('Version: 1.1-1');
  });

  it('a repository from before (SSH keys only) gets its OpenPGP key at start; the SSH key stays', async () => {
    const ssh = await (await fetch(`${s.baseUrl}/-/signing-key`)).text();
    await s.close();
    const file = path.join(dataDir, 'tokens', 'signing-keys.json');
    const stored = JSON.parse(await readFile(file, 'utf8')) as Array<Record<string, unknown>>;
    await writeFile(file, JSON.stringify(stored.map(({ pgpPublic: _p, pgpPrivate: _q, ...rest }) => rest)));
    s = await startServer({ DATA_DIR: dataDir, RETENTION_INTERVAL: '0' });
    expect(await (await fetch(`${s.baseUrl}/-/signing-key`)).text()).to.equal(ssh);
    const asc = await fetch(`${s.baseUrl}/-/signing-key.asc`);
    expect(asc.status).to.equal(200);
    expect(await asc.text()).to.match(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
    await sealBuild(s, 'dpkg', 'ret', '4', { 'ret-tool_1.1-1_amd64.deb': debs.new as Buffer });
    const a = await aptFor('upgraded', '/dpkg/ret/4/ /');
    expect((await a.aptGet(['update'])).code).to.equal(0);
  });
});
