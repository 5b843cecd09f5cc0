// litmus 0.13, the WebDAV conformance suite, all five suites through a build token, twice
// in a row against the real server process, which must never exit and must keep serving.
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { basic, makeTempDir, mintWith, startChild, type ChildServer } from '../helpers/harness.js';
import { requireTool, run } from '../helpers/tools.js';
import { replicaMode, type ReplicaSet } from '../helpers/replicas.js';

interface SuiteResult {
  suite: string;
  run: number;
  passed: number;
  failed: number;
}

function summaries(output: string): SuiteResult[] {
  const results: SuiteResult[] = [];
  const re = /<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g;
  for (let m = re.exec(output); m; m = re.exec(output)) {
    results.push({ suite: m[1] as string, run: Number(m[2]), passed: Number(m[3]), failed: Number(m[4]) });
  }
  return results;
}

describe('litmus (basic, copymove, props, locks, http) through a build token', function () {
  this.timeout(180_000);
  let litmus: string;
  let dataDir: string;
  let server: ChildServer;
  let token: Awaited<ReturnType<typeof mintWith>>;

  before(async function () {
    litmus = requireTool(this, 'litmus', 'litmus');
    dataDir = await makeTempDir();
    server = await startChild(dataDir);
    token = await mintWith(server.baseUrl, { type: 'dav', project: 'litmus', build: '1' });
  });
  after(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  for (const round of [1, 2]) {
    it(`round ${round} in the same collection: passes 104 of 104, with no warnings, and the process stays up`, async () => {
      const t = token;
      const result = await run(litmus, ['-k', t.url, t.username, t.password], { cwd: dataDir });
      const suites = summaries(result.stdout);
      expect(suites.map((s) => s.suite), result.stdout).to.deep.equal(['basic', 'copymove', 'props', 'locks', 'http']);
      const failures = result.stdout.split('\n').filter((l) => /\bFAIL\b|WARNING/.test(l));
      expect(failures, failures.join('\n')).to.deep.equal([]);
      expect(suites.reduce((n, s) => n + s.passed, 0)).to.equal(104);
      expect(suites.reduce((n, s) => n + s.failed, 0)).to.equal(0);
      expect(server.child.exitCode, server.output()).to.equal(null);
    });
  }

  it('keeps serving reads and writes afterwards', async () => {
    const t = await mintWith(server.baseUrl, { type: 'dav', project: 'litmus', build: 'after' });
    const put = await fetch(`${t.url}still-here.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'yes' });
    expect(put.status).to.equal(201);
    expect(await (await fetch(`${t.url}still-here.txt`)).text()).to.equal('yes');
    expect(server.child.exitCode).to.equal(null);
  });
});

// On a shared volume, and in S3 mode (the tree in PostgreSQL, the bytes in a Swift bucket,
// each replica with its own empty folder: nothing shared but the database and the bucket).
for (const bucket of [false, true]) describe(`litmus through three replicas behind nginx (round robin)${bucket ? ', S3 mode with no shared volume' : ''}: locks taken on one replica hold on the others`, function () {
  this.timeout(180_000);
  let litmus: string;
  let set: ReplicaSet;
  let teardown: (() => Promise<void>) | null = null;

  before(async function () {
    litmus = requireTool(this, 'litmus', 'litmus');
    const mode = await replicaMode(this, { bucket });
    teardown = mode.teardown;
    set = await mode.start();
  });
  after(async () => {
    await set?.close();
    await teardown?.();
  });

  it('passes 104 of 104, with no warnings, and the requests were spread over every replica', async () => {
    const t = await mintWith(set.baseUrl, { type: 'dav', project: 'litmus', build: 'replicas' });
    const result = await run(litmus, ['-k', t.url, t.username, t.password], { cwd: set.dataDir });
    const suites = summaries(result.stdout);
    expect(suites.map((s) => s.suite), result.stdout).to.deep.equal(['basic', 'copymove', 'props', 'locks', 'http']);
    const failures = result.stdout.split('\n').filter((l) => /\bFAIL\b|WARNING/.test(l));
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(suites.reduce((n, s) => n + s.passed, 0)).to.equal(104);
    // Each replica answered a share of litmus's requests (its access log says so).
    for (const replica of set.replicas) expect(replica.logLines.filter((l) => l.includes('"msg":"request"') && l.includes('/dav/litmus/replicas/')).length).to.be.greaterThan(50);
  });
});
