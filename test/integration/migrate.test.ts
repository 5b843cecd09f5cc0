// artifact-repo migrate --to postgres://…: an embedded repository with builds, tokens (a
// live one and a revoked one), recorded inputs, a mirror entry and an audit trail, copied
// into an empty PostgreSQL database, then served from it with the same answers.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, mintWith, REPO_ROOT, startServer, type TestServer } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';
import { run } from '../helpers/tools.js';

function cli(dataDir: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run(process.execPath, ['dist/cli/main.js', ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', DATA_DIR: dataDir, MASTER_USER, MASTER_PASSWORD } });
}

async function json(s: TestServer, path: string): Promise<unknown> {
  const res = await fetch(`${s.baseUrl}${path}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
  expect(res.status, path).to.equal(200);
  return res.json();
}

describe('artifact-repo migrate --to postgres://', function () {
  this.timeout(120_000);
  let pg: Postgres;
  let dataDir: string;
  let origin: http.Server;
  let originPort: number;

  before(async function () {
    pg = await requirePostgres(this);
    dataDir = await makeTempDir('migrate-');
    origin = http.createServer((_req, res) => res.end('from the origin\n'));
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.2', () => resolve()));
    originPort = (origin.address() as AddressInfo).port;
  });

  // Closed whatever fails, so that a failing run ends instead of hanging on a live server.
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  after(async () => {
    await pg?.remove();
    await new Promise((resolve) => origin?.close(resolve));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("upgrading a DATABASE_URL repository whose records were on the volume: the first start copies them in, once", async () => {
    // What a version that kept checksum records and dead properties in .meta left behind.
    const volume = await makeTempDir('upgrade-');
    try {
      const old = await startServer({ DATA_DIR: volume });
      servers.push(old);
      const t = await mintWith(old.baseUrl, { type: 'dpkg', project: 'up', build: '1' });
      const auth = basic(t.username, t.password);
      expect((await fetch(`${old.baseUrl}/dpkg/up/1/a.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'a\n' })).status).to.equal(201);
      const set = (value: string): string => `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:origin>${value}</Z:origin></D:prop></D:set></D:propertyupdate>`;
      expect((await fetch(`${old.baseUrl}/dpkg/up/1/a.txt`, { method: 'PROPPATCH', headers: { Authorization: auth, 'Content-Type': 'application/xml' }, body: set('from the volume') })).status).to.equal(207);
      await (servers.pop() as TestServer).close();
      const url = await freshDatabase(pg);
      const env = { DATABASE_URL: url, ARTIFACTS_DIR: path.join(volume, 'artifacts'), DATA_DIR: path.join(volume, 'replica') };
      const origin = async (s: TestServer): Promise<string> =>
        (await fetch(`${s.baseUrl}/dpkg/up/1/a.txt`, { method: 'PROPFIND', headers: { Depth: '0' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:x"><D:prop><Z:origin/></D:prop></D:propfind>' })).text();
      const first = await startServer(env);
      servers.push(first);
      expect(await origin(first)).to.include('from the volume');
      const found = (await (await fetch(`${first.baseUrl}/-/search?sha256=87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7`, { headers: { Accept: 'application/json' } })).json()) as { results: unknown[] };
      expect(found.results).to.have.length(1);
      // Changed in the database, then a restart: the volume's old value does not come back.
      const t2 = await mintWith(first.baseUrl, { type: 'dpkg', project: 'up', build: '2' });
      expect((await fetch(`${first.baseUrl}/dpkg/up/2/b.txt`, { method: 'PUT', headers: { Authorization: basic(t2.username, t2.password) }, body: 'b\n' })).status).to.equal(201);
      const { Database } = await import('../../server/storage/pg/database.js');
      const db = await Database.open(url);
      await db.query(`UPDATE resources SET props = NULL WHERE path = 'dpkg/up/1/a.txt'`);
      await db.close();
      await (servers.pop() as TestServer).close();
      const second = await startServer(env);
      servers.push(second);
      expect(await origin(second)).to.not.include('from the volume');
    } finally {
      for (const s of servers.splice(0)) await s.close();
      await rm(volume, { recursive: true, force: true });
    }
  });

  it('copies everything, refuses a database that is not empty, and the server answers the same from it', async () => {
    const proxyPort = await freePort();
    const env = { DATA_DIR: dataDir, PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32' };
    const embedded = await startServer(env);
    servers.push(embedded);
    const live = await mintWith(embedded.baseUrl, { type: 'dpkg', project: 'mig', build: '1' });
    expect((await fetch(`${embedded.baseUrl}/dpkg/mig/1/a.txt`, { method: 'PUT', headers: { Authorization: basic(live.username, live.password) }, body: 'a\n' })).status).to.equal(201);
    // An input, recorded through the build proxy (plain HTTP).
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: `http://127.0.0.2:${originPort}/dep.txt`, headers: { 'Proxy-Authorization': basic(live.username, live.password) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).to.equal(200);
    const ended = await mintWith(embedded.baseUrl, { type: 'dpkg', project: 'mig', build: '2' });
    expect((await fetch(`${embedded.baseUrl}/-/tokens/${ended.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(204);
    // A pin on the sealed build: a build state, kept in the database from now on.
    const pinned = await fetch(`${embedded.baseUrl}/-/pins`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ build: '/dpkg/mig/2/' }) });
    expect(pinned.status).to.equal(201);
    const declared = await fetch(`${embedded.baseUrl}/-/mirror`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ url: 'https://127.0.0.3/tool.tar.gz', note: 'refused: private' }) });
    expect(declared.status).to.equal(202);
    // A dead property, and the file's checksum in the index: resources' records, kept in the database from now on.
    const proppatch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:origin>migré</Z:origin></D:prop></D:set></D:propertyupdate>`;
    expect((await fetch(`${embedded.baseUrl}/dpkg/mig/1/a.txt`, { method: 'PROPPATCH', headers: { Authorization: basic(live.username, live.password), 'Content-Type': 'application/xml' }, body: proppatch })).status).to.equal(207);
    const propfind = async (s: TestServer): Promise<string> => {
      const res = await fetch(`${s.baseUrl}/dpkg/mig/1/a.txt`, { method: 'PROPFIND', headers: { Depth: '0', 'Content-Type': 'application/xml' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:x"><D:prop><Z:origin/></D:prop></D:propfind>' });
      expect(res.status).to.equal(207);
      return res.text();
    };
    expect(await propfind(embedded)).to.include('migré');
    await new Promise((r) => setTimeout(r, 300));
    const paths = ['/-/search?sha256=87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7', '/-/tokens', '/-/audit?build=/dpkg/mig/1/', '/-/audit?build=/dpkg/mig/2/', '/-/inputs?build=/dpkg/mig/1/', '/-/mirror', '/-/pins', '/dpkg/mig/'];
    const before = await Promise.all(paths.map((p) => json(embedded, p)));
    expect((before[0] as { results: unknown[] }).results).to.have.length(1);
    const propsBefore = await propfind(embedded);
    const keyBefore = await (await fetch(`${embedded.baseUrl}/-/signing-key`)).text();
    const caBefore = await (await fetch(`${embedded.baseUrl}/-/proxy/ca.pem`)).text();
    await (servers.pop() as TestServer).close();

    const url = await freshDatabase(pg);
    const moved = await cli(dataDir, ['migrate', '--to', url]);
    expect(moved.code, moved.stderr).to.equal(0);
    expect(moved.stdout).to.match(/^copied 1 masters, 2 tokens, 1 build states, \d+ audit entries, 1 recorded inputs of 1 builds, 1 mirror entries, \d+ files' checksums and properties, 1 signing keys, the packages of \d+ sealed builds, the build proxy's certificate authority$/m);
    expect(moved.stdout + moved.stderr).to.not.include(MASTER_PASSWORD).and.not.include(live.password);
    const again = await cli(dataDir, ['migrate', '--to', url]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include('the database is not empty');

    const fromDatabase = await startServer({ ...env, DATABASE_URL: url });
    // Two more replicas of the migrated repository: the same artifacts, each its own TOKENS_DIR.
    const more = [];
    try {
      for (const n of [2, 3]) more.push(await startServer({ DATABASE_URL: url, ARTIFACTS_DIR: fromDatabase.artifactsDir, DATA_DIR: path.join(dataDir, `replica-${n}`) }));
      for (const replica of [fromDatabase, ...more]) {
        const after = await Promise.all(paths.map((p) => json(replica, p)));
        for (let i = 0; i < paths.length; i++) expect(after[i], paths[i]).to.deep.equal(before[i]);
        expect(await propfind(replica)).to.equal(propsBefore);
      }
      // The same signing key: a pinned key goes on verifying.
      expect(await (await fetch(`${fromDatabase.baseUrl}/-/signing-key`)).text()).to.equal(keyBefore);
      // The same authority: builds that trust it go on trusting the proxy.
      expect(await (await fetch(`${fromDatabase.baseUrl}/-/proxy/ca.pem`)).text()).to.equal(caBefore);
      // The live token still opens its build; the revoked one does not.
      expect((await fetch(`${fromDatabase.baseUrl}/dpkg/mig/1/b.txt`, { method: 'PUT', headers: { Authorization: basic(live.username, live.password) }, body: 'b\n' })).status).to.equal(201);
      expect((await fetch(`${fromDatabase.baseUrl}/dpkg/mig/2/b.txt`, { method: 'PUT', headers: { Authorization: basic(ended.username, ended.password) }, body: 'b\n' })).status).to.equal(401);
      const busy = await cli(dataDir, ['migrate', '--to', await freshDatabase(pg)]);
      expect(busy.code).to.equal(1);
      expect(busy.stderr).to.include('a server is running on this data directory');
    } finally {
      for (const replica of more) await replica.close();
      await fromDatabase.close();
    }
  });
});
