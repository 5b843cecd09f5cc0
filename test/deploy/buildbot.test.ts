// examples/buildbot/master.cfg on a real buildbot 3.7 master and worker from Debian's
// packages, on loopback, against the real server: a build mints, downloads through the
// build proxy (recorded), uploads and revokes; with the origin stopped, the rebuild
// builder replays it offline and /-/compare calls the two the same; a build whose upload
// fails still revokes; no secret reaches buildbot's database or logs.
import { expect } from 'chai';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, MASTER_AUTH, MASTER_PASSWORD, REPO_ROOT, startChild, type ChildServer } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { requireTool, run } from '../helpers/tools.js';

interface BuildRecord {
  number: number;
  results: number | null;
  complete: boolean;
  steps: { name: string; results: number | null }[];
  properties: Record<string, unknown>;
  logs: Record<string, string>;
}

const SUCCESS = 0;
const REVISION = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const FAILURE = 2;

describe('buildbot: examples/buildbot/master.cfg on a real master and worker', function () {
  this.timeout(240_000);
  let buildbot: string;
  let buildbotWorker: string;
  let root: string;
  let app: ChildServer;
  let masterDir: string;
  let workerDir: string;
  let pbPort: number;
  let env: NodeJS.ProcessEnv;
  let origin: Origin;

  async function builds(): Promise<BuildRecord[]> {
    const result = await run('/usr/bin/python3', [path.join(REPO_ROOT, 'test/helpers/buildbot_db.py'), masterDir]);
    if (result.code !== 0) throw new Error(result.stderr);
    return JSON.parse(result.stdout) as BuildRecord[];
  }

  async function buildAfterChange(properties: string[] = [], branch = 'main', change: string[] = []): Promise<BuildRecord> {
    const before = (await builds()).length;
    const sent = await run(buildbot, ['sendchange', '--master', `127.0.0.1:${pbPort}`, '--auth', 'change:change-password', '--who', 'test', '--branch', branch, ...change, ...properties.map((p) => `--property=${p}`), 'README'], { env });
    expect(sent.code, sent.stderr + sent.stdout).to.equal(0);
    for (let i = 0; i < 600; i++) {
      const all = await builds();
      const build = all[before];
      if (build?.complete) return build;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no build finished: ${await readFile(path.join(masterDir, 'twistd.log'), 'utf8')}`);
  }

  async function storedToken(id: string): Promise<{ revoked_at: string | null; hash: string | null }> {
    const store = JSON.parse(await readFile(path.join(root, 'tokens', 'tokens.json'), 'utf8')) as { tokens: Record<string, { revoked_at: string | null; hash: string | null }> };
    return store.tokens[id] as { revoked_at: string | null; hash: string | null };
  }

  before(async function () {
    buildbot = requireTool(this, 'buildbot', 'buildbot');
    buildbotWorker = requireTool(this, 'buildbot-worker', 'buildbot-worker');
    requireTool(this, 'curl', 'curl');
    for (const [tool, pkg] of [['nginx', 'nginx'], ['openssl', 'openssl'], ['fcgiwrap', 'fcgiwrap'], ['git', 'git']] as const) requireTool(this, tool, pkg);
    origin = await startOrigin();
    root = await makeTempDir('buildbot-');
    const proxyPort = await freePort();
    app = await startChild(root, { PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile });
    pbPort = await freePort();
    masterDir = path.join(root, 'master');
    workerDir = path.join(root, 'worker');
    env = {
      ...process.env,
      ARTIFACT_REPO_URL: app.baseUrl,
      ARTIFACT_PROXY_URL: `http://127.0.0.1:${proxyPort}`,
      SOURCE_URL: `${origin.httpsBase}/files/hello.txt`,
      BUILDBOT_PB_PORT: String(pbPort),
      BUILDBOT_LOOPBACK: '1',
      BUILDBOT_WORKER_PASSWORD: 'worker-password',
      BUILDBOT_CHANGE_PASSWORD: 'change-password',
    };
    const created = await run(buildbot, ['create-master', '-q', masterDir], { env });
    expect(created.code, created.stderr).to.equal(0);
    await copyFile(path.join(REPO_ROOT, 'examples/buildbot/master.cfg'), path.join(masterDir, 'master.cfg'));
    await mkdir(path.join(masterDir, 'secrets'), { mode: 0o700 });
    await writeFile(path.join(masterDir, 'secrets', 'artifact-repo-master'), MASTER_PASSWORD, { mode: 0o600 });
    const started = await run(buildbot, ['start', masterDir], { env, timeoutMs: 60_000 });
    expect(started.code, started.stdout + started.stderr).to.equal(0);
    expect((await run(buildbotWorker, ['create-worker', '-q', workerDir, `127.0.0.1:${pbPort}`, 'worker1', 'worker-password'], { env })).code).to.equal(0);
    const worker = await run(buildbotWorker, ['start', workerDir], { env, timeoutMs: 60_000 });
    expect(worker.code, worker.stdout + worker.stderr).to.equal(0);
    // The worker must be attached before a change arrives.
    for (let i = 0; i < 100; i++) {
      if ((await readFile(path.join(masterDir, 'twistd.log'), 'utf8')).includes("worker 'worker1' attaching")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (workerDir) await run(buildbotWorker, ['stop', workerDir], { env });
    if (masterDir) await run(buildbot, ['stop', masterDir], { env });
    await app?.stop();
    await origin?.remove();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('a build mints a token, downloads through the build proxy, uploads and revokes; the artifacts download byte-identical', async () => {
    const build = await buildAfterChange([], 'main', ['--revision', REVISION, '--repository', 'https://git.example.org/hello.git']);
    expect(build.steps.map((s) => [s.name, s.results])).to.deep.equal([
      ['worker_preparation', SUCCESS],
      ['mint artifact token', SUCCESS],
      ['build', SUCCESS],
      ['upload artifacts', SUCCESS],
      ['revoke artifact token', SUCCESS],
    ]);
    expect(build.results).to.equal(SUCCESS);
    const scope = `/dpkg/hello/${build.number}/`;
    expect(build.properties.artifact_token_scope).to.equal(scope);
    expect(await (await fetch(`${app.baseUrl}${scope}hello_1.0_amd64.deb`)).text()).to.equal('hello 1.0\n');
    expect(await (await fetch(`${app.baseUrl}${scope}docs/NOTES.txt`)).text()).to.equal('notes\n');
    // What it downloaded is its input, recorded beside its outputs.
    expect(await (await fetch(`${app.baseUrl}${scope}source.txt`)).text()).to.equal('hello from the origin\n');
    const inputs = (await (await fetch(`${app.baseUrl}/-/inputs?build=${scope}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } })).json()) as { exchanges: { url: string }[] };
    expect(inputs.exchanges.map((e) => e.url)).to.deep.equal([`${origin.httpsBase}/files/hello.txt`]);
    const token = await storedToken(build.properties.artifact_token_id as string);
    expect(token.revoked_at).to.be.a('string');
    expect(token.hash).to.equal(null);
    const live = (await (await fetch(`${app.baseUrl}/-/tokens`, { headers: { Authorization: MASTER_AUTH } })).json()) as unknown[];
    expect(live).to.deep.equal([]);
    // Who built it: the change's revision, branch and repository, and the build's page on buildbot.
    const view = (await (await fetch(`${app.baseUrl}${scope}`, { headers: { Accept: 'application/json' } })).json()) as { build: { source: unknown; builder: { id: string; url: string } } };
    expect(view.build.source).to.deep.equal({ uri: 'https://git.example.org/hello.git', revision: REVISION, branch: 'main' });
    expect(view.build.builder.url).to.match(new RegExp(`#builders/\\d+/builds/${build.number}$`));
    const page = await (await fetch(`${app.baseUrl}${scope}`)).text();
    expect(page).to.include(`<code title="${REVISION}">${REVISION.slice(0, 12)}</code> on main`).and.include(`href="${view.build.builder.url}"`);
    // Sealed, it is the newest build of the project, on its branch too.
    const latest = await fetch(`${app.baseUrl}/-/latest/dpkg/hello/?branch=main`, { redirect: 'manual' });
    expect(latest.status).to.equal(302);
    expect(latest.headers.get('location')).to.equal(scope);
  });

  it('the token password is masked in the logs and absent from the database; the master password appears nowhere', async () => {
    const [build] = await builds();
    const upload = build?.logs['upload artifacts'] ?? '';
    expect(upload).to.include('ARTIFACT_PASSWORD=<artifact-token>');
    expect(upload).to.include('uploaded hello_1.0_amd64.deb');
    // The proxy URL carries the token: masked in the build step's log as well.
    expect(build?.logs.build ?? '').to.match(/ARTIFACT_PROXY_WITH_TOKEN=http:\/\/[A-Za-z0-9]+:<artifact-token>@127\.0\.0\.1:\d+/);
    expect(Object.keys(build?.properties ?? {}).filter((k) => /password/i.test(k))).to.deep.equal([]);
    const everything = JSON.stringify(await builds()) + (await readFile(path.join(masterDir, 'twistd.log'), 'utf8'));
    expect(everything).to.not.include(MASTER_PASSWORD);
  });

  it('with the origin gone, the rebuild builder replays build 1 offline and the two are the same build', async () => {
    await origin.stop();
    const build = await buildAfterChange(['rebuild_of:1'], 'rebuild');
    expect(build.steps.map((s) => [s.name, s.results])).to.deep.equal([
      ['worker_preparation', SUCCESS],
      ['mint artifact token', SUCCESS],
      ['build', SUCCESS],
      ['upload artifacts', SUCCESS],
      ['revoke artifact token', SUCCESS],
      ['compare with the original', SUCCESS],
    ]);
    const compare = (await (await fetch(`${app.baseUrl}/-/compare?from=/dpkg/hello/1/&to=/dpkg/hello/1-rebuild/`, { headers: { Accept: 'application/json' } })).json()) as { reproducible: boolean; inputs: { counts: Record<string, number> } };
    expect(compare.reproducible).to.equal(true);
    expect(compare.inputs.counts).to.deep.equal({ added: 0, removed: 0, changed: 0, identical: 1 });
    await origin.start();
  });

  it('a build that fails in its upload step still revokes its token', async () => {
    const build = await buildAfterChange(['upload_dir:no-such-directory']);
    const steps = Object.fromEntries(build.steps.map((s) => [s.name, s.results]));
    expect(steps['upload artifacts']).to.equal(FAILURE);
    expect(steps['revoke artifact token']).to.equal(SUCCESS);
    expect(build.results).to.equal(FAILURE);
    const token = await storedToken(build.properties.artifact_token_id as string);
    expect(token.revoked_at).to.be.a('string');
  });
});
