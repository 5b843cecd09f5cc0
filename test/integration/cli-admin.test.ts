// The admin CLI (masters, tokens, retention) as a child process, against a running server
// (through its admin socket) and a stopped one (opening the data directory itself), and the
// single-writer rule that keeps the token store whole.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run, type RunResult } from '../helpers/tools.js';
import { basic, makeTempDir, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startChild, type ChildServer, type MintedToken, until } from '../helpers/harness.js';

type CliResult = RunResult;

/** `node dist/cli/main.js ARGS` with DATA_DIR and nothing else of the test's environment. */
function cli(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return run(process.execPath, ['dist/cli/main.js', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, ...env },
  });
}

function show(r: CliResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

function mintAs(baseUrl: string, user: string, password: string, build: { type: string; project: string; build: string }): Promise<Response> {
  return fetch(`${baseUrl}/-/tokens`, {
    method: 'POST',
    headers: { Authorization: basic(user, password), 'Content-Type': 'application/json' },
    body: JSON.stringify(build),
  });
}

async function put(baseUrl: string, t: MintedToken, name: string, body: string): Promise<number> {
  const res = await fetch(`${baseUrl}${t.scope}${name}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body });
  await res.arrayBuffer();
  return res.status;
}

async function isSealed(baseUrl: string, scope: string): Promise<boolean> {
  const res = await fetch(`${baseUrl}${scope}`, { headers: { Accept: 'application/json' } });
  if (res.status !== 200) return false;
  return ((await res.json()) as { build?: { sealed?: boolean } }).build?.sealed === true;
}

async function sealBuild(baseUrl: string, build: { type: string; project: string; build: string }): Promise<MintedToken> {
  const t = await mintWith(baseUrl, build);
  expect(await put(baseUrl, t, 'artifact.txt', `contents of ${t.scope}`)).to.equal(201);
  const revoked = await fetch(`${baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: basic(t.username, t.password) } });
  expect(revoked.status).to.equal(204);
  await until(`${t.scope} sealed`, () => isSealed(baseUrl, t.scope));
  return t;
}

async function readStore(dataDir: string): Promise<{ masters: Record<string, { name: string; hash: string }>; tokens: Record<string, { scope: string; hash: string | null; revoked_at: string | null }> }> {
  return JSON.parse(await readFile(path.join(dataDir, 'tokens', 'tokens.json'), 'utf8'));
}

async function readAudit(dataDir: string): Promise<{ text: string; entries: Record<string, unknown>[] }> {
  const text = await readFile(path.join(dataDir, 'tokens', 'audit.jsonl'), 'utf8');
  return { text, entries: text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

for (const mode of ['running', 'stopped'] as const) {
  describe(`admin CLI with the server ${mode}`, function () {
    this.timeout(60_000);
    let dir: string;
    let dataDir: string;
    /** The running server (mode "running" only). */
    let server: ChildServer | null = null;
    let serverEnv: Record<string, string> = {};
    let ci2Password = '';

    before(async () => {
      dir = await makeTempDir('artifact-cli-admin-');
      dataDir = path.join(dir, 'data');
      // Started once either way, so the configured master (buildbot) exists.
      server = await startChild(dataDir);
      if (mode === 'stopped') {
        // One request first: server/main.ts prints "listening" before it installs its SIGTERM
        // handler, so a SIGTERM sent at once can kill it outright (see the report).
        expect((await fetch(`${server.baseUrl}/-/health`)).status).to.equal(200);
        expect(await server.stop()).to.equal(0);
        server = null;
      }
    });
    after(async () => {
      if (server && server.child.exitCode === null && server.child.signalCode === null) await server.stop();
      server = null;
      await rm(dir, { recursive: true, force: true });
    });

    /** Runs `work` against a serving server: the running one, or one started for it and stopped after. */
    async function served<T>(work: (baseUrl: string) => Promise<T>): Promise<T> {
      if (mode === 'running') {
        if (!server) throw new Error('no server running');
        return work(server.baseUrl);
      }
      const temporary = await startChild(dataDir, serverEnv);
      try {
        return await work(temporary.baseUrl);
      } finally {
        expect(await temporary.stop()).to.equal(0);
      }
    }

    it('master add prints only the password (one line); the new master can mint; adding it again exits 1', async () => {
      const added = await cli(dataDir, ['master', 'add', 'ci2']);
      expect(added.code, show(added)).to.equal(0);
      const lines = added.stdout.split('\n');
      expect(lines.length, show(added)).to.equal(2);
      expect(lines[1]).to.equal('');
      ci2Password = lines[0] ?? '';
      expect(ci2Password).to.match(/^\S{20,}$/);
      expect(added.stderr).to.include('ci2');
      expect(added.stderr).to.not.include(ci2Password);

      const status = await served(async (baseUrl) => {
        const res = await mintAs(baseUrl, 'ci2', ci2Password, { type: 'dpkg', project: 'cli', build: 'by-ci2' });
        await res.arrayBuffer();
        return res.status;
      });
      expect(status).to.equal(201);

      const again = await cli(dataDir, ['master', 'add', 'ci2']);
      expect(again.code, show(again)).to.equal(1);
      expect(again.stderr).to.include('already exists');
      expect(again.stdout).to.equal('');
      // The first password still works: nothing was replaced.
      const still = await served(async (baseUrl) => {
        const res = await mintAs(baseUrl, 'ci2', ci2Password, { type: 'dpkg', project: 'cli', build: 'by-ci2-again' });
        await res.arrayBuffer();
        return res.status;
      });
      expect(still).to.equal(201);
    });

    it('master list lists buildbot and ci2, never a hash; --json parses', async () => {
      const list = await cli(dataDir, ['master', 'list']);
      expect(list.code, show(list)).to.equal(0);
      expect(list.stdout).to.match(new RegExp(`^${MASTER_USER}\\s`, 'm'));
      expect(list.stdout).to.match(/^ci2\s/m);
      expect(list.stdout + list.stderr).to.not.include('$argon2');
      expect(list.stdout).to.not.include(ci2Password);
      const json = await cli(dataDir, ['master', 'list', '--json']);
      expect(json.code, show(json)).to.equal(0);
      expect(json.stdout).to.not.include('$argon2');
      const masters = JSON.parse(json.stdout) as Record<string, unknown>[];
      expect(masters.map((m) => m.name)).to.have.members([MASTER_USER, 'ci2']);
      for (const m of masters) expect(Object.keys(m)).to.have.members(['name', 'created_at']);
    });

    it('master remove: the removed master can no longer mint; the last master and an unknown one are refused', async () => {
      const removed = await cli(dataDir, ['master', 'remove', 'ci2']);
      expect(removed.code, show(removed)).to.equal(0);
      const status = await served(async (baseUrl) => {
        const res = await mintAs(baseUrl, 'ci2', ci2Password, { type: 'dpkg', project: 'cli', build: 'after-remove' });
        await res.arrayBuffer();
        return res.status;
      });
      expect(status).to.equal(401);

      const last = await cli(dataDir, ['master', 'remove', MASTER_USER]);
      expect(last.code, show(last)).to.equal(1);
      expect(last.stderr).to.include('last master');
      const unknown = await cli(dataDir, ['master', 'remove', 'nobody-here']);
      expect(unknown.code, show(unknown)).to.equal(1);
      expect(unknown.stderr).to.include('no master');
      const list = await cli(dataDir, ['master', 'list', '--json']);
      expect((JSON.parse(list.stdout) as { name: string }[]).map((m) => m.name)).to.deep.equal([MASTER_USER]);
    });

    it('token list shows a minted token\'s id and scope, never its password; --json parses', async () => {
      const t = await served((baseUrl) => mintWith(baseUrl, { type: 'dpkg', project: 'cli', build: 'listed' }));
      const list = await cli(dataDir, ['token', 'list']);
      expect(list.code, show(list)).to.equal(0);
      const row = list.stdout.split('\n').find((line) => line.startsWith(t.id));
      expect(row, show(list)).to.be.a('string');
      expect(row).to.include(t.scope).and.include(MASTER_USER);
      expect(list.stdout + list.stderr).to.not.include(t.password);
      expect(list.stdout).to.not.include('$argon2');

      const json = await cli(dataDir, ['token', 'list', '--json']);
      expect(json.code, show(json)).to.equal(0);
      expect(json.stdout).to.not.include(t.password);
      const tokens = JSON.parse(json.stdout) as Record<string, unknown>[];
      const entry = tokens.find((x) => x.id === t.id);
      expect(entry).to.include({ id: t.id, username: t.username, scope: t.scope, created_by: MASTER_USER, expires_at: t.expires_at });
      expect(entry).to.not.have.any.keys('password', 'hash');
    });

    it('token revoke ends the token (its PUT gets 401) and seals its build; an unknown id exits 1', async () => {
      const t = await served(async (baseUrl) => {
        const minted = await mintWith(baseUrl, { type: 'dpkg', project: 'cli', build: 'revoked' });
        expect(await put(baseUrl, minted, 'before.txt', 'before')).to.equal(201);
        return minted;
      });
      const revoked = await cli(dataDir, ['token', 'revoke', t.id]);
      expect(revoked.code, show(revoked)).to.equal(0);
      expect(revoked.stdout).to.include(`revoked ${t.id}`);
      await served(async (baseUrl) => {
        expect(await put(baseUrl, t, 'after.txt', 'after')).to.equal(401);
        await until(`${t.scope} sealed`, () => isSealed(baseUrl, t.scope));
        const file = await fetch(`${baseUrl}${t.scope}before.txt`);
        expect(await file.text()).to.equal('before');
        expect(file.headers.get('cache-control')).to.include('immutable');
      });
      const list = await cli(dataDir, ['token', 'list', '--json']);
      expect((JSON.parse(list.stdout) as { id: string }[]).map((x) => x.id)).to.not.include(t.id);

      const unknown = await cli(dataDir, ['token', 'revoke', 'NoSuchToken000000000']);
      expect(unknown.code, show(unknown)).to.equal(1);
      expect(unknown.stderr).to.include('no token');
    });

    it('usage errors exit 2: no command, an unknown command, master add without NAME', async () => {
      for (const args of [[], ['frobnicate'], ['master', 'add'], ['master'], ['token', 'revoke'], ['master', 'add', 'a', 'b'], ['token', 'list', '--bogus']]) {
        const r = await cli(dataDir, args);
        expect(r.code, `${args.join(' ')}: ${show(r)}`).to.equal(2);
        expect(r.stderr, args.join(' ')).to.match(/usage|unknown option/i);
        expect(r.stdout, args.join(' ')).to.equal('');
      }
      // Nothing was added by the failed `master add`.
      const list = await cli(dataDir, ['master', 'list', '--json']);
      expect((JSON.parse(list.stdout) as { name: string }[]).map((m) => m.name)).to.deep.equal([MASTER_USER]);
    });

    it('the audit trail records master.added, and holds no password printed by master add', async () => {
      const { text, entries } = await readAudit(dataDir);
      const added = entries.filter((e) => e.event === 'master.added');
      expect(added.map((e) => e.master)).to.include('ci2');
      expect(added.find((e) => e.master === 'ci2')).to.include({ by: 'admin-cli' });
      expect(entries.filter((e) => e.event === 'master.removed').map((e) => e.master)).to.include('ci2');
      expect(ci2Password.length).to.be.greaterThan(0);
      expect(text).to.not.include(ci2Password);
      expect(await readFile(path.join(dataDir, 'tokens', 'tokens.json'), 'utf8')).to.not.include(ci2Password);
    });

    it('mirror add, list and remove: an entry declared with the server stopped is fetched when it starts', async () => {
      const url = 'https://127.0.0.3:9/dist/tool-1.0.tar.gz';
      const added = await cli(dataDir, ['mirror', 'add', url, '--sha256', 'ab'.repeat(32), '--note', 'the tool we build with']);
      expect(added.code, show(added)).to.equal(0);
      const [id, state] = added.stdout.trim().split(' ');
      expect(state).to.be.oneOf(['pending', 'failed']);
      const again = await cli(dataDir, ['mirror', 'add', url]);
      expect(again.stdout.split(' ')[0], show(again)).to.equal(id);
      const tag = await cli(dataDir, ['mirror', 'add-image', 'registry.example.org/app:latest']);
      expect(tag.code, show(tag)).to.equal(1);
      expect(tag.stderr).to.include('by digest');
      // Fetched (and refused: a private address) by a serving server, whenever it starts.
      const entry = await served((baseUrl) =>
        until('the entry tried', async () => {
          const e = (await (await fetch(`${baseUrl}/-/mirror/${id}`)).json()) as { state: string; reason: string | null; note: string; declared_by: string };
          return e.state === 'failed' ? e : null;
        }, 15_000),
      );
      expect(entry).to.include({ reason: 'target 127.0.0.3 is a private address', note: 'the tool we build with', declared_by: 'admin-cli' });
      const list = await cli(dataDir, ['mirror', 'list']);
      expect(list.code, show(list)).to.equal(0);
      expect(list.stdout).to.match(new RegExp(`^${id} +failed +.*${url.replace(/[.]/g, '\\.')} +target 127\\.0\\.0\\.3 is a private address$`, 'm'));
      const json = JSON.parse((await cli(dataDir, ['mirror', 'list', '--json'])).stdout) as { id: string }[];
      expect(json.map((e) => e.id)).to.deep.equal([id]);
      const removed = await cli(dataDir, ['mirror', 'remove', id as string]);
      expect(removed.code, show(removed)).to.equal(0);
      expect(JSON.parse((await cli(dataDir, ['mirror', 'list', '--json'])).stdout)).to.deep.equal([]);
      expect((await cli(dataDir, ['mirror', 'remove', id as string])).code).to.equal(1);
      const { entries } = await readAudit(dataDir);
      expect(entries.filter((e) => e.id === id).map((e) => e.event)).to.include.members(['mirror.declared', 'mirror.failed', 'mirror.removed']);
    });

    it('retention run --dry-run: without a policy exits 1 with a message; with one, lists "would delete" lines and deletes nothing', async () => {
      const t = await served((baseUrl) => sealBuild(baseUrl, { type: 'dpkg', project: 'cli', build: 'old' }));
      const none = await cli(dataDir, ['retention', 'run', '--dry-run']);
      expect(none.code, show(none)).to.equal(1);
      expect(none.stderr).to.include('no retention policy');

      const policy = path.join(dir, 'policy.json');
      await writeFile(policy, JSON.stringify({ default: { keep_newest: 0, keep_days: 0 } }));
      serverEnv = { RETENTION_POLICY: policy, RETENTION_INTERVAL: '0' };
      if (mode === 'running') {
        // A running server's policy is the one that applies: restart it with one.
        expect(await server?.stop()).to.equal(0);
        server = await startChild(dataDir, serverEnv);
      }
      const dry = await cli(dataDir, ['retention', 'run', '--dry-run'], { RETENTION_POLICY: policy });
      expect(dry.code, show(dry)).to.equal(0);
      const lines = dry.stdout.split('\n').filter(Boolean);
      const ours = new RegExp(`^would delete ${t.scope} \\(sealed [^,]+, 1 files, `);
      expect(lines.some((line) => ours.test(line)), show(dry)).to.equal(true);
      for (const line of lines.slice(0, -1)) expect(line).to.match(/^would delete \/[^/]+\/[^/]+\/[^/]+\/ \(sealed /);
      expect(lines[lines.length - 1]).to.match(/^\d+ builds? would be deleted, \d+ kept$/);
      expect(await exists(path.join(dataDir, 'artifacts', 'dpkg', 'cli', 'old', 'artifact.txt'))).to.equal(true);

      const json = await cli(dataDir, ['retention', 'run', '--dry-run', '--json'], { RETENTION_POLICY: policy });
      expect(json.code, show(json)).to.equal(0);
      const report = JSON.parse(json.stdout) as { dry_run: boolean; deleted: { build: string }[] };
      expect(report.dry_run).to.equal(true);
      expect(report.deleted.map((d) => d.build)).to.include(t.scope);
      expect(await exists(path.join(dataDir, 'artifacts', 'dpkg', 'cli', 'old', 'artifact.txt'))).to.equal(true);
    });
  });
}

describe('admin CLI: one writer per data directory', function () {
  this.timeout(60_000);
  let dir: string;
  let dataDir: string;
  const servers: ChildServer[] = [];
  beforeEach(async () => {
    dir = await makeTempDir('artifact-cli-writer-');
    dataDir = path.join(dir, 'data');
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      // stop() waits for an 'exit' that a process already gone has emitted: skip those.
      if (s.child.exitCode === null && s.child.signalCode === null) await s.stop('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function start(): Promise<ChildServer> {
    const s = await startChild(dataDir);
    servers.push(s);
    return s;
  }

  it('a second server on the same DATA_DIR refuses to start ("in use"); the first keeps serving', async () => {
    const first = await start();
    let failure: Error | null = null;
    try {
      await start();
    } catch (err) {
      failure = err as Error;
    }
    expect(failure, 'the second server started').to.not.equal(null);
    expect(failure?.message).to.match(/server exited with [1-9]\d*/);
    expect(failure?.message).to.include('in use');
    const health = await fetch(`${first.baseUrl}/-/health`);
    expect(health.status).to.equal(200);
    const t = await mintWith(first.baseUrl, { type: 'dpkg', project: 'writer', build: '1' });
    expect(await put(first.baseUrl, t, 'a.txt', 'a')).to.equal(201);
    // The admin socket still answers for the first server.
    const list = await cli(dataDir, ['token', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((x) => x.id)).to.include(t.id);
  });

  it('after kill -9 of the server the CLI still works (the stale socket is replaced) and a new server starts', async () => {
    const first = await start();
    const t = await mintWith(first.baseUrl, { type: 'dpkg', project: 'writer', build: 'killed' });
    const socket = path.join(dataDir, 'tokens', 'admin.sock');
    await first.stop('SIGKILL');
    expect(await exists(socket), 'the killed server left its socket file').to.equal(true);

    const list = await cli(dataDir, ['token', 'list', '--json']);
    expect(list.code, show(list)).to.equal(0);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((x) => x.id)).to.include(t.id);
    const added = await cli(dataDir, ['master', 'add', 'after-kill']);
    expect(added.code, show(added)).to.equal(0);
    const password = added.stdout.trim();

    const second = await start();
    const res = await mintAs(second.baseUrl, 'after-kill', password, { type: 'dpkg', project: 'writer', build: 'after' });
    await res.arrayBuffer();
    expect(res.status).to.equal(201);
    expect(await put(second.baseUrl, t, 'still.txt', 'live')).to.equal(201);
  });

  it('20 CLI commands in parallel with 20 HTTP mints lose nothing: the store file holds every master and token', async () => {
    const s = await start();
    const toRevoke = await Promise.all(Array.from({ length: 10 }, (_, i) => mintWith(s.baseUrl, { type: 'dpkg', project: 'busy', build: `revoke-${i}` })));
    const masters = Array.from({ length: 10 }, (_, i) => `m${i}`);
    const [adds, revokes, mints] = await Promise.all([
      Promise.all(masters.map((name) => cli(dataDir, ['master', 'add', name]))),
      Promise.all(toRevoke.map((t) => cli(dataDir, ['token', 'revoke', t.id]))),
      Promise.all(Array.from({ length: 20 }, (_, i) => mintWith(s.baseUrl, { type: 'dpkg', project: 'busy', build: `mint-${i}` }))),
    ]);
    for (const r of [...adds, ...revokes]) expect(r.code, show(r)).to.equal(0);
    const passwords = adds.map((r) => r.stdout.trim());
    expect(new Set(passwords).size).to.equal(10);

    const store = await readStore(dataDir);
    expect(Object.keys(store.masters)).to.have.members([MASTER_USER, ...masters]);
    for (const t of mints) {
      expect(store.tokens[t.id]?.scope, t.id).to.equal(t.scope);
      expect(store.tokens[t.id]?.hash, t.id).to.be.a('string');
    }
    for (const t of toRevoke) {
      expect(store.tokens[t.id]?.revoked_at, t.id).to.be.a('string');
      expect(store.tokens[t.id]?.hash, t.id).to.equal(null);
    }
    // The server's own view agrees, and a master added in the crowd can mint.
    const listed = await cli(dataDir, ['master', 'list', '--json']);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((m) => m.name)).to.have.members([MASTER_USER, ...masters]);
    const res = await mintAs(s.baseUrl, 'm7', passwords[7] ?? '', { type: 'dpkg', project: 'busy', build: 'by-m7' });
    await res.arrayBuffer();
    expect(res.status).to.equal(201);
    for (const t of toRevoke) expect(await put(s.baseUrl, t, 'x.txt', 'x')).to.equal(401);
  });

  it('with no server, parallel commands take turns: each waits for the one holding the store, none fails', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `turn${i}`);
    const results = await Promise.all(names.map((name) => cli(dataDir, ['master', 'add', name])));
    for (const r of results) expect(r.code, show(r)).to.equal(0);
    const store = await readStore(dataDir);
    for (const name of names) expect(store.masters, name).to.have.property(name);
    // The store was opened by one command at a time: the socket it held is gone again.
    expect(await stat(path.join(dataDir, 'tokens', 'admin.sock')).catch(() => null)).to.equal(null);
  });

  it('serve starts the server on the data directory and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['dist/cli/main.js', 'serve'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DATA_DIR: dataDir, PORT: '0', MASTER_USER, MASTER_PASSWORD: 'serve-test-password', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const base = await until('serve to listen', async () => /listening on (http:\/\/\S+?)\//.exec(err)?.[1], 15_000);
      expect((await fetch(`${base}/-/health`)).status).to.equal(200);
      const minted = await mintAs(base, MASTER_USER, 'serve-test-password', { type: 'dpkg', project: 'serve', build: '1' });
      expect(minted.status).to.equal(201);
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('a master removed with the CLI stays removed when the server restarts with MASTER_USER still configured', async () => {
    let s = await start();
    const added = await cli(dataDir, ['master', 'add', 'ci3']);
    expect(added.code, show(added)).to.equal(0);
    const removed = await cli(dataDir, ['master', 'remove', MASTER_USER]);
    expect(removed.code, show(removed)).to.equal(0);
    await s.stop();
    s = await start();
    const old = await mintAs(s.baseUrl, MASTER_USER, MASTER_PASSWORD, { type: 'dpkg', project: 'cli', build: 'removed' });
    expect(old.status, 'the removed master came back').to.equal(401);
    const other = await mintAs(s.baseUrl, 'ci3', added.stdout.trim(), { type: 'dpkg', project: 'cli', build: 'kept' });
    expect(other.status).to.equal(201);
    expect(s.output()).to.include('not created again');
  });

  it('two parallel adds of one name: exactly one succeeds; reserved and malformed names are refused', async () => {
    await start();
    const both = await Promise.all([cli(dataDir, ['master', 'add', 'twin']), cli(dataDir, ['master', 'add', 'twin'])]);
    expect(both.map((r) => r.code).sort(), both.map(show).join('\n')).to.deep.equal([0, 1]);
    for (const name of ['__proto__', 'constructor', 'a b', 'x'.repeat(65)]) {
      const r = await cli(dataDir, ['master', 'add', name]);
      expect(r.code, `${name}: ${show(r)}`).to.equal(1);
      expect(r.stdout, name).to.equal('');
    }
  });

  it('the admin socket answers a malformed percent-encoding with 400, and keeps serving', async () => {
    await start();
    const socketPath = path.join(dataDir, 'tokens', 'admin.sock');
    const ask = (method: string, urlPath: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ socketPath, method, path: urlPath }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await ask('DELETE', '/masters/%E0%A4%A')).to.equal(400);
    expect(await ask('GET', '/masters')).to.equal(200);
  });
});
