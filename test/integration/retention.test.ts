// Retention: which sealed builds a policy lets go (dry run and real run), pins, the
// schedule, and removal of read-only sealed trees by a non-root service user.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, lstat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, skipUnlessCi, type RunResult } from '../helpers/tools.js';
import { basic, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startServer, type MintedToken, type TestServer, until } from '../helpers/harness.js';

const DAY = 24 * 3600 * 1000;
const NOBODY = 65534;

interface RetiredBuild {
  build: string;
  sealed_at: string;
  reason: string;
  files: number;
  bytes: number;
}

interface RetentionReport {
  dry_run: boolean;
  ran_at: string;
  deleted: RetiredBuild[];
  kept: number;
}

interface Policy {
  default?: { keep_newest: number; keep_days: number };
  types?: Record<string, { keep_newest: number; keep_days: number }>;
  projects?: Record<string, { keep_newest: number; keep_days: number }>;
}

/** A temporary folder any user can read (mkdtemp makes it 0700). */
async function openTempDir(label: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), label));
  await chmod(dir, 0o755);
  return dir;
}

async function writePolicy(dir: string, policy: Policy, name = 'retention.json'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(policy));
  await chmod(file, 0o644);
  return file;
}

async function buildView(baseUrl: string, scope: string): Promise<{ status: number; sealed: boolean | null; sealedAt: string | null }> {
  const res = await fetch(`${baseUrl}${scope}`, { headers: { Accept: 'application/json' } });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return { status: res.status, sealed: null, sealedAt: null };
  }
  const view = (await res.json()) as { build?: { sealed: boolean; sealedAt: string | null } };
  return { status: res.status, sealed: view.build?.sealed ?? null, sealedAt: view.build?.sealedAt ?? null };
}

async function waitSealed(baseUrl: string, scope: string): Promise<string> {
  return until(`${scope} to be sealed`, async () => {
    const view = await buildView(baseUrl, scope);
    return view.sealed === true ? (view.sealedAt ?? 'sealed') : null;
  });
}

async function putFile(baseUrl: string, t: MintedToken, name: string, body: Buffer): Promise<void> {
  const res = await fetch(`${baseUrl}${t.scope}${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: new Uint8Array(body) });
  expect(res.status, `PUT ${t.scope}${name}`).to.equal(201);
}

async function revokeOwn(baseUrl: string, t: MintedToken): Promise<void> {
  const res = await fetch(`${baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: basic(t.username, t.password) } });
  expect(res.status, `revoke of ${t.id}`).to.equal(204);
}

/** Mints a token for the build, uploads the files, revokes the token, waits for the seal. */
async function sealedBuild(baseUrl: string, type: string, project: string, build: string, files: Record<string, Buffer>): Promise<MintedToken> {
  const t = await mintWith(baseUrl, { type, project, build });
  for (const [name, body] of Object.entries(files)) await putFile(baseUrl, t, name, body);
  await revokeOwn(baseUrl, t);
  await waitSealed(baseUrl, t.scope);
  return t;
}

async function getBytes(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** Anything at the path, a metadata link included (lstat: links are not followed). */
async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

function retention(baseUrl: string, dryRun: boolean, auth: string | null = MASTER_AUTH, contentType = 'application/json'): Promise<Response> {
  const headers: Record<string, string> = { 'Content-Type': contentType };
  if (auth) headers.Authorization = auth;
  return fetch(`${baseUrl}/-/retention${dryRun ? '?dry_run=1' : ''}`, { method: 'POST', headers, body: '{}' });
}

async function runRetention(baseUrl: string, dryRun: boolean): Promise<RetentionReport> {
  const res = await retention(baseUrl, dryRun);
  expect(res.status, 'POST /-/retention').to.equal(200);
  return (await res.json()) as RetentionReport;
}

/**
 * What the policy rule says, computed here from the test's own record of when each build
 * was sealed: sealed, unpinned, not among the newest keepNewest sealed, sealed at least
 * keepDays ago; oldest first.
 */
function expectedDeletions(sealedOnDay: Map<string, number>, pinned: Set<string>, today: number, rule: { keep_newest: number; keep_days: number }): string[] {
  const newestFirst = [...sealedOnDay.entries()].sort((a, b) => b[1] - a[1]);
  const doomed: string[] = [];
  newestFirst.forEach(([build, day], rank) => {
    if (rank < rule.keep_newest) return;
    if (pinned.has(build)) return;
    if (today - day < rule.keep_days) return;
    doomed.push(build);
  });
  return doomed.reverse();
}

describe('retention: policy runs on demand', function () {
  this.timeout(60_000);
  const RULE = { keep_newest: 1, keep_days: 15 };
  const TODAY = 50;
  let dir: string;
  let s: TestServer;
  /** Build scope -> day (clock offset) it was sealed on. */
  const sealedOnDay = new Map<string, number>();
  /** Every file uploaded: URL path -> bytes. */
  const contents = new Map<string, Buffer>();
  const pinned = new Set<string>(['/dpkg/hello/2/']);
  const openBuild = '/dpkg/hello/7/';
  let expected: string[];

  before(async () => {
    dir = await openTempDir('artifact-retention-');
    const policy = await writePolicy(dir, { projects: { 'dpkg/hello': RULE } });
    s = await startServer({ RETENTION_POLICY: policy, RETENTION_INTERVAL: '0' });
    // Builds 1..6, each sealed 10 days after the one before.
    for (let n = 1; n <= 6; n++) {
      const day = (n - 1) * 10;
      s.clock.offsetMs = day * DAY;
      const files: Record<string, Buffer> = {
        [`hello_${n}.deb`]: Buffer.concat([Buffer.from(`build ${n}\n`), Buffer.alloc(1000 + n, n)]),
      };
      const t = await sealedBuild(s.baseUrl, 'dpkg', 'hello', String(n), files);
      sealedOnDay.set(t.scope, day);
      for (const [name, body] of Object.entries(files)) contents.set(`${t.scope}${name}`, body);
    }
    s.clock.offsetMs = TODAY * DAY;
    // An open build, never revoked: the oldest folder of all once its age is counted.
    const open = await s.mint('dpkg', 'hello', '7');
    const openFile = Buffer.from('still being written\n');
    await putFile(s.baseUrl, open, 'partial.log', openFile);
    contents.set(`${openBuild}partial.log`, openFile);
    const pin = await fetch(`${s.baseUrl}/-/pins`, {
      method: 'POST',
      headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' },
      body: JSON.stringify({ build: '/dpkg/hello/2/' }),
    });
    expect(pin.status).to.equal(201);
    expected = expectedDeletions(sealedOnDay, pinned, TODAY, RULE);
  });

  after(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the expected list computed from the policy is the one reasoned out by hand', () => {
    // 6 is the newest, 5 is younger than 15 days, 2 is pinned, 7 is open.
    expect(expected).to.deep.equal(['/dpkg/hello/1/', '/dpkg/hello/3/', '/dpkg/hello/4/']);
  });

  it('sealed builds are read-only on disk (files 0444, folders 0555)', async () => {
    const root = path.join(s.artifactsDir, 'dpkg', 'hello', '1');
    expect((await stat(root)).mode & 0o777).to.equal(0o555);
    expect((await stat(path.join(root, 'hello_1.deb'))).mode & 0o777).to.equal(0o444);
  });

  it('a dry run lists exactly the builds the policy lets go, oldest first, and deletes nothing', async () => {
    const report = await runRetention(s.baseUrl, true);
    expect(report.dry_run).to.equal(true);
    expect(report.deleted.map((d) => d.build)).to.deep.equal(expected);
    expect(report.kept).to.equal(7 - expected.length);
    for (const d of report.deleted) {
      expect(d.files).to.equal(1);
      expect(d.bytes).to.equal(contents.get(`${d.build}hello_${d.build.split('/')[3]}.deb`)?.length);
      expect(Number.isNaN(Date.parse(d.sealed_at)), d.sealed_at).to.equal(false);
    }
    for (const [url, body] of contents) {
      const got = await getBytes(`${s.baseUrl}${url}`);
      expect(got.status, url).to.equal(200);
      expect(got.body.equals(body), url).to.equal(true);
    }
    for (const build of expected) expect(await exists(path.join(s.artifactsDir, ...build.split('/').filter(Boolean))), build).to.equal(true);
  });

  describe('the real run', () => {
    let dry: RetentionReport;
    let real: RetentionReport;
    before(async () => {
      dry = await runRetention(s.baseUrl, true);
      real = await runRetention(s.baseUrl, false);
    });

    it('deletes exactly the dry run\'s list, in the same order', () => {
      expect(real.dry_run).to.equal(false);
      expect(real.deleted.map((d) => d.build)).to.deep.equal(dry.deleted.map((d) => d.build));
      expect(real.deleted.map((d) => d.build)).to.deep.equal(expected);
      expect(real.deleted.map((d) => [d.files, d.bytes])).to.deep.equal(dry.deleted.map((d) => [d.files, d.bytes]));
      expect(real.kept).to.equal(dry.kept);
    });

    it('the deleted builds\' files and folders answer 404; every other file is still there byte for byte', async () => {
      for (const build of expected) {
        expect((await getBytes(`${s.baseUrl}${build}`)).status, build).to.equal(404);
        expect((await getBytes(`${s.baseUrl}${build}SHA256SUMS`)).status, `${build}SHA256SUMS`).to.equal(404);
      }
      for (const [url, body] of contents) {
        const got = await getBytes(`${s.baseUrl}${url}`);
        const gone = expected.some((build) => url.startsWith(build));
        expect(got.status, url).to.equal(gone ? 404 : 200);
        if (!gone) expect(got.body.equals(body), url).to.equal(true);
      }
    });

    it('the open build and the pinned build survive although they are old', async () => {
      const pinnedView = await buildView(s.baseUrl, '/dpkg/hello/2/');
      expect(pinnedView).to.include({ status: 200, sealed: true });
      const openView = await buildView(s.baseUrl, openBuild);
      expect(openView).to.include({ status: 200, sealed: false });
      const project = await fetch(`${s.baseUrl}/dpkg/hello/`, { headers: { Accept: 'application/json' } });
      const names = ((await project.json()) as { builds: { name: string }[] }).builds.map((b) => b.name);
      expect(names).to.have.members(['2', '5', '6', '7']);
    });

    it('removes the read-only build trees from disk with their metadata; .incoming is left empty', async () => {
      for (const build of expected) {
        const [type, project, name] = build.split('/').filter(Boolean) as [string, string, string];
        expect(await exists(path.join(s.artifactsDir, type, project, name)), build).to.equal(false);
        // Only a tombstone is left: the build's record says it was sealed and retired, so
        // the name is never minted again; its files' metadata is gone.
        const tombstone = JSON.parse(await readFile(path.join(s.artifactsDir, '.builds', type, project, `${name}.json`), 'utf8')) as Record<string, unknown>;
        expect(Object.keys(tombstone).sort(), `${build} record`).to.deep.equal(['retired', 'sealed']);
        for (const meta of [`${name}.m`, `${name}.p`, `${name}.d`]) {
          expect(await exists(path.join(s.artifactsDir, '.meta', `${type}.d`, `${project}.d`, meta)), `${build} metadata ${meta}`).to.equal(false);
        }
      }
      expect(await readdir(path.join(s.artifactsDir, '.incoming'))).to.deep.equal([]);
    });

    it('the audit trail keeps a build.deleted entry for a deleted build', async () => {
      const res = await fetch(`${s.baseUrl}/-/audit?build=${encodeURIComponent('/dpkg/hello/1/')}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
      expect(res.status).to.equal(200);
      const view = (await res.json()) as { view: string; entries: { event: string; build: string; by?: string; files?: number }[] };
      expect(view.view).to.equal('audit');
      const events = view.entries.map((e) => e.event);
      expect(events).to.include('build.sealed');
      const deleted = view.entries.filter((e) => e.event === 'build.deleted');
      expect(deleted).to.have.length(1);
      expect(deleted[0]).to.include({ build: '/dpkg/hello/1/', by: `master:${MASTER_USER}`, files: 1 });
      // The pinned build has no such entry.
      const kept = await fetch(`${s.baseUrl}/-/audit?build=${encodeURIComponent('/dpkg/hello/2/')}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
      const keptEvents = ((await kept.json()) as { entries: { event: string }[] }).entries.map((e) => e.event);
      expect(keptEvents).to.include('build.pinned').and.not.include('build.deleted');
    });

    it('a deleted build is never minted again (409), so its URLs never serve other bytes', async () => {
      for (const build of expected) {
        const [type, project, name] = build.split('/').filter(Boolean);
        const res = await fetch(`${s.baseUrl}/-/tokens`, {
          method: 'POST',
          headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' },
          body: JSON.stringify({ type, project, build: name }),
        });
        expect(res.status, build).to.equal(409);
        expect(((await res.json()) as { error: string }).error).to.match(/deleted by retention/);
      }
    });

    it('a second run deletes nothing', async () => {
      const again = await runRetention(s.baseUrl, false);
      expect(again.deleted).to.deep.equal([]);
      expect(again.kept).to.equal(4);
      const dryAgain = await runRetention(s.baseUrl, true);
      expect(dryAgain.deleted).to.deep.equal([]);
    });
  });
});

describe('retention: the /-/pins API, and retention without a policy', function () {
  this.timeout(30_000);
  let s: TestServer;
  before(async () => {
    s = await startServer({ RETENTION_INTERVAL: '0' });
    await s.mint('dpkg', 'pins', '1');
  });
  after(() => s?.close());

  const pinRequest = (body: string, headers: Record<string, string> = { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }): Promise<Response> =>
    fetch(`${s.baseUrl}/-/pins`, { method: 'POST', headers, body });
  const listPins = async (): Promise<{ build: string; pinned_by: string; pinned_at: string }[]> => {
    const res = await fetch(`${s.baseUrl}/-/pins`, { headers: { Authorization: MASTER_AUTH } });
    expect(res.status).to.equal(200);
    return (await res.json()) as { build: string; pinned_by: string; pinned_at: string }[];
  };

  it('POST pins a build (201), again answers 200 with the same pin; GET lists it; DELETE unpins (204), then 404', async () => {
    const first = await pinRequest(JSON.stringify({ build: '/dpkg/pins/1/' }));
    expect(first.status).to.equal(201);
    const pin = (await first.json()) as { build: string; pinned_by: string; pinned_at: string };
    expect(pin.build).to.equal('/dpkg/pins/1/');
    expect(pin.pinned_by).to.equal(`master:${MASTER_USER}`);
    expect(Number.isNaN(Date.parse(pin.pinned_at))).to.equal(false);

    const second = await pinRequest(JSON.stringify({ build: '/dpkg/pins/1/' }));
    expect(second.status).to.equal(200);
    expect(await second.json()).to.deep.equal(pin);

    expect(await listPins()).to.deep.equal([pin]);

    const unpin = await fetch(`${s.baseUrl}/-/pins?build=${encodeURIComponent('/dpkg/pins/1/')}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    expect(unpin.status).to.equal(204);
    expect(await listPins()).to.deep.equal([]);
    const again = await fetch(`${s.baseUrl}/-/pins?build=${encodeURIComponent('/dpkg/pins/1/')}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    expect(again.status).to.equal(404);
  });

  it('pinning a build that does not exist answers 404', async () => {
    const res = await pinRequest(JSON.stringify({ build: '/dpkg/pins/999/' }));
    expect(res.status).to.equal(404);
    const unpin = await fetch(`${s.baseUrl}/-/pins?build=${encodeURIComponent('/dpkg/pins/999/')}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    expect(unpin.status).to.equal(404);
    expect(await listPins()).to.deep.equal([]);
  });

  it('a malformed build answers 400: "/dpkg/", "nope", a file path, a number, a missing field', async () => {
    for (const body of [{ build: '/dpkg/' }, { build: 'nope' }, { build: '/dpkg/pins/1/file.txt' }, { build: 42 }, {}, { builds: '/dpkg/pins/1/' }]) {
      const res = await pinRequest(JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).to.equal(400);
    }
    expect((await pinRequest('[]')).status).to.equal(400);
    expect((await pinRequest('{"build": ')).status).to.equal(400);
    const unpin = await fetch(`${s.baseUrl}/-/pins?build=nope`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    expect(unpin.status).to.equal(400);
    const noQuery = await fetch(`${s.baseUrl}/-/pins`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    expect(noQuery.status).to.equal(400);
    expect(await listPins()).to.deep.equal([]);
  });

  it('without credentials every pins call answers 401, and nothing is pinned', async () => {
    const body = JSON.stringify({ build: '/dpkg/pins/1/' });
    expect((await pinRequest(body, { 'Content-Type': 'application/json' })).status).to.equal(401);
    expect((await fetch(`${s.baseUrl}/-/pins`)).status).to.equal(401);
    expect((await fetch(`${s.baseUrl}/-/pins?build=${encodeURIComponent('/dpkg/pins/1/')}`, { method: 'DELETE' })).status).to.equal(401);
    // A build token is not a master.
    const t = await s.mint('dpkg', 'pins', '2');
    expect((await pinRequest(body, { Authorization: basic(t.username, t.password), 'Content-Type': 'application/json' })).status).to.equal(401);
    expect(await listPins()).to.deep.equal([]);
  });

  it('a body that is not JSON answers 415', async () => {
    const res = await pinRequest('/dpkg/pins/1/', { Authorization: MASTER_AUTH, 'Content-Type': 'text/plain' });
    expect(res.status).to.equal(415);
    expect(await listPins()).to.deep.equal([]);
  });

  it('POST /-/retention without a configured policy answers 409 (dry run or not); without credentials 401', async () => {
    expect((await retention(s.baseUrl, true)).status).to.equal(409);
    expect((await retention(s.baseUrl, false)).status).to.equal(409);
    expect((await retention(s.baseUrl, true, null)).status).to.equal(401);
  });

  it('POST /-/retention is refused (415) unless JSON: a cross-site form cannot start a deletion', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      expect((await retention(s.baseUrl, false, MASTER_AUTH, type)).status, type).to.equal(415);
    }
  });
});

describe('retention: the schedule', function () {
  this.timeout(30_000);
  let dir: string;
  let s: TestServer;
  before(async () => {
    dir = await openTempDir('artifact-retention-schedule-');
    const policy = await writePolicy(dir, { default: { keep_newest: 0, keep_days: 1 } });
    // Tokens may live 3 days: the open build's token must outlive the clock's 2-day jump.
    s = await startServer({ RETENTION_POLICY: policy, RETENTION_INTERVAL: '1', TOKEN_TTL_MAX: String(3 * 24 * 3600) });
  });
  after(async () => {
    await s?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('with RETENTION_INTERVAL 1, an old sealed build is deleted by the server itself within seconds; a young one stays', async () => {
    // Build 2 is open (so never deletable) until it is sealed two days later, fresh.
    const young = await mintWith(s.baseUrl, { type: 'dpkg', project: 'scheduled', build: '2', ttl: 3 * 24 * 3600 });
    await putFile(s.baseUrl, young, 'b.txt', Buffer.from('young\n'));
    const old = await sealedBuild(s.baseUrl, 'dpkg', 'scheduled', '1', { 'a.txt': Buffer.from('old\n') });
    expect((await buildView(s.baseUrl, old.scope)).status).to.equal(200);
    s.clock.offsetMs = 2 * DAY;
    await revokeOwn(s.baseUrl, young);
    await waitSealed(s.baseUrl, young.scope);
    await until('the scheduled run to delete the old build', async () => (await buildView(s.baseUrl, old.scope)).status === 404, 10_000, 100);
    expect(await exists(path.join(s.artifactsDir, 'dpkg', 'scheduled', '1'))).to.equal(false);
    // The audit line follows the deletion (the tree is gone first): on a loaded machine a moment later.
    const deletions = async (): Promise<{ event: string; by?: string }[]> => {
      const audit = await fetch(`${s.baseUrl}/-/audit?build=${encodeURIComponent(old.scope)}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
      return ((await audit.json()) as { entries: { event: string; by?: string }[] }).entries.filter((e) => e.event === 'build.deleted');
    };
    await until('the deletion in the audit trail', async () => (await deletions()).length > 0, 10_000, 100);
    const deleted = await deletions();
    expect(deleted).to.have.length(1);
    expect(deleted[0]?.by).to.equal('retention schedule');
    // Sealed less than keep_days ago: kept, run after run.
    expect(await buildView(s.baseUrl, young.scope)).to.include({ status: 200, sealed: true });
    expect((await getBytes(`${s.baseUrl}${young.scope}b.txt`)).body.toString()).to.equal('young\n');
  });
});

interface NobodyServer {
  child: ChildProcess;
  baseUrl: string;
  output: () => string;
  stop(): Promise<number | null>;
}

function nobodyEnv(dataDir: string, home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, DATA_DIR: dataDir, ...extra };
}

async function startNobodyServer(env: NodeJS.ProcessEnv): Promise<NobodyServer> {
  const child = spawn(process.execPath, ['dist/server/main.js'], { cwd: REPO_ROOT, uid: NOBODY, gid: NOBODY, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /listening on (http:\/\/[^\s/]+)\//.exec(output);
      if (m?.[1]) {
        child.stderr?.off('data', check);
        resolve(m[1]);
      }
    };
    child.stderr?.on('data', check);
    void exited.then((code) => reject(new Error(`server (as nobody) exited with ${code}: ${output}`)));
  });
  return {
    child,
    baseUrl,
    output: () => output,
    stop: () => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function runAsNobody(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run(process.execPath, args, { cwd: REPO_ROOT, uid: NOBODY, gid: NOBODY, env });
}

describe('retention: a non-root service user removes read-only sealed builds', function () {
  this.timeout(60_000);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  let dir: string;
  let server: NobodyServer | null = null;

  before(function () {
    if (!isRoot) skipUnlessCi(this, 'not root', 'this case runs the server and the CLI as uid 65534 (nobody); CI runs as root');
  });
  beforeEach(async () => {
    dir = await openTempDir('artifact-retention-nobody-');
  });
  afterEach(async () => {
    await server?.stop();
    server = null;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the CLI as nobody deletes two sealed builds (folders 0555, nested) with keep_newest 0, keep_days 0', async () => {
    const dataDir = path.join(dir, 'data');
    await mkdir(dataDir);
    await chown(dataDir, NOBODY, NOBODY);
    await chmod(dataDir, 0o755);
    const policy = await writePolicy(dir, { default: { keep_newest: 0, keep_days: 0 } });
    const env = nobodyEnv(dataDir, dir, {
      PORT: '0',
      MASTER_USER,
      MASTER_PASSWORD,
      RETENTION_POLICY: policy,
      RETENTION_INTERVAL: '0',
      LOG_LEVEL: 'warn',
    });
    server = await startNobodyServer(env);
    const builds: string[] = [];
    for (const n of ['1', '2']) {
      const t = await sealedBuild(server.baseUrl, 'dpkg', 'hello', n, {
        'top.txt': Buffer.from(`top ${n}\n`),
        'nested/deeper/file.bin': Buffer.alloc(4096, Number(n)),
      });
      builds.push(t.scope);
    }
    const roots = builds.map((scope) => path.join(dataDir, 'artifacts', ...scope.split('/').filter(Boolean)));
    for (const root of roots) {
      const rootStat = await stat(root);
      expect(rootStat.uid, `${root} owner`).to.equal(NOBODY);
      expect(rootStat.mode & 0o777, root).to.equal(0o555);
      expect((await stat(path.join(root, 'nested', 'deeper'))).mode & 0o777).to.equal(0o555);
      expect((await stat(path.join(root, 'nested', 'deeper', 'file.bin'))).mode & 0o777).to.equal(0o444);
    }
    expect(await server.stop()).to.equal(0);
    server = null;

    const cliEnv = nobodyEnv(dataDir, dir, { RETENTION_POLICY: policy });
    const result = await runAsNobody(['dist/cli/main.js', 'retention', 'run'], cliEnv);
    expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).to.equal(0);
    for (const scope of builds) expect(result.stdout).to.include(`deleted ${scope}`);
    expect(result.stdout).to.match(/^2 builds deleted, 0 kept$/m);
    for (const root of roots) expect(await exists(root), root).to.equal(false);
    expect(await readdir(path.join(dataDir, 'artifacts', '.incoming'))).to.deep.equal([]);
    const audit = (await readFile(path.join(dataDir, 'tokens', 'audit.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { event: string; build?: string; by?: string });
    const deleted = audit.filter((e) => e.event === 'build.deleted').map((e) => [e.build, e.by]);
    expect(deleted).to.have.deep.members(builds.map((b) => [b, 'admin-cli']));
  });
});
