// What a newcomer meets in the first hour, each as they would meet it: mint mistakes named,
// the CLI's help and its errors, the client served by the repository (and the package
// npm pack makes), browsers answered with pages (a missing path, a master-only page, the
// compare form, a search by name) and the mirror declared from its page's form.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../helpers/nginx.js';
import { run, type RunResult } from '../helpers/tools.js';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';

/** `node FILE ARGS` in an empty directory, with nothing of the test's environment but PATH and HOME. */
function node(file: string, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<RunResult> {
  return run(process.execPath, [file, ...args], { cwd: cwd ?? REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env } });
}

const CLI = path.join(REPO_ROOT, 'dist/cli/main.js');

describe('the first hour', function () {
  this.timeout(60_000);
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s?.close());

  describe('mint names what is wrong with a request', () => {
    const mint = (body: Record<string, unknown>): Promise<Response> =>
      fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

    it('an unknown field is refused by name (a typo never mints another build than meant), and nothing is made', async () => {
      for (const [extra, name] of [[{ tll: 60 }, 'tll'], [{ replay_of: '/dpkg/a/1/' }, 'replay_of']] as const) {
        const res = await mint({ type: 'dpkg', project: 'typo', build: '1', ...extra });
        expect(res.status).to.equal(400);
        expect(((await res.json()) as { error: string }).error).to.include(`unknown field "${name}"`);
      }
      expect((await fetch(`${s.baseUrl}/dpkg/typo/1/`)).status).to.equal(404);
    });

    it('a missing field is "required", a malformed one still says its form', async () => {
      const missing = await mint({ type: 'dpkg', project: 'p' });
      expect(((await missing.json()) as { error: string }).error).to.equal('build is required');
      const bad = await mint({ type: 'dpkg', project: 'p', build: '../x' });
      expect(((await bad.json()) as { error: string }).error).to.match(/^build must be a string matching/);
    });
  });

  describe('the CLI', () => {
    it('answers --help for every command with its own usage, exit 0', async () => {
      for (const command of ['master', 'token', 'mirror', 'retention', 'migrate', 'signing-key', 'serve', 'verify', 'proxy-env', 'upload', 'mint', 'revoke']) {
        const r = await node(CLI, [command, '--help']);
        expect(r.code, `${command}: ${r.stderr}`).to.equal(0);
        expect(r.stdout, command).to.match(new RegExp(`usage: artifact-repo ${command}\\b`));
      }
      const all = await node(CLI, ['--help']);
      expect(all.code).to.equal(0);
      expect(all.stdout).to.include('/-/client/artifact-repo');
    });

    it('says "unknown command" and "Unknown option", exit 2', async () => {
      const bogus = await node(CLI, ['bogus']);
      expect(bogus.code).to.equal(2);
      expect(bogus.stderr).to.include('unknown command "bogus"');
      const sub = await node(CLI, ['master', 'frobnicate'], { DATA_DIR: await makeTempDir() });
      expect(sub.code).to.equal(2);
      expect(sub.stderr).to.include('unknown master command "frobnicate"');
      const option = await node(CLI, ['verify', 'http://127.0.0.1:9/a/b/c/', '--frob']);
      expect(option.code).to.equal(2);
      expect(option.stderr).to.match(/Unknown option '--frob'/).and.include('usage: artifact-repo verify');
    });

    it('an admin command with no DATA_DIR and no repository in ./data says so, and makes nothing', async () => {
      const empty = await makeTempDir();
      const r = await run(process.execPath, [CLI, 'mirror', 'list'], { cwd: empty, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: empty } });
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include(`no repository in ${path.join(empty, 'data', 'tokens')}`).and.include('DATA_DIR');
      expect(await readFile(path.join(empty, 'data')).catch((err: NodeJS.ErrnoException) => err.code)).to.equal('ENOENT');
    });

    it('verify tells a missing build, an open one and no server apart; upload tells scope from credentials', async () => {
      const key = path.join(await makeTempDir(), 'key.pub');
      await writeFile(key, await (await fetch(`${s.baseUrl}/-/signing-key`)).text());
      const missing = await node(CLI, ['verify', `${s.baseUrl}/dpkg/none/1/`, '--key', key]);
      expect(missing.code).to.equal(1);
      expect(missing.stdout + missing.stderr).to.include(`no build at ${s.baseUrl}/dpkg/none/1/ (404)`);
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'open', build: '1' });
      const open = await node(CLI, ['verify', `${s.baseUrl}/dpkg/open/1/`, '--key', key]);
      expect(open.stdout + open.stderr).to.include('is not sealed yet');
      const closed = await freePort();
      const nobody = await node(CLI, ['verify', `http://127.0.0.1:${closed}/dpkg/a/1/`, '--key', key]);
      expect(nobody.stdout + nobody.stderr).to.include(`cannot reach http://127.0.0.1:${closed}: connect ECONNREFUSED 127.0.0.1:${closed}`);

      const dir = await makeTempDir();
      await writeFile(path.join(dir, 'a.txt'), 'a\n');
      const env = { ARTIFACT_USER: t.username, ARTIFACT_PASSWORD: t.password };
      const elsewhere = await node(CLI, ['upload', dir, `${s.baseUrl}/dpkg/other/1/`], env);
      expect(elsewhere.code).to.equal(1);
      expect(elsewhere.stderr).to.include("stopped: the token may not write there (403 Forbidden: outside this token's scope /dpkg/open/1/)");
      const wrong = await node(CLI, ['upload', dir, `${s.baseUrl}/dpkg/open/1/`], { ...env, ARTIFACT_PASSWORD: 'wrong-password' });
      expect(wrong.stderr).to.include('stopped: the server refused the credentials (token wrong, expired or revoked)');
    });

    it('mint prints export lines a shell evaluates, and revoke seals; the master password is never printed', async () => {
      const meta = '--repository https://git.example.org/x.git --revision abc1234 --branch main --build-url https://ci.example.org/1 --property worker=w1';
      const script = `eval "$(node ${CLI} mint ${s.baseUrl} dpkg/cli-mint/1 --ttl 600 ${meta})" && printf '%s\\n' "$ARTIFACT_URL" && node ${CLI} revoke ${s.baseUrl}`;
      const r = await run('sh', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', MASTER_USER, MASTER_PASSWORD } });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(`${s.baseUrl}/dpkg/cli-mint/1/`).and.match(/revoked token \S+: the build is sealed/);
      expect(r.stderr).to.match(/minted token \S+ for \/dpkg\/cli-mint\/1\/ \(build proxy recording\), expires /);
      expect(r.stdout + r.stderr).to.not.include(MASTER_PASSWORD);
      const view = (await (await fetch(`${s.baseUrl}/dpkg/cli-mint/1/`, { headers: { Accept: 'application/json' } })).json()) as { build: Record<string, unknown> };
      expect(view.build.source).to.deep.equal({ uri: 'https://git.example.org/x.git', revision: 'abc1234', branch: 'main' });
      expect(view.build.builder).to.deep.equal({ url: 'https://ci.example.org/1' });
      expect(view.build.properties).to.deep.equal({ worker: 'w1' });
    });

    it('a failing mint or proxy-env makes its eval fail, so a script stops instead of building unrecorded', async () => {
      const script = `set -e; eval "$(node ${CLI} mint ${s.baseUrl} dpkg/cli-mint/1)"; echo went-on`;
      const sealed = await run('sh', ['-c', script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', MASTER_USER, MASTER_PASSWORD } });
      expect(sealed.code).to.not.equal(0);
      expect(sealed.stdout).to.not.include('went-on');
      expect(sealed.stderr).to.include('/dpkg/cli-mint/1/ is sealed');
      const closed = await freePort();
      const proxy = await run('sh', ['-c', `set -e; eval "$(node ${CLI} proxy-env http://127.0.0.1:${closed}/)"; echo went-on`], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: await makeTempDir() } });
      expect(proxy.code).to.not.equal(0);
      expect(proxy.stdout).to.not.include('went-on');
      expect(proxy.stderr).to.include(`cannot reach http://127.0.0.1:${closed}`);
    });
  });

  describe('the client, served by the repository', () => {
    it('is one file with its checksum, and runs from a directory with nothing installed', async () => {
      const res = await fetch(`${s.baseUrl}/-/client/artifact-repo`);
      expect(res.status).to.equal(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      expect(res.headers.get('x-checksum-sha256')).to.equal(sha256);
      expect(await (await fetch(`${s.baseUrl}/-/client/artifact-repo.sha256`)).text()).to.equal(`${sha256}  artifact-repo\n`);
      // curl, not fetch: fetch marks a conditional request no-cache, which asks for the body again.
      const again = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${res.headers.get('etag') as string}`, `${s.baseUrl}/-/client/artifact-repo`], {});
      expect(again.stdout).to.equal('304');
      // No node_modules up the tree of a fresh temporary directory.
      const dir = await makeTempDir('client-');
      await mkdir(path.join(dir, 'bin'));
      await writeFile(path.join(dir, 'bin', 'artifact-repo'), bytes, { mode: 0o755 });
      const help = await run(path.join(dir, 'bin', 'artifact-repo'), ['--help'], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
      expect(help.code, help.stderr).to.equal(0);
      expect(help.stdout).to.include('upload').and.include('proxy-env').and.include('verify').and.not.include('master add');
      // Saved inside a project whose package.json says "type": "module" (Node then reads it as an ES module), it runs too.
      const esm = await makeTempDir('client-esm-');
      await writeFile(path.join(esm, 'package.json'), '{"type":"module"}\n');
      await writeFile(path.join(esm, 'artifact-repo'), bytes, { mode: 0o755 });
      const inModule = await run(path.join(esm, 'artifact-repo'), ['verify', '--help'], { cwd: esm, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: esm } });
      expect(inModule.code, inModule.stderr).to.equal(0);
      expect(inModule.stdout).to.include('usage: artifact-repo verify');
    });

    it('npm pack makes a package that installs the whole command', async function () {
      this.timeout(240_000);
      const work = await makeTempDir('pack-');
      // --ignore-scripts: prepack would rebuild dist/ under the running suite; pretest built it.
      const packed = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT, env: { ...process.env, npm_config_loglevel: 'error' } });
      expect(packed.code, packed.stderr).to.equal(0);
      const tarball = path.join(work, packed.stdout.trim().split('\n').pop() as string);
      const list = await run('tar', ['-tzf', tarball], {});
      expect(list.stdout).to.include('package/dist/client/artifact-repo').and.include('package/dist/cli/main.js').and.include('package/dist/server/main.js');
      expect(list.stdout).to.not.include('package/dist/test/');
      // From the npm cache npm ci filled, where it can (the registry for what it lacks).
      const prefix = path.join(work, 'prefix');
      const installed = await run('npm', ['install', '--global', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', prefix, tarball], { env: { ...process.env, npm_config_loglevel: 'error' } });
      expect(installed.code, installed.stderr).to.equal(0);
      const help = await run(path.join(prefix, 'bin', 'artifact-repo'), ['master', '--help'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      expect(help.code, help.stderr).to.equal(0);
      expect(help.stdout).to.include('usage: artifact-repo master add NAME');
    });
  });

  describe('browsers get pages', () => {
    const html = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

    it('a missing path is a styled 404 page for a browser and a line of text for curl', async () => {
      const page = await fetch(`${s.baseUrl}/dpkg/nope/`, { headers: html });
      expect(page.status).to.equal(404);
      expect(page.headers.get('content-type')).to.include('text/html');
      expect(await page.text()).to.include('<h1>404 Not Found</h1>').and.include('<header class="site">');
      const plain = await fetch(`${s.baseUrl}/dpkg/nope/`);
      expect(plain.headers.get('content-type')).to.include('text/plain');
    });

    it('a master-only page asks a browser for credentials with a page that says why; programs still get JSON', async () => {
      const page = await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/open/1/`, { headers: html });
      expect(page.status).to.equal(401);
      expect(page.headers.get('www-authenticate')).to.match(/^Basic realm="artifact-repo"/);
      expect(await page.text()).to.include('This page is for build masters').and.include('<header class="site">');
      const json = await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/open/1/`, { headers: { Accept: 'application/json' } });
      expect(await json.json()).to.deep.equal({ error: 'master credentials required' });
    });

    it('/-/compare with no builds is a form for a browser, and still a 400 for a program', async () => {
      const page = await fetch(`${s.baseUrl}/-/compare`, { headers: html });
      expect(page.status).to.equal(200);
      expect(await page.text()).to.include('<form class="compare" method="get" action="/-/compare">');
      expect((await fetch(`${s.baseUrl}/-/compare`, { headers: { Accept: 'application/json' } })).status).to.equal(400);
    });

    it('search finds projects and builds by name, and ?sha256= still takes only a checksum', async () => {
      const t = await mintWith(s.baseUrl, { type: 'appimage', project: 'Hello-Tool', build: '7' });
      expect(t.scope).to.equal('/appimage/Hello-Tool/7/');
      const byName = (await (await fetch(`${s.baseUrl}/-/search?q=hello-t`, { headers: { Accept: 'application/json' } })).json()) as { names: Array<{ kind: string; path: string }> };
      expect(byName.names).to.deep.include({ kind: 'project', path: '/appimage/Hello-Tool/', href: '/appimage/Hello-Tool/' });
      const build = (await (await fetch(`${s.baseUrl}/-/search?q=Hello-Tool/7`, { headers: { Accept: 'application/json' } })).json()) as { names: Array<{ kind: string; path: string }> };
      expect(build.names.map((n) => [n.kind, n.path])).to.deep.equal([['build', '/appimage/Hello-Tool/7/']]);
      expect((await fetch(`${s.baseUrl}/-/search?sha256=hello`, { headers: { Accept: 'application/json' } })).status).to.equal(400);
    });
  });

  describe('the mirror page', () => {
    const form = (fields: Record<string, string>, headers: Record<string, string>, to = '/-/mirror'): Promise<Response> =>
      fetch(`${s.baseUrl}${to}`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });

    it('declares from its form (a master, this site only) and removes from the entry page', async () => {
      const fields = { url: 'https://example.invalid/tool-1.0.tar.gz', note: 'the compiler we pin' };
      const own = { Origin: s.baseUrl };
      // Another site's form, even with the master's credentials the browser holds: refused, nothing declared.
      const foreign = await form(fields, { Authorization: MASTER_AUTH, Origin: 'https://evil.example' });
      expect(foreign.status).to.equal(403);
      expect(await foreign.text()).to.include('may not change anything here');
      expect((await form(fields, { Authorization: MASTER_AUTH, 'Sec-Fetch-Site': 'cross-site' })).status).to.equal(403);
      const anonymous = await form(fields, own);
      expect(anonymous.status).to.equal(401);
      expect(anonymous.headers.get('www-authenticate')).to.match(/^Basic/);
      const list = (): Promise<{ entries: Array<{ id: string; url: string | null; note: string }> }> => fetch(`${s.baseUrl}/-/mirror`, { headers: { Accept: 'application/json' } }).then((r) => r.json() as never);
      expect((await list()).entries).to.deep.equal([]);

      const declared = await form(fields, { ...own, Authorization: MASTER_AUTH });
      expect(declared.status).to.equal(303);
      const where = declared.headers.get('location') as string;
      expect(where).to.match(/^\/-\/mirror\/[A-Za-z0-9_-]+$/);
      const entry = (await list()).entries[0];
      expect(entry).to.include({ url: fields.url, note: fields.note });
      const page = await (await fetch(`${s.baseUrl}${where}`, { headers: { Accept: 'text/html' } })).text();
      expect(page).to.include(`mirror entry ${entry?.id}`).and.include('the compiler we pin').and.include('master:buildbot');

      const bad = await form({ url: 'not a url' }, { ...own, Authorization: MASTER_AUTH });
      expect(bad.status).to.equal(400);
      expect(await bad.text()).to.include('<h1>400 Bad Request</h1>');

      expect((await form({ action: 'remove' }, { Authorization: basic(MASTER_USER, 'wrong'), ...own }, where)).status).to.equal(401);
      const removed = await form({ action: 'remove' }, { ...own, Authorization: MASTER_AUTH }, where);
      expect(removed.status).to.equal(303);
      expect(removed.headers.get('location')).to.equal('/-/mirror');
      expect((await list()).entries).to.deep.equal([]);
    });
  });
});
