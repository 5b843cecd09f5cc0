// Several replicas, one repository (docs/interface.md, "Several replicas"): real
// PostgreSQL, one shared ARTIFACTS_DIR, Debian's nginx with the shipped configuration in
// front. What a client of any replica sees is what a client of one server sees.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import pg from 'pg';
import path from 'node:path';
import { basic, makeTempDir, MASTER_AUTH, mintWith, startChild, type ChildServer, type MintedToken, type TestServer, until as untilWithin } from '../helpers/harness.js';
import { requirePostgres, type Postgres } from '../helpers/postgres.js';
import { startReplicas, type ReplicaSet } from '../helpers/replicas.js';
import { useS3Credentials } from '../helpers/bucket-mode.js';
import { requireSwift, startSwift, type RunningSwift } from '../helpers/swift.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { requireTool, skipUnlessCi } from '../helpers/tools.js';
import { STREAM_MODULE } from '../helpers/nginx.js';
import { curlVia, fetchProxyCa, proxyUrl } from '../helpers/proxy.js';
import { SEAL_FILES } from '../../server/domain/seal-files.js';
import { makeDeb, makeWheel } from '../helpers/packages.js';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const HALF = 2 * 1024 * 1024;

async function put(base: string, file: string, token: MintedToken, body: string): Promise<number> {
  return (await fetch(`${base}${file}`, { method: 'PUT', headers: { Authorization: basic(token.username, token.password) }, body })).status;
}

async function revoke(base: string, token: MintedToken): Promise<number> {
  return (await fetch(`${base}/-/tokens/${token.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status;
}

async function auditEvents(base: string, build: string): Promise<string[]> {
  const res = await fetch(`${base}/-/audit?build=${encodeURIComponent(build)}&limit=1000`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
  return ((await res.json()) as { entries: { event: string }[] }).entries.map((e) => e.event);
}

// Replicas take their time under load (a lease, a takeover): 30 s before a wait gives up.
const until = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> => untilWithin(what, probe, timeoutMs, 50);

/**
 * Whether some replica is streaming an upload now: into a file of its `.incoming` folder
 * on a volume, or (S3 mode) into the bucket, where the blob it writes is recorded first.
 */
async function uploadInFlight(set: Pick<ReplicaSet, 'artifactsDir' | 'databaseUrl'>, bucket = false): Promise<boolean> {
  if (bucket) {
    const client = new pg.Client({ connectionString: set.databaseUrl as string });
    await client.connect();
    try {
      return (await client.query<{ n: string }>("SELECT count(*) AS n FROM tree_blobs WHERE state = 'uploading'")).rows[0]?.n !== '0';
    } finally {
      await client.end();
    }
  }
  const incoming = path.join(set.artifactsDir, '.incoming');
  for (const dir of await readdir(incoming)) {
    const names = await readdir(path.join(incoming, dir)).catch(() => [] as string[]);
    if (names.some((n) => n.startsWith('put-'))) return true;
  }
  return false;
}

/** The members of a collection, as PROPFIND lists them to anyone (whatever the store). */
async function members(base: string, collection: string): Promise<string[]> {
  const res = await fetch(`${base}${collection}`, { method: 'PROPFIND', headers: { Depth: '1', Authorization: MASTER_AUTH } });
  if (res.status !== 207) throw new Error(`PROPFIND ${collection}: ${res.status}`);
  const hrefs = [...(await res.text()).matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => decodeURIComponent(m[1] as string));
  return hrefs.filter((h) => h !== collection && h.startsWith(collection)).map((h) => h.slice(collection.length).replace(/\/$/, ''));
}

/** Parses SHA256SUMS into path -> checksum. */
function sumsOf(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sum, name] = line.split('  ') as [string, string];
        return [name, sum];
      }),
  );
}

describe('several replicas, one repository', function () {
  this.timeout(180_000);
  let pg: Postgres;

  before(async function () {
    requireTool(this, 'nginx', 'nginx');
    pg = await requirePostgres(this);
  });
  after(async () => {
    await pg?.remove();
  });

  // On one shared volume, and in S3 mode: the tree in PostgreSQL, the bytes in a bucket of
  // a real Swift, each replica with its own empty folder (nothing shared but those two).
  for (const bucket of [false, true]) describe(bucket ? 'three replicas, S3 mode with no shared volume' : 'three replicas', () => {
    let set: ReplicaSet;
    let a: TestServer;
    let b: TestServer;
    let c: TestServer;
    let swift: RunningSwift | null = null;
    let restore: (() => void) | null = null;

    before(async function () {
      if (bucket) {
        requireSwift(this);
        swift = await startSwift();
        restore = useS3Credentials(swift);
      }
      set = await startReplicas(pg, 3, { SEAL_GRACE: '2' }, swift ? { bucket: swift } : {});
      [a, b, c] = set.replicas as [TestServer, TestServer, TestServer];
    });
    after(async () => {
      await set?.close();
      restore?.();
      await swift?.stop();
    });

    // Each round seals a build: in S3 mode, four objects written to Swift on two cores. A
    // quarter of the rounds there (what is tested, liveness, is the database's either way).
    const perWorker = bucket ? 60 : 250;
    it(`mint on A, revoke on B, write on C: 401, in ${perWorker * 4} rounds (C having used the token before in ${perWorker}); no write accepted after the revoke answered`, async () => {
      let accepted = 0;
      let rounds = 0;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; i < perWorker; i++) {
          const t = await mintWith(a.baseUrl, { type: 'dpkg', project: `loop-${w}`, build: String(i) });
          // In one round of four, C checks the password first (its proof cache then holds it):
          // only liveness can refuse the write after the revoke. (argon2 bounds the loop's pace.)
          if (i % 4 === 0) expect(await put(c.baseUrl, `/dpkg/loop-${w}/${i}/before.txt`, t, 'before\n')).to.equal(201);
          expect(await revoke(b.baseUrl, t)).to.equal(204);
          const after = await put(c.baseUrl, `/dpkg/loop-${w}/${i}/after.txt`, t, 'after\n');
          if (after !== 401) accepted++;
          rounds++;
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      expect(rounds).to.equal(perWorker * 4);
      expect(accepted).to.equal(0);
      expect((await members(set.baseUrl, '/dpkg/loop-0/8/')).filter((n) => !SEAL_FILES.has(n))).to.deep.equal(['before.txt']);
    });

    it('a build revoked on two replicas at once, with an upload in flight on a third: sealed once, SHA256SUMS complete, no late file', async () => {
      const lateStatuses: number[] = [];
      for (let round = 0; round < 6; round++) {
        const build = `/dpkg/race/${round}/`;
        const one = await mintWith(a.baseUrl, { type: 'dpkg', project: 'race', build: String(round) });
        const two = await mintWith(b.baseUrl, { type: 'dpkg', project: 'race', build: String(round) });
        expect(await put(a.baseUrl, `${build}one.txt`, one, 'one\n')).to.equal(201);
        expect(await put(b.baseUrl, `${build}two.txt`, two, 'two\n')).to.equal(201);
        // C knows the token (its first use costs argon2): the upload below is authorised at once.
        expect(await put(c.baseUrl, `${build}warm.txt`, one, 'warm\n')).to.equal(201);
        // An upload still streaming through C when the revokes come (large enough to be
        // streamed to disk): it lands before the seal or not at all.
        const late = new Promise<number>((resolve) => {
          const req = http.request(`${c.baseUrl}${build}late.bin`, { method: 'PUT', headers: { Authorization: basic(one.username, one.password), 'Content-Length': 2 * HALF } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', () => resolve(0));
          req.write(Buffer.alloc(HALF, 1));
          // Slow: past the seal's grace (2 s) and the writer's next lease renewal (2 s), when it is cut.
          setTimeout(() => req.end(Buffer.alloc(HALF, 2)), round % 2 === 0 ? 50 : 8_000);
        });
        let settled: number | null = null;
        void late.then((status) => (settled = status));
        // (The quick ones may be done already: they must then be in SHA256SUMS.)
        await until('the upload in flight', async () => settled !== null || uploadInFlight(set, bucket));
        if (round % 2 === 1) expect(settled, 'a slow upload still streaming when the revokes come').to.equal(null);
        const revokes = await Promise.all([revoke(a.baseUrl, one), revoke(b.baseUrl, two)]);
        lateStatuses.push(await late);
        expect(revokes).to.deep.equal([204, 204]);
        const lateStatus = lateStatuses[lateStatuses.length - 1] as number;
        const sums = await until(`${build}SHA256SUMS`, async () => {
          const res = await fetch(`${set.baseUrl}${build}SHA256SUMS`);
          return res.status === 200 ? res.text() : null;
        });
        const listed = sumsOf(sums);
        const onDisk = (await members(set.baseUrl, build)).filter((n) => !SEAL_FILES.has(n)).sort();
        expect([...listed.keys()].sort(), `round ${round}, late upload ${lateStatus}`).to.deep.equal(onDisk);
        expect(listed.get('one.txt')).to.equal(sha256('one\n'));
        expect(listed.get('two.txt')).to.equal(sha256('two\n'));
        // The late upload either made it in whole (listed) or left nothing.
        if (lateStatus === 201) expect(listed.get('late.bin')).to.equal(sha256(Buffer.concat([Buffer.alloc(HALF, 1), Buffer.alloc(HALF, 2)])));
        else expect(listed.has('late.bin')).to.equal(false);
        const events = await auditEvents(set.baseUrl, build);
        expect(events.filter((e) => e === 'build.sealed'), events.join(' ')).to.have.length(1);
      }
      // Both cases happened: uploads that ended within the seal's grace landed, slower ones were cut.
      expect(lateStatuses.filter((_, i) => i % 2 === 0), lateStatuses.join(' ')).to.include(201);
      expect(lateStatuses.filter((status, i) => i % 2 === 1 && status === 201), lateStatuses.join(' ')).to.deep.equal([]);
    });

    it('listings, search and audit answer the same on every replica', async () => {
      const t = await mintWith(a.baseUrl, { type: 'dpkg', project: 'same', build: '1' });
      expect(await put(b.baseUrl, '/dpkg/same/1/x.txt', t, 'same everywhere\n')).to.equal(201);
      const paths = ['/dpkg/same/1/', `/-/search?sha256=${sha256('same everywhere\n')}`, '/-/audit?build=/dpkg/same/1/', '/-/tokens'];
      for (const p of paths) {
        const answers = await Promise.all(
          [a, b, c].map(async (r) => {
            const res = await fetch(`${r.baseUrl}${p}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
            expect(res.status, p).to.equal(200);
            return JSON.stringify(await res.json()).replaceAll(r.baseUrl, 'BASE');
          }),
        );
        expect(answers[1], p).to.equal(answers[0]);
        expect(answers[2], p).to.equal(answers[0]);
      }
    });
  });

  describe('apt and pip indexes on two replicas', () => {
    let set: ReplicaSet;
    let work: string;

    before(async function () {
      requireTool(this, 'dpkg-deb', 'dpkg');
      set = await startReplicas(pg, 2);
      work = await makeTempDir('replica-packages-');
    });
    after(async () => {
      await set?.close();
      await rm(work, { recursive: true, force: true });
    });

    it('two builds of one project sealed at once on two replicas: both in the apt index, and every replica serves the same indexes', async () => {
      const [a, b] = set.replicas as [TestServer, TestServer];
      const debs = await Promise.all(['1.0-1', '1.1-1'].map((version) => makeDeb(work, { name: 'replicated', version, arch: 'amd64' })));
      const wheel = await makeWheel(work, { name: 'replicated-lib', version: '3.0' });
      const tokens = await Promise.all(['1', '2'].map((build) => mintWith(a.baseUrl, { type: 'dpkg', project: 'replicated', build })));
      for (const [i, t] of tokens.entries()) {
        const res = await fetch(`${b.baseUrl}/dpkg/replicated/${i + 1}/${path.basename(debs[i] as string)}`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: new Uint8Array(await readFile(debs[i] as string)) });
        expect(res.status).to.equal(201);
      }
      const t2 = tokens[1] as MintedToken;
      const putWheel = await fetch(`${a.baseUrl}/dpkg/replicated/2/${path.basename(wheel)}`, { method: 'PUT', headers: { Authorization: basic(t2.username, t2.password) }, body: new Uint8Array(await readFile(wheel)) });
      expect(putWheel.status).to.equal(201);
      // Sealed at once, one on each replica: one writer of the project's index at a time.
      expect(await Promise.all([revoke(a.baseUrl, tokens[0] as MintedToken), revoke(b.baseUrl, tokens[1] as MintedToken)])).to.deep.equal([204, 204]);
      const packages = await until('both builds in the index', async () => {
        const text = await (await fetch(`${a.baseUrl}/-/apt/dpkg/replicated/dists/stable/main/binary-amd64/Packages`)).text();
        return text.includes('Version: 1.0-1') && text.includes('Version: 1.1-1') ? text : null;
      });
      for (const p of ['/-/apt/dpkg/replicated/dists/stable/InRelease', '/-/apt/dpkg/replicated/dists/latest/main/binary-amd64/Packages', '/-/pypi/simple/replicated-lib/']) {
        const [x, y] = await Promise.all([a, b].map(async (r) => (await fetch(`${r.baseUrl}${p}`, { headers: { Accept: 'application/vnd.pypi.simple.v1+json' } })).text()));
        expect(y, p).to.equal(x);
      }
      expect(await (await fetch(`${b.baseUrl}/-/apt/dpkg/replicated/dists/stable/main/binary-amd64/Packages`)).text()).to.equal(packages);
      expect(await (await fetch(`${b.baseUrl}/-/pypi/simple/replicated-lib/`)).text()).to.include('replicated_lib-3.0-py3-none-any.whl#sha256=');
    });
  });

  describe('a replica killed mid-upload', () => {
    let set: ReplicaSet;
    let child: ChildServer | null = null;
    let childData: string;

    before(async () => {
      set = await startReplicas(pg, 2);
      childData = await makeTempDir('replica-child-');
    });
    after(async () => {
      await child?.stop('SIGKILL');
      await set?.close();
      await rm(childData, { recursive: true, force: true });
    });

    it('kill -9 of one replica during an upload: the others serve on, the upload leaves nothing, the build is sealed', async () => {
      child = await startChild(childData, { DATABASE_URL: set.databaseUrl as string, ARTIFACTS_DIR: set.artifactsDir });
      const t = await mintWith(set.baseUrl, { type: 'dpkg', project: 'killed', build: '1' });
      expect(await put(set.baseUrl, '/dpkg/killed/1/kept.txt', t, 'kept\n')).to.equal(201);
      const upload = http.request(`${child.baseUrl}/dpkg/killed/1/cut.bin`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password), 'Content-Length': 64 * 1024 * 1024 } });
      upload.on('error', () => undefined);
      upload.write(Buffer.alloc(4 * 1024 * 1024, 7));
      // Under way: the child holds a write in flight for the build.
      await until('the upload in flight', () => uploadInFlight(set));
      await child.stop('SIGKILL');
      child = null;
      // The others serve on: reads through nginx, and writes.
      const got = await fetch(`${set.baseUrl}/dpkg/killed/1/kept.txt`);
      expect(got.status).to.equal(200);
      expect(await got.text()).to.equal('kept\n');
      expect(await put(set.baseUrl, '/dpkg/killed/1/after.txt', t, 'after\n')).to.equal(201);
      // The dead replica's write holds the seal up for its lease, no longer.
      expect(await revoke(set.baseUrl, t)).to.equal(204);
      const sums = await until('the seal', async () => {
        const res = await fetch(`${set.baseUrl}/dpkg/killed/1/SHA256SUMS`);
        return res.status === 200 ? res.text() : null;
      });
      expect([...sumsOf(sums).keys()].sort()).to.deep.equal(['after.txt', 'kept.txt']);
      expect(existsSync(path.join(set.artifactsDir, 'dpkg/killed/1/cut.bin'))).to.equal(false);
    });
  });

  describe('scheduled work with two replicas', () => {
    let set: ReplicaSet;
    let origin: Origin;
    let policyDir: string;
    let home: string;

    before(async function () {
      for (const [tool, pkg] of [['curl', 'curl'], ['openssl', 'openssl']] as const) requireTool(this, tool, pkg);
      if (!existsSync(STREAM_MODULE)) {
        skipUnlessCi(this, 'the nginx stream module is not installed', 'apt-get install libnginx-mod-stream, as .ci/run does');
      }
      origin = await startOrigin();
      policyDir = await makeTempDir('replicas-policy-');
      const policy = path.join(policyDir, 'retention.json');
      await writeFile(policy, JSON.stringify({ projects: { 'dpkg/kept-one': { keep_newest: 1, keep_days: 0 } } }));
      await chmod(policy, 0o644);
      set = await startReplicas(pg, 2, { PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile, RETENTION_POLICY: policy, RETENTION_INTERVAL: '1', SEAL_GRACE: '0' }, { proxy: true });
      home = await makeTempDir('replicas-home-');
    });
    after(async () => {
      await set?.close();
      await origin?.remove();
      await rm(policyDir, { recursive: true, force: true });
      await rm(home, { recursive: true, force: true });
    });

    it('the build proxy behind nginx (stream.conf): tunnels land on both replicas and record into one build, with one CA', async () => {
      const cas = await Promise.all(set.replicas.map(async (r) => (await fetch(`${r.baseUrl}/-/proxy/ca.pem`)).text()));
      expect(cas[1]).to.equal(cas[0]);
      const ca = await fetchProxyCa(set.baseUrl, home);
      const t = await mintWith(set.baseUrl, { type: 'dpkg', project: 'proxied', build: '1' });
      for (let i = 0; i < 4; i++) {
        const got = await curlVia(proxyUrl(set.nginx.proxyPort as number, t), `${origin.httpsBase}/files/hello.txt?n=${i}`, ca, home);
        expect(got.status, got.stderr).to.equal(200);
        expect(got.body).to.equal('hello from the origin\n');
      }
      // Each replica's proxy carried some of the tunnels.
      for (const r of set.replicas) {
        const text = await (await fetch(`${r.baseUrl}/-/metrics`, { headers: { Authorization: MASTER_AUTH } })).text();
        expect(Number(/^artifact_repo_proxy_requests_total\{mode="record",outcome="recorded"\} (\d+)$/m.exec(text)?.[1] ?? 0), text).to.be.greaterThan(0);
      }
      const inputs = await until('the four inputs', async () => {
        const res = await fetch(`${set.baseUrl}/-/inputs?build=${encodeURIComponent('/dpkg/proxied/1/')}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
        const body = (await res.json()) as { exchanges: { url: string; sha256: string }[] };
        return body.exchanges.length === 4 ? body.exchanges : null;
      });
      for (const x of inputs) expect(x.sha256).to.equal(sha256('hello from the origin\n'));
    });

    it('retention runs once: each old build is deleted by one replica, audited once', async () => {
      for (const n of ['1', '2', '3']) {
        const t = await mintWith(set.baseUrl, { type: 'dpkg', project: 'kept-one', build: n });
        expect(await put(set.baseUrl, `/dpkg/kept-one/${n}/f.txt`, t, `${n}\n`)).to.equal(201);
        expect(await revoke(set.baseUrl, t)).to.equal(204);
      }
      await until('retention', async () => !existsSync(path.join(set.artifactsDir, 'dpkg/kept-one/1')) && !existsSync(path.join(set.artifactsDir, 'dpkg/kept-one/2')));
      // A few more runs of the schedule: nothing is deleted twice.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(existsSync(path.join(set.artifactsDir, 'dpkg/kept-one/3/f.txt'))).to.equal(true);
      for (const n of ['1', '2']) expect((await auditEvents(set.baseUrl, `/dpkg/kept-one/${n}/`)).filter((e) => e === 'build.deleted')).to.have.length(1);
      // One replica ran the schedule, the other none of it.
      const runs = await Promise.all(
        set.replicas.map(async (r) => {
          const text = await (await fetch(`${r.baseUrl}/-/metrics`, { headers: { Authorization: MASTER_AUTH } })).text();
          return { runs: Number(/^artifact_repo_scheduled_runs_total\{job="retention"\} (\d+)$/m.exec(text)?.[1] ?? NaN), leader: /^artifact_repo_scheduled_work 1$/m.test(text) };
        }),
      );
      expect(runs.filter((r) => r.leader)).to.have.length(1);
      for (const r of runs) expect(r.runs > 0, JSON.stringify(runs)).to.equal(r.leader);
      expect((await auditEvents(set.baseUrl, '/dpkg/kept-one/3/')).filter((e) => e === 'build.deleted')).to.have.length(0);
    });

    it('a mirror download runs once; when the replica running the downloads stops, the other one takes them over', async () => {
      const declareOn = async (base: string, url: string): Promise<string> => {
        const res = await fetch(`${base}/-/mirror`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ url }) });
        expect(res.status).to.equal(202);
        return ((await res.json()) as { id: string }).id;
      };
      const stateOn = async (base: string, id: string): Promise<string> => ((await (await fetch(`${base}/-/mirror/${id}`)).json()) as { state: string }).state;
      const [first, second] = set.replicas as [TestServer, TestServer];
      // Declared through the replica that does not run the downloads, seen done through both.
      const leader = first.app.isLeader() ? first : second;
      const follower = leader === first ? second : first;
      const url = `${origin.httpsBase}/files/hello.txt`;
      const id = await declareOn(follower.baseUrl, url);
      await until('the download', async () => (await stateOn(leader.baseUrl, id)) === 'ok');
      expect(await stateOn(follower.baseUrl, id)).to.equal('ok');
      await new Promise((r) => setTimeout(r, 1_500));
      // (The proxy's test above asked for /files/hello.txt?n=…: those are not the mirror's.)
      expect((await origin.requests()).filter((l) => /\/files\/hello\.txt[ "]/.test(l))).to.have.length(1);
      // The leader goes; the other replica takes the downloads over.
      await leader.close();
      set.replicas.splice(set.replicas.indexOf(leader), 1);
      const next = await declareOn(follower.baseUrl, `${origin.httpsBase}/files/data.json`);
      await until('the download after the takeover', async () => (await stateOn(follower.baseUrl, next)) === 'ok');
      expect(follower.app.isLeader()).to.equal(true);
      expect((await origin.requests()).filter((l) => l.includes('/files/data.json'))).to.have.length(1);
    });
  });

  describe('PostgreSQL stopped and started again under load', () => {
    let set: ReplicaSet;

    before(async () => {
      set = await startReplicas(pg, 3);
    });
    after(async () => {
      await set?.close();
    });

    it('downloads go on, writes and mints get 503 and leave nothing, and service resumes by itself', async () => {
      const t = await mintWith(set.baseUrl, { type: 'dpkg', project: 'outage', build: '1' });
      expect(await put(set.baseUrl, '/dpkg/outage/1/kept.txt', t, 'kept\n')).to.equal(201);
      const seen = { get: new Map<number, number>(), put: new Map<number, number>() };
      const failedPuts: string[] = [];
      let running = true;
      const count = (map: Map<number, number>, status: number): void => void map.set(status, (map.get(status) ?? 0) + 1);
      const load = (async () => {
        for (let i = 0; running; i++) {
          const got = await fetch(`${set.baseUrl}/dpkg/outage/1/kept.txt`);
          const body = await got.text();
          count(seen.get, got.status);
          if (got.status === 200) expect(body).to.equal('kept\n');
          const file = `/dpkg/outage/1/load-${i}.txt`;
          const status = await put(set.baseUrl, file, t, `${i}\n`);
          count(seen.put, status);
          if (status !== 201) failedPuts.push(file);
        }
      })();
      await new Promise((r) => setTimeout(r, 500));
      await pg.stop();
      await new Promise((r) => setTimeout(r, 2_000));
      await pg.start();
      // Back without a restart of any replica.
      await until('writes again', async () => (await put(set.baseUrl, `/dpkg/outage/1/back-${Date.now()}.txt`, t, 'back\n')) === 201, 60_000);
      running = false;
      await load;
      expect([...seen.get.keys()], 'downloads during the outage').to.deep.equal([200]);
      expect([...seen.put.keys()].sort()).to.deep.equal([201, 503]);
      for (const file of failedPuts) expect(existsSync(path.join(set.artifactsDir, file)), file).to.equal(false);
      expect((await mintWith(set.baseUrl, { type: 'dpkg', project: 'outage', build: '2' })).scope).to.equal('/dpkg/outage/2/');
      expect(await readFile(path.join(set.artifactsDir, 'dpkg/outage/1/kept.txt'), 'utf8')).to.equal('kept\n');
    });
  });
});
