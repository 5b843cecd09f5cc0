// What a hostile build script (it holds a token) or an anonymous visitor could do through
// the build proxy, as the second hardening review found it (issue 26), and what the server
// does now: recordings bounded in lines, bytes and URL length (a clear 414 or 507 past
// them), read only up to those bounds, public views without queries, the repository's own
// ports refused however an address is written, tunnels per token bounded, request values
// kept only as keyed hashes, Vary bounded, oversized headers and slow clients cut. Each
// runs on the embedded store and on PostgreSQL. bench/stall-probe.mjs measures how long a
// health probe waits meanwhile.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { basic, makeTempDir, MASTER_AUTH, mintWith, REPO_ROOT, startServer, until, type MintedToken, type TestServer } from '../helpers/harness.js';
import { run } from '../helpers/tools.js';
import { freePort } from '../helpers/nginx.js';
import { databaseMode } from '../helpers/postgres.js';
import { openTunnel } from '../helpers/proxy.js';

const ORIGIN = '127.0.0.2';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One absolute-form request through the build proxy with a token's credentials. */
function viaProxy(proxyPort: number, token: MintedToken, url: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, agent, headers: { 'Proxy-Authorization': basic(token.username, token.password), ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `urls` through the proxy, `parallel` at a time; the statuses, in no particular order. */
async function many(proxyPort: number, token: MintedToken, urls: string[], parallel: number): Promise<Answer[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel });
  const answers: Answer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < urls.length) answers.push(await viaProxy(proxyPort, token, urls[next++] as string, {}, agent));
    }),
  );
  agent.destroy();
  return answers;
}

const countOf = (answers: Answer[], status: number): number => answers.filter((a) => a.status === status).length;

async function revoke(s: TestServer, t: MintedToken): Promise<string | null> {
  const res = await fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  expect(res.status).to.equal(204);
  return res.headers.get('x-artifact-repo-seal');
}

async function json<T>(s: TestServer, url: string, master = false): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.baseUrl}${url}`, { headers: { Accept: 'application/json', ...(master ? { Authorization: MASTER_AUTH } : {}) } });
  return { status: res.status, body: (await res.json()) as T };
}

/** The recording of a build as the store keeps it, as text: the file, or the rows. */
async function recordingText(s: TestServer, build: string[]): Promise<string> {
  if (!s.databaseUrl) return readFile(path.join(s.artifactsDir, '.inputs', ...build.slice(0, 2), `${build[2]}.jsonl`), 'utf8').catch(() => '');
  const client = new pg.Client({ connectionString: s.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ line: string }>('SELECT line::text AS line FROM inputs WHERE build = $1 ORDER BY seq', [build.join('/')]);
    return rows.map((r) => r.line).join('\n');
  } finally {
    await client.end();
  }
}

async function auditOf(s: TestServer, build: string): Promise<Array<{ event: string; url?: string }>> {
  const { body } = await json<{ entries: Array<{ event: string; url?: string }> }>(s, `/-/audit?build=${encodeURIComponent(build)}&limit=1000`, true);
  return body.entries;
}

interface InputsView {
  exchanges: Array<{ url: string; status: number }>;
  misses: unknown[];
  missTotal: number;
  paging: { total: number };
}

/** A plain HTTP origin on 127.0.0.2 for what nginx will not send: answers that vary in odd ways, oversized headers. */
async function startOrigin(): Promise<{ base: string; port: number; seen(): number; close(): Promise<void> }> {
  let variant = 0;
  let seen = 0;
  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    seen++;
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname.startsWith('/missing/')) return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('no\n');
    if (url.pathname === '/keyed') {
      // Varies on credentials: the recording must not keep them.
      return void res.writeHead(200, { Vary: 'X-Api-Key, Authorization, Cookie', 'Content-Type': 'text/plain' }).end(`for ${createHash('sha256').update(String(req.headers['x-api-key'])).digest('hex').slice(0, 8)}\n`);
    }
    if (url.pathname === '/ranged') {
      // Honours a Range: a part of the body, 206.
      const body = 'the whole ranged body\n';
      const m = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
      if (!m) return void res.writeHead(200, { 'Content-Length': body.length }).end(body);
      const end = m[2] ? Number(m[2]) : body.length - 1;
      return void res.writeHead(206, { 'Content-Range': `bytes ${m[1]}-${end}/${body.length}` }).end(body.slice(Number(m[1]), end + 1));
    }
    if (url.pathname === '/ignores-range') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('all of it, whatever was asked\n');
    if (url.pathname === '/variant') return void res.writeHead(200, { Vary: 'X-Variant' }).end(`variant ${req.headers['x-variant'] ?? 'none'} #${variant++}\n`);
    if (url.pathname === '/wide-vary') return void res.writeHead(200, { Vary: Array.from({ length: 40 }, (_, i) => `X-H${i}`).join(', ') }).end('wide\n');
    if (url.pathname === '/huge-headers') {
      const headers: Record<string, string> = {};
      for (let i = 0; i < 30; i++) headers[`X-Filler-${i}`] = 'f'.repeat(1000);
      return void res.writeHead(200, headers).end('huge\n');
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`ok ${url.pathname}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, ORIGIN, () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://${ORIGIN}:${port}`, port, seen: () => seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

for (const mode of ['embedded', 'PostgreSQL'] as const) {
  describe(`build proxy hardening (issue 26): ${mode}`, function () {
    this.timeout(180_000);
    let teardown: (() => Promise<void>) | null = null;
    let origin: Awaited<ReturnType<typeof startOrigin>>;
    const servers: TestServer[] = [];

    /** A server with its build proxy, allowed to reach loopback (as the review ran it). */
    async function server(env: Record<string, string> = {}): Promise<{ s: TestServer; proxyPort: number }> {
      const proxyPort = await freePort();
      const s = await startServer({ PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.0/8', SEAL_GRACE: '5', ...env });
      servers.push(s);
      return { s, proxyPort };
    }

    before(async function () {
      if (mode === 'PostgreSQL') teardown = await databaseMode(this);
      origin = await startOrigin();
    });

    // Each test's servers end with it: a suite's worth of them open at once (each with its
    // pools) would exhaust the PostgreSQL server's 100 connections.
    afterEach(async () => {
      for (const s of servers.splice(0)) await s.close();
    });

    after(async () => {
      await origin?.close();
      await teardown?.();
    });

    describe('recordings are bounded (finding 1)', () => {
      it('misses fill an offline recording to INPUTS_MAX_LINES exactly, then 507 names the limit; 100 misses are audited, their URLs shortened', async () => {
        const { s, proxyPort } = await server({ INPUTS_MAX_LINES: '120' });
        const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'misses', build: '1', proxy: 'offline' });
        const urls = Array.from({ length: 140 }, (_, i) => `${origin.base}/never/${i}/${'p'.repeat(900)}?token=SECRET${i}`);
        const answers = await many(proxyPort, t, urls, 8);
        expect(countOf(answers, 404)).to.equal(120);
        expect(countOf(answers, 507)).to.equal(20);
        expect(answers.find((a) => a.status === 507)?.body).to.equal('the recording of /dpkg/misses/1/ is full: it may hold 120 lines (INPUTS_MAX_LINES); this exchange is not made\n');
        const view = (await json<InputsView>(s, '/-/inputs?build=/dpkg/misses/1/', true)).body;
        expect(view.missTotal).to.equal(120);
        const missed = (await auditOf(s, '/dpkg/misses/1/')).filter((e) => e.event === 'input.missed');
        expect(missed).to.have.length(100);
        for (const e of missed) {
          expect((e.url as string).length).to.be.at.most(520);
          expect(e.url).to.not.include('SECRET');
        }
        // Nor in the log: a query may carry credentials.
        expect(s.logLines.filter((l) => l.includes('"msg":"proxy"'))).to.have.length.greaterThan(100);
        expect(s.logLines.join('\n')).to.not.include('SECRET');
        expect(await revoke(s, t)).to.equal('sealed');
        const sealed = (await auditOf(s, '/dpkg/misses/1/')).find((e) => e.event === 'build.inputs') as unknown as { misses: number };
        expect(sealed.misses).to.equal(120);
      });

      it('a URL longer than INPUTS_MAX_URL: 414 naming it, for a recording and an offline token, and nothing recorded', async () => {
        const { s, proxyPort } = await server({ INPUTS_MAX_URL: '1024' });
        for (const proxy of ['record', 'offline']) {
          const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'long', build: proxy, proxy });
          const long = await viaProxy(proxyPort, t, `${origin.base}/ok/${'u'.repeat(1100)}`);
          expect(long.status, proxy).to.equal(414);
          expect(long.body).to.match(/^the URL is 11\d\d characters long; the build proxy records URLs of at most 1024 \(INPUTS_MAX_URL\)/);
          expect((await viaProxy(proxyPort, t, `${origin.base}/ok/short`)).status, proxy).to.equal(proxy === 'record' ? 200 : 404);
          const view = (await json<InputsView>(s, `/-/inputs?build=/dpkg/long/${proxy}/`, true)).body;
          expect(view.paging.total + view.missTotal, proxy).to.equal(1);
        }
      });

      it('a recording token with long URLs fills INPUTS_MAX_RECORD_SIZE, then 507 names it; what it holds stays within the limit', async () => {
        const { s, proxyPort } = await server({ INPUTS_MAX_RECORD_SIZE: '256k', INPUTS_MAX_URL: '16384' });
        const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'bytes', build: '1' });
        const answers = await many(proxyPort, t, Array.from({ length: 60 }, (_, i) => `${origin.base}/missing/${i}/${'b'.repeat(8000)}`), 4);
        expect(countOf(answers, 404)).to.be.greaterThan(10);
        expect(countOf(answers, 507)).to.be.greaterThan(0);
        expect(answers.find((a) => a.status === 507)?.body).to.equal('the recording of /dpkg/bytes/1/ is full: it may hold 262144 bytes (INPUTS_MAX_RECORD_SIZE); this exchange is not made\n');
        const text = await recordingText(s, ['dpkg', 'bytes', '1']);
        expect(text.split('\n').filter(Boolean)).to.have.length(countOf(answers, 404));
        if (mode === 'embedded') expect(Buffer.byteLength(text)).to.be.at.most(256 * 1024);
      });

      it('a build that recorded all its limits allow seals, replays what it recorded, and compare and inputs read it', async () => {
        const { s, proxyPort } = await server({ INPUTS_MAX_LINES: '200' });
        const recorder = await mintWith(s.baseUrl, { type: 'dpkg', project: 'full', build: '1' });
        const answers = await many(proxyPort, recorder, Array.from({ length: 230 }, (_, i) => `${origin.base}/ok/${i}`), 8);
        expect(countOf(answers, 200)).to.equal(200);
        expect(countOf(answers, 507)).to.equal(30);
        expect(await revoke(s, recorder)).to.equal('sealed');
        const envelope = JSON.parse(await (await fetch(`${s.baseUrl}/dpkg/full/1/provenance.intoto.jsonl`)).text()) as { payload: string };
        const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { predicate: { buildDefinition: { resolvedDependencies: unknown[] } } };
        expect(statement.predicate.buildDefinition.resolvedDependencies).to.have.length(200);
        // Replayed with the origin gone: what was recorded answers, byte for byte.
        const replay = await mintWith(s.baseUrl, { type: 'dpkg', project: 'full', build: '2', replay: '/dpkg/full/1/' });
        const recorded = answers.filter((a) => a.status === 200).map((a) => a.body.trim().slice('ok '.length));
        const again = await many(proxyPort, replay, recorded.map((p) => `${origin.base}${p}`), 8);
        expect(countOf(again, 200)).to.equal(200);
        expect(again.map((a) => a.body).sort()).to.deep.equal(answers.filter((a) => a.status === 200).map((a) => a.body).sort());
        expect(await revoke(s, replay)).to.equal('sealed');
        const compared = (await json<{ inputs: { counts: Record<string, number> }; reproducible: boolean }>(s, '/-/compare?from=/dpkg/full/1/&to=/dpkg/full/2/')).body;
        expect(compared.inputs.counts).to.deep.equal({ added: 0, removed: 0, changed: 0, identical: 200 });
        const view = (await json<InputsView>(s, '/-/inputs?build=/dpkg/full/2/', true)).body;
        expect(view.paging.total).to.equal(200);
      });

      if (mode === 'PostgreSQL') {
        it('two replicas recording one build keep its limit together, and make no exchange they do not record', async () => {
          const a = await server({ INPUTS_MAX_LINES: '10' });
          const b = await server({ INPUTS_MAX_LINES: '10', DATABASE_URL: a.s.databaseUrl as string, ARTIFACTS_DIR: a.s.artifactsDir });
          const t = await mintWith(a.s.baseUrl, { type: 'dpkg', project: 'replicas', build: '1' });
          const before = origin.seen();
          // One through A (its totals read), nine through B, then more through both at once.
          expect((await viaProxy(a.proxyPort, t, `${origin.base}/ok/r0`)).status).to.equal(200);
          const nine = await many(b.proxyPort, t, Array.from({ length: 9 }, (_, i) => `${origin.base}/ok/r${i + 1}`), 3);
          expect(countOf(nine, 200)).to.equal(9);
          const more = await Promise.all([...Array(8).keys()].map((i) => viaProxy(i % 2 ? a.proxyPort : b.proxyPort, t, `${origin.base}/ok/late${i}`)));
          expect(more.map((m) => m.status)).to.deep.equal(Array(8).fill(507));
          // Refused before they were made: the origin saw ten requests, all of them recorded.
          expect(origin.seen() - before).to.equal(10);
          expect((await recordingText(a.s, ['dpkg', 'replicas', '1'])).split('\n').filter(Boolean)).to.have.length(10);
        });
      }

      if (mode === 'embedded') {
        it('the content store\'s sweep keeps every body any recording names, whatever today\'s limits', async () => {
          const dataDir = await makeTempDir('sweep-');
          const first = await server({ DATA_DIR: dataDir });
          const t = await mintWith(first.s.baseUrl, { type: 'dpkg', project: 'sweep', build: '1' });
          const bodies = await many(first.proxyPort, t, Array.from({ length: 10 }, (_, i) => `${origin.base}/ok/sweep${i}`), 2);
          expect(countOf(bodies, 200)).to.equal(10);
          await revoke(first.s, t);
          await first.s.close();
          servers.splice(servers.indexOf(first.s), 1);
          // An hour old: the sweep spares only what was written or used while it ran.
          const content = path.join(dataDir, 'artifacts', '.content', 'sha256');
          const hourAgo = new Date(Date.now() - 3600_000);
          for (const prefix of await readdir(content)) for (const name of await readdir(path.join(content, prefix))) await utimes(path.join(content, prefix, name), hourAgo, hourAgo);
          // Lower limits: the recording holds more than they let be read.
          const second = await server({ DATA_DIR: dataDir, INPUTS_MAX_LINES: '3' });
          const cli = (args: string[]): ReturnType<typeof run> => run(process.execPath, ['dist/cli/main.js', ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', DATA_DIR: dataDir } });
          const added = await cli(['mirror', 'add', `${origin.base}/ok/mirrored`, '--json']);
          expect(added.code, added.stderr).to.equal(0);
          const { id } = JSON.parse(added.stdout) as { id: string };
          // Removing an entry sweeps the content store, and the command waits for the sweep.
          const removed = await cli(['mirror', 'remove', id]);
          expect(removed.code, removed.stderr).to.equal(0);
          for (let i = 0; i < 10; i++) {
            const sha256 = createHash('sha256').update(`ok /ok/sweep${i}\n`).digest('hex');
            expect(existsSync(path.join(dataDir, 'artifacts', '.content', 'sha256', sha256.slice(0, 2), sha256)), `body ${i}`).to.equal(true);
          }
          await second.s.close();
          servers.splice(servers.indexOf(second.s), 1);
          await rm(dataDir, { recursive: true, force: true });
        });

        it('a recording larger than the limits (made before them) is read only up to them: inputs, compare, seal and replay', async () => {
          const { s } = await server({ INPUTS_MAX_LINES: '300' });
          const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'legacy', build: '1' });
          expect((await fetch(`${s.baseUrl}/dpkg/legacy/1/out.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'out\n' })).status).to.equal(201);
          // 20 000 lines, written as an earlier version could, a cut line and an overlong one among them.
          const lines: string[] = [];
          for (let i = 0; i < 20_000; i++) {
            lines.push(JSON.stringify({ kind: 'exchange', time: '2026-12-01T00:00:00.000Z', method: 'GET', url: `https://legacy.example/${i}`, requestSha256: null, varyValues: {}, status: 200, headers: [], sha256: createHash('sha256').update(String(i)).digest('hex'), size: 1, source: 'upstream' }));
            if (i === 5) lines.push('{"kind":"exch');
            if (i === 6) lines.push(`{"kind":"miss","url":"${'x'.repeat(200_000)}"}`);
          }
          await mkdir(path.join(s.artifactsDir, '.inputs', 'dpkg', 'legacy'), { recursive: true });
          await writeFile(path.join(s.artifactsDir, '.inputs', 'dpkg', 'legacy', '1.jsonl'), lines.join('\n') + '\n');
          expect(await revoke(s, t)).to.equal('sealed');
          const envelope = JSON.parse(await (await fetch(`${s.baseUrl}/dpkg/legacy/1/provenance.intoto.jsonl`)).text()) as { payload: string };
          const deps = (JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { predicate: { buildDefinition: { resolvedDependencies: unknown[] } } }).predicate.buildDefinition.resolvedDependencies;
          expect(deps.length).to.be.at.most(300).and.at.least(290);
          // And the statement says that it stops there.
          const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { predicate: { buildDefinition: { internalParameters?: { inputsTruncated?: string } } } };
          expect(statement.predicate.buildDefinition.internalParameters?.inputsTruncated).to.match(/INPUTS_MAX_LINES/);
          const view = (await json<InputsView>(s, '/-/inputs?build=/dpkg/legacy/1/', true)).body;
          expect(view.paging.total).to.be.at.most(300);
          const compared = (await json<{ inputs: { counts: Record<string, number> } }>(s, '/-/compare?from=/dpkg/legacy/1/&to=/dpkg/legacy/1/')).body;
          expect(compared.inputs.counts.identical).to.equal(view.paging.total);
        });
      }
    });

    it('public compare shows inputs as the provenance does: no query, only its keyed hash; masters see the whole URL (finding 2)', async () => {
      const { s, proxyPort } = await server();
      const a = await mintWith(s.baseUrl, { type: 'dpkg', project: 'query', build: '1' });
      const b = await mintWith(s.baseUrl, { type: 'dpkg', project: 'query', build: '2' });
      expect((await viaProxy(proxyPort, b, `${origin.base}/echo?token=SECRETQUERY`)).status).to.equal(200);
      // What provenance leaves out (a POST, an answer other than 2xx) is counted, never listed.
      expect(await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'POST', path: `${origin.base}/private/post/alice@example.org`, headers: { 'Proxy-Authorization': basic(b.username, b.password), 'Content-Length': 2 } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end('{}');
      })).to.equal(200);
      expect((await viaProxy(proxyPort, b, `${origin.base}/missing/private-repo-name.tar.gz`)).status).to.equal(404);
      await revoke(s, a);
      await revoke(s, b);
      const res = await fetch(`${s.baseUrl}/-/compare?from=/dpkg/query/1/&to=/dpkg/query/2/`, { headers: { Accept: 'application/json' } });
      const text = await res.text();
      expect(text).to.not.include('SECRETQUERY');
      expect(text).to.not.include('alice@example.org').and.not.include('private-repo-name');
      const compared = JSON.parse(text) as { inputs: { counts: Record<string, number>; added: Array<{ url: string; queryHash: string }>; unlisted: Record<string, number> } };
      expect(compared.inputs.counts.added).to.equal(3);
      expect(compared.inputs.unlisted).to.deep.equal({ added: 2, removed: 0, changed: 0 });
      expect(compared.inputs.added).to.have.length(1);
      expect(Object.keys(compared.inputs.added[0] as object).sort()).to.deep.equal(['method', 'queryHash', 'sha256', 'source', 'url']);
      expect(compared.inputs.added[0]?.url).to.equal(`${origin.base}/echo`);
      expect(compared.inputs.added[0]?.queryHash).to.match(/^hmac-sha256:[0-9a-f]{64}$/);
      expect(await (await fetch(`${s.baseUrl}/-/compare?from=/dpkg/query/1/&to=/dpkg/query/2/`)).text()).to.not.include('SECRETQUERY');
      const master = (await json<InputsView>(s, '/-/inputs?build=/dpkg/query/2/', true)).body;
      expect(master.exchanges[0]?.url).to.equal(`${origin.base}/echo?token=SECRETQUERY`);
    });

    it('a Range answered in part (206) is passed through and listed as such, not recorded; one answered whole (200) is recorded, and provenance names both', async () => {
      const { s, proxyPort } = await server();
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'range', build: '1' });
      const part = await viaProxy(proxyPort, t, `${origin.base}/ranged`, { Range: 'bytes=4-8' });
      expect(part.status).to.equal(206);
      expect(part.body).to.equal('whole');
      const whole = await viaProxy(proxyPort, t, `${origin.base}/ignores-range`, { Range: 'bytes=0-3' });
      expect(whole.status).to.equal(200);
      const view = (await json<InputsView & { partials: Array<{ url: string; status: number; range: string }>; partialTotal: number }>(s, '/-/inputs?build=/dpkg/range/1/', true)).body;
      expect(view.exchanges.map((e) => e.url)).to.deep.equal([`${origin.base}/ignores-range`]);
      expect(view.partials.map(({ url, status, range }) => ({ url, status, range }))).to.deep.equal([{ url: `${origin.base}/ranged`, status: 206, range: 'bytes=4-8' }]);
      expect(view.partialTotal).to.equal(1);
      await revoke(s, t);
      const envelope = JSON.parse(await (await fetch(`${s.baseUrl}/dpkg/range/1/provenance.intoto.jsonl`)).text()) as { payload: string };
      const deps = (JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { predicate: { buildDefinition: { resolvedDependencies: Array<{ uri: string; digest?: unknown; annotations: Record<string, unknown> }> } } }).predicate.buildDefinition.resolvedDependencies;
      expect(deps.find((d) => d.uri.endsWith('/ranged'))).to.deep.equal({ uri: `${origin.base}/ranged`, annotations: { source: 'upstream', partial: true } });
      expect(deps.find((d) => d.uri.endsWith('/ignores-range'))?.digest).to.deep.equal({ sha256: createHash('sha256').update('all of it, whatever was asked\n').digest('hex') });
      // Replayed: the whole one answers (its range too), the part does not.
      const replay = await mintWith(s.baseUrl, { type: 'dpkg', project: 'range', build: '2', replay: '/dpkg/range/1/' });
      expect((await viaProxy(proxyPort, replay, `${origin.base}/ignores-range`, { Range: 'bytes=0-2' })).body).to.equal('all');
      expect((await viaProxy(proxyPort, replay, `${origin.base}/ranged`, { Range: 'bytes=4-8' })).status).to.equal(404);
    });

    it('the repository\'s own ports are refused in every way an address can be written, with loopback allowed (finding 3)', async () => {
      const { s, proxyPort } = await server();
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'self', build: '1' });
      for (const port of [s.port, proxyPort]) {
        for (const host of ['127.0.0.1', '[::ffff:7f00:1]', '[::ffff:127.0.0.1]', '[::ffff:0:7f00:1]', '[::127.0.0.1]', '[64:ff9b::7f00:1]', '[::1]']) {
          const got = await viaProxy(proxyPort, t, `http://${host}:${port}/-/metrics`);
          expect(got.status, `${host}:${port}`).to.equal(403);
          expect(got.body, host).to.match(/^target \S+ is this repository/);
        }
        const tunnel = await openTunnel(proxyPort, `[::ffff:7f00:1]:${port}`, 'localhost', `${t.username}:${t.password}`, '');
        expect(tunnel.connectAnswer, `CONNECT to ${port}`).to.match(/^HTTP\/1\.1 403/);
        tunnel.close();
      }
      // Another loopback port is allowed, however written.
      expect((await viaProxy(proxyPort, t, `http://[::ffff:7f00:2]:${origin.port}/ok/mapped`)).status).to.equal(200);
    });

    it('a token holds at most PROXY_MAX_TUNNELS tunnels open; one closed makes room again (findings 4 and 9)', async () => {
      const { s, proxyPort } = await server({ PROXY_MAX_TUNNELS: '3' });
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'tunnels', build: '1', proxy: 'offline' });
      const ca = await (await fetch(`${s.baseUrl}/-/proxy/ca.pem`)).text();
      const open = [];
      for (let i = 0; i < 3; i++) open.push(await openTunnel(proxyPort, `host${i}.example:443`, `host${i}.example`, `${t.username}:${t.password}`, ca));
      for (const tunnel of open) expect(tunnel.connectAnswer).to.match(/^HTTP\/1\.1 200/);
      const refused = await openTunnel(proxyPort, 'host9.example:443', 'host9.example', `${t.username}:${t.password}`, ca);
      expect(refused.connectAnswer).to.match(/^HTTP\/1\.1 429/).and.include('PROXY_MAX_TUNNELS');
      // Another token is not held back by this one.
      const other = await mintWith(s.baseUrl, { type: 'dpkg', project: 'tunnels', build: '2', proxy: 'offline' });
      const theirs = await openTunnel(proxyPort, 'host9.example:443', 'host9.example', `${other.username}:${other.password}`, ca);
      expect(theirs.connectAnswer).to.match(/^HTTP\/1\.1 200/);
      theirs.close();
      open.pop()?.close();
      const again = await until('room for a tunnel', async () => {
        const tunnel = await openTunnel(proxyPort, 'host9.example:443', 'host9.example', `${t.username}:${t.password}`, ca);
        if (tunnel.connectAnswer.startsWith('HTTP/1.1 200')) return tunnel;
        tunnel.close();
        return null;
      });
      expect(await again.request('GET /x HTTP/1.1\r\nHost: host9.example\r\n\r\n')).to.match(/^HTTP\/1\.1 404/);
      again.close();
      for (const tunnel of open) tunnel.close();
    });

    it('request values a response varies on are kept only as keyed hashes, never in clear nor as a plain SHA-256; replay still matches (finding 6)', async () => {
      const { s, proxyPort } = await server();
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'vary', build: '1' });
      const secrets = { 'X-Api-Key': 'api-key-VALUE-1', Authorization: 'Basic c2VjcmV0OnNlY3JldA==', Cookie: 'session=COOKIE-VALUE' };
      const first = await viaProxy(proxyPort, t, `${origin.base}/keyed`, secrets);
      expect(first.status).to.equal(200);
      await revoke(s, t);
      const text = await recordingText(s, ['dpkg', 'vary', '1']);
      expect(text).to.include('hmac-sha256:');
      for (const value of Object.values(secrets)) {
        expect(text).to.not.include(value);
        expect(text).to.not.include(createHash('sha256').update(value).digest('hex'));
      }
      const replay = await mintWith(s.baseUrl, { type: 'dpkg', project: 'vary', build: '2', replay: '/dpkg/vary/1/' });
      expect((await viaProxy(proxyPort, replay, `${origin.base}/keyed`, secrets)).body).to.equal(first.body);
      expect((await viaProxy(proxyPort, replay, `${origin.base}/keyed`, { ...secrets, 'X-Api-Key': 'another' })).status).to.equal(404);
    });

    it('Vary poisoning: one URL answered 40 ways replays its first 32; a Vary of 40 names never matches (finding 9)', async () => {
      const { s, proxyPort } = await server();
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'poison', build: '1' });
      const bodies: string[] = [];
      for (let i = 0; i < 40; i++) bodies.push((await viaProxy(proxyPort, t, `${origin.base}/variant`, { 'X-Variant': String(i) })).body);
      expect((await viaProxy(proxyPort, t, `${origin.base}/wide-vary`)).status).to.equal(200);
      await revoke(s, t);
      const replay = await mintWith(s.baseUrl, { type: 'dpkg', project: 'poison', build: '2', replay: '/dpkg/poison/1/' });
      for (const i of [0, 17, 31]) expect((await viaProxy(proxyPort, replay, `${origin.base}/variant`, { 'X-Variant': String(i) })).body, String(i)).to.equal(bodies[i]);
      for (const i of [32, 39]) expect((await viaProxy(proxyPort, replay, `${origin.base}/variant`, { 'X-Variant': String(i) })).status, String(i)).to.equal(404);
      expect((await viaProxy(proxyPort, replay, `${origin.base}/wide-vary`)).status).to.equal(404);
    });

    it('an upstream answer with oversized headers: 502 that says so, nothing recorded (finding 9)', async () => {
      const { s, proxyPort } = await server();
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'headers', build: '1' });
      const got = await viaProxy(proxyPort, t, `${origin.base}/huge-headers`);
      expect(got.status).to.equal(502);
      expect(got.body).to.match(/headers/);
      expect(await recordingText(s, ['dpkg', 'headers', '1'])).to.equal('');
      expect((await viaProxy(proxyPort, t, `${origin.base}/ok/after`)).status).to.equal(200);
    });

    it('slow clients: a CONNECT trickled byte by byte is cut after HEADERS_TIMEOUT, idle ones after IDLE_TIMEOUT, and others are served meanwhile (finding 9)', async () => {
      const { s, proxyPort } = await server({ HEADERS_TIMEOUT: '1', IDLE_TIMEOUT: '2' });
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'slow', build: '1' });
      const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));
      // Reading (resume), as a client does: a paused socket never sees the server close it.
      const slow = net.connect(proxyPort, '127.0.0.1').resume();
      slow.on('error', () => undefined);
      const slowClosed = closed(slow);
      const request = `CONNECT ${ORIGIN}:${origin.port} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${basic(t.username, t.password)}\r\n\r\n`;
      let at = 0;
      const drip = setInterval(() => (at < request.length && !slow.destroyed ? slow.write(request[at++] as string) : clearInterval(drip)), 200);
      const idle = Array.from({ length: 20 }, () => net.connect(proxyPort, '127.0.0.1').resume().on('error', () => undefined));
      const idleClosed = Promise.all(idle.map(closed));
      // Served meanwhile.
      expect((await viaProxy(proxyPort, t, `${origin.base}/ok/meanwhile`)).status).to.equal(200);
      await slowClosed;
      clearInterval(drip);
      expect(at).to.be.below(request.length);
      await idleClosed;
      expect((await viaProxy(proxyPort, t, `${origin.base}/ok/after`)).status).to.equal(200);
      // Inside a tunnel too: no handshake, a request trickled after it, or silence after an answer.
      const ca = await (await fetch(`${s.baseUrl}/-/proxy/ca.pem`)).text();
      const offline = await mintWith(s.baseUrl, { type: 'dpkg', project: 'slow', build: '2', proxy: 'offline' });
      const credentials = `${offline.username}:${offline.password}`;
      const silent = await openTunnel(proxyPort, 'silent.example:443', 'silent.example', credentials, ca);
      const trickled = await openTunnel(proxyPort, 'trickle.example:443', 'trickle.example', credentials, ca);
      const answered = await openTunnel(proxyPort, 'answered.example:443', 'answered.example', credentials, ca);
      expect(await answered.request('GET /x HTTP/1.1\r\nHost: answered.example\r\n\r\n')).to.match(/^HTTP\/1\.1 404/);
      const inside = 'GET /y HTTP/1.1\r\nHost: trickle.example\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n';
      let sent = 0;
      const dripping = setInterval(() => (sent < inside.length && !trickled.socket.destroyed ? trickled.socket.write(inside[sent++] as string) : clearInterval(dripping)), 200);
      await Promise.all([silent, trickled, answered].map((tunnel) => (tunnel.socket.destroyed ? undefined : new Promise((resolve) => tunnel.socket.once('close', resolve)))));
      clearInterval(dripping);
      expect(sent).to.be.below(inside.length);
    });
  });
}
