// The several-replica deployment, run for real: docker/docker-compose.ha.yml on a private
// Docker engine with stand-ins for the base images (PostgreSQL's among them), scaled to
// three replicas as docs/deployment.md says. Requests spread over the replicas, one of
// them is killed and the repository goes on, the build proxy answers through nginx's
// stream module, and a revoke seals the build once.
//
// `npm run test:docker`. Skipped with the reason where no engine can start; under CI that
// fails instead.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../helpers/nginx.js';
import { findTool, run, skipUnlessCi, type RunResult } from '../helpers/tools.js';
import { composeProject, engineUnavailable, masterClient, startEngine, userCheckout, type Engine, tearDownCompose } from './engine.js';
import { ensureStandins } from './standins.js';

const MASTER_PASSWORD = 'another-long-master-password';
const POSTGRES_PASSWORD = 'a-long-postgres-password';
const PROJECT = 'artrepoha';
const COMPOSE_FILE = 'docker/docker-compose.ha.yml';
const REPLICAS = 3;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

describe('several-replica docker deployment on a real engine', function () {
  this.timeout(1_800_000);
  const timings: string[] = [];
  let engine: Engine | null = null;
  let work: string;
  let base: string;
  let proxyPort: number;
  let composeEnv: NodeJS.ProcessEnv;

  const project = composeProject([COMPOSE_FILE], () => ({ engine, work, env: composeEnv }));
  const { containersOf, healthOf } = project;
  const compose = (args: string[]): Promise<RunResult> => project.run(args);
  const mustCompose = (args: string[]): Promise<string> => project.must(args);
  const { master, mint, put } = masterClient(() => base, MASTER_PASSWORD, 'ha');
  /** Requests each running app container logged for this path prefix. */
  const requestsPerReplica = async (prefix: string): Promise<number[]> => {
    const counts: number[] = [];
    for (const id of await containersOf('app')) {
      const logs = await (engine as Engine).docker(['logs', id]);
      counts.push(`${logs.stdout}\n${logs.stderr}`.split('\n').filter((l) => l.includes('"msg":"request"') && l.includes(`"path":"${prefix}`)).length);
    }
    return counts;
  };

  before(async function () {
    const why = engineUnavailable();
    if (why) skipUnlessCi(this, `the Docker engine test cannot run: ${why}`, 'install docker.io, docker-compose, debootstrap and iptables and run as root, as .ci/run does');
    let started = Date.now();
    engine = await startEngine();
    await ensureStandins(engine, (line) => timings.push(line), { postgres: true });
    timings.push(`engine and stand-ins ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    work = await userCheckout('compose-ha-');
    // The three secret files, as the compose file's header says.
    const secrets = { master_password: MASTER_PASSWORD, postgres_password: POSTGRES_PASSWORD, database_url: `postgres://artifacts:${POSTGRES_PASSWORD}@postgres:5432/artifacts` };
    for (const [name, value] of Object.entries(secrets)) {
      await writeFile(path.join(work, `docker/${name}.txt`), `${value}\n`);
      await chmod(path.join(work, `docker/${name}.txt`), 0o600);
    }
    // The postgres image reads its secret as its own user (uid 999), as the header says.
    await chown(path.join(work, 'docker/postgres_password.txt'), 999, 999);
    const port = await freePort();
    proxyPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    composeEnv = { ...engine.env, COMPOSE_PROJECT_NAME: PROJECT, HTTP_ADDRESS: '127.0.0.1', HTTP_PORT: String(port), PROXY_ADDRESS: '127.0.0.1', PROXY_PORT: String(proxyPort), PUBLIC_URL: `${base}/` };
    await compose(['down', '-v', '--remove-orphans']);
    started = Date.now();
    await mustCompose(['up', '-d', '--build', '--scale', `app=${REPLICAS}`]);
    timings.push(`up -d --build --scale app=${REPLICAS}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    started = Date.now();
    for (;;) {
      const ids = [...(await containersOf('postgres')), ...(await containersOf('app')), ...(await containersOf('nginx'))];
      const states = await Promise.all(ids.map(healthOf));
      if (ids.length === REPLICAS + 2 && states.every((s) => s === 'healthy true') && (await fetch(`${base}/-/health`).then((r) => r.ok, () => false))) break;
      if (Date.now() - started > 240_000) throw new Error(`not healthy after 240 s: ${states.join(', ')}\n${(await compose(['logs', '--tail', '30'])).stdout}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    timings.push(`healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  after(() => tearDownCompose(engine, work, compose, timings));

  it(`runs PostgreSQL, ${REPLICAS} replicas of the app and nginx; the replicas agree on one schema and one master`, async () => {
    expect(await containersOf('app')).to.have.length(REPLICAS);
    const tables = await mustCompose(['exec', '-T', 'postgres', 'psql', '-U', 'artifacts', '-d', 'artifacts', '-At', '-c', 'SELECT version FROM schema_version; SELECT count(*) FROM masters; SELECT count(*) FROM replicas']);
    const [version, masters, replicas] = tables.trim().split('\n');
    expect(Number(version)).to.be.greaterThan(0);
    expect(masters).to.equal('1');
    expect(Number(replicas)).to.equal(REPLICAS);
  });

  it('spreads requests over the replicas: uploads through nginx land on each, and every one is served with its checksum', async () => {
    const t = await mint('1');
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 30; i++) {
      const body = randomBytes(i === 0 ? 5 * 1024 * 1024 : 1000 + i);
      bodies.set(`f${i}.bin`, body);
      expect(await put(t, `f${i}.bin`, body)).to.equal(201);
    }
    for (const [name, body] of bodies) {
      const res = await fetch(`${base}${t.scope}${name}`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('x-checksum-sha256')).to.equal(sha256(body));
      expect(sha256(Buffer.from(await res.arrayBuffer()))).to.equal(sha256(body));
    }
    const counts = await requestsPerReplica('/dpkg/ha/1/');
    expect(counts.filter((n) => n > 0), counts.join(' ')).to.have.length(REPLICAS);
  });

  it('the build proxy answers through nginx (stream.conf): 407 without a token, one CA for every replica', async () => {
    const res = await run(findTool('curl') as string, ['--silent', '--output', '/dev/null', '--write-out', '%{http_code}', '--proxy', `http://127.0.0.1:${proxyPort}`, 'http://example.invalid/'], { timeoutMs: 30_000 });
    expect(res.stdout).to.equal('407');
    const cas = new Set<string>();
    for (let i = 0; i < 6; i++) cas.add(await (await fetch(`${base}/-/proxy/ca.pem`)).text());
    expect(cas.size).to.equal(1);
    expect([...cas][0]).to.match(/^-----BEGIN CERTIFICATE-----/);
  });

  it('a replica killed: reads, writes and mints go on through the others; the revoke seals the build once', async () => {
    const t = await mint('2');
    expect(await put(t, 'before.txt', 'before\n')).to.equal(201);
    const [victim] = await containersOf('app');
    await (engine as Engine).docker(['kill', '--signal', 'KILL', victim as string]);
    for (let i = 0; i < 12; i++) {
      const got = await fetch(`${base}${t.scope}before.txt`);
      expect(got.status).to.equal(200);
      expect(await got.text()).to.equal('before\n');
    }
    // A write that reaches the dead replica first is answered 502 by nginx (a body sent is
    // never sent twice); nginx then leaves that replica out for a while.
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push(await put(t, `after-${i}.txt`, `after ${i}\n`));
    expect(statuses.filter((s) => s !== 201 && s !== 502), statuses.join(' ')).to.deep.equal([]);
    expect(statuses.filter((s) => s === 201).length, statuses.join(' ')).to.be.greaterThan(3);
    const revoke = await fetch(`${base}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: master } });
    expect([204, 502]).to.include(revoke.status);
    if (revoke.status === 502) expect((await fetch(`${base}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: master } })).status).to.equal(204);
    let sums = '';
    for (let i = 0; i < 60 && !sums; i++) {
      const res = await fetch(`${base}${t.scope}SHA256SUMS`);
      if (res.status === 200) sums = await res.text();
      else await new Promise((r) => setTimeout(r, 500));
    }
    const expected = ['before.txt', ...statuses.map((s, i) => (s === 201 ? `after-${i}.txt` : null)).filter((n): n is string => n !== null)].sort();
    expect(sums.trim().split('\n').map((l) => l.split('  ')[1]).sort()).to.deep.equal(expected);
    const sealed = await mustCompose(['exec', '-T', 'postgres', 'psql', '-U', 'artifacts', '-d', 'artifacts', '-At', '-c', "SELECT count(*) FROM audit WHERE build = '/dpkg/ha/2/' AND entry->>'event' = 'build.sealed'"]);
    expect(sealed.trim()).to.equal('1');
  });
});
