// The build proxy over real sockets, against a real HTTPS origin (Debian's nginx on
// 127.0.0.2, test/helpers/origin.ts) with curl and raw tunnels: credentials, private
// targets, what is recorded and what never is, matching on replay, misses, sealing.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, MASTER_AUTH, mintWith, type MintedToken, startServer, type TestServer, until } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { countingListener, curlVia, fetchProxyCa, openTunnel, proxyUrl } from '../helpers/proxy.js';
import { requireTool } from '../helpers/tools.js';

async function revoke(s: TestServer, t: MintedToken): Promise<Response> {
  return fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
}

interface InputsView {
  exchanges: { method: string; url: string; status: number; sha256: string; size: number; source: string; changed: boolean }[];
  misses: { method: string; url: string; replayed: string | null }[];
  refusals: { method: string; url: string; status: number; reason: string }[];
  refusalTotal: number;
}

async function inputsOf(s: TestServer, build: string): Promise<InputsView> {
  const res = await fetch(`${s.baseUrl}/-/inputs?build=${encodeURIComponent(build)}`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
  expect(res.status).to.equal(200);
  return (await res.json()) as InputsView;
}

describe('build proxy', function () {
  this.timeout(120_000);
  let s: TestServer;
  let origin: Origin;
  let home: string;
  let ca: string;
  let proxyPort: number;
  let recorder: MintedToken;

  before(async function () {
    for (const [tool, pkg] of [['nginx', 'nginx'], ['curl', 'curl'], ['openssl', 'openssl'], ['fcgiwrap', 'fcgiwrap'], ['git', 'git']] as const) requireTool(this, tool, pkg);
    origin = await startOrigin();
    proxyPort = await freePort();
    s = await startServer({ PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32', UPSTREAM_CA_FILE: origin.caFile, SEAL_GRACE: '30' });
    home = await makeTempDir('proxy-home-');
    ca = await fetchProxyCa(s.baseUrl, home);
    recorder = await mintWith(s.baseUrl, { type: 'dpkg', project: 'inputs', build: '1' });
  });

  after(async () => {
    await s?.close();
    await origin?.remove();
  });

  describe('credentials', () => {
    it('none, wrong, revoked and expired tokens get 407 with a Basic challenge', async () => {
      const url = `${origin.httpsBase}/files/hello.txt`;
      const challenge = (r: { stderr: string; stdout: string }): string => r.stdout + r.stderr;
      const none = await curlVia(proxyUrl(proxyPort), url, ca, home, ['--proxy-header', 'X-Probe: 1', '-v']);
      expect(challenge(none)).to.match(/< HTTP\/1\.1 407/).and.match(/Proxy-Authenticate: Basic realm="artifact-repo"/);
      expect((await curlVia(proxyUrl(proxyPort, recorder, 'wrong-password'), url, ca, home, ['-v'])).stderr).to.match(/< HTTP\/1\.1 407/);
      const gone = await mintWith(s.baseUrl, { type: 'dpkg', project: 'creds', build: '1' });
      expect((await revoke(s, gone)).status).to.equal(204);
      expect((await curlVia(proxyUrl(proxyPort, gone), url, ca, home, ['-v'])).stderr).to.match(/< HTTP\/1\.1 407/);
      const plain = await curlVia(proxyUrl(proxyPort, gone), `${origin.httpBase}/files/hello.txt`, ca, home);
      expect(plain.status).to.equal(407);
      const short = await mintWith(s.baseUrl, { type: 'dpkg', project: 'creds', build: '2', ttl: 60 });
      s.clock.offsetMs = 61_000;
      try {
        expect((await curlVia(proxyUrl(proxyPort, short), `${origin.httpBase}/files/hello.txt`, ca, home)).status).to.equal(407);
      } finally {
        s.clock.offsetMs = 0;
      }
    });

    it('a token revoked while its tunnel is open opens nothing from the next request in it', async () => {
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'tunnel', build: '1' });
      const authority = `${new URL(origin.httpsBase).hostname}:${origin.httpsPort}`;
      const tunnel = await openTunnel(proxyPort, authority, new URL(origin.httpsBase).hostname, `${t.username}:${t.password}`, await readFile(ca, 'utf8'));
      const get = `GET /files/hello.txt HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
      expect(await tunnel.request(get)).to.match(/^HTTP\/1\.1 200/).and.include('hello from the origin');
      expect((await revoke(s, t)).status).to.equal(204);
      expect(await tunnel.request(get)).to.match(/^HTTP\/1\.1 407/);
      tunnel.close();
    });

    it('Proxy-Authorization never reaches the origin; Authorization, Cookie and Set-Cookie are in no recording, log or page', async () => {
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'secrets', build: '1' });
      const got = await curlVia(proxyUrl(proxyPort, t), `${origin.httpsBase}/cookie`, ca, home, ['-H', 'Authorization: Bearer secret-auth-value', '-H', 'Cookie: c=secret-cookie-value', '-D', '-']);
      expect(got.status).to.equal(200);
      expect(got.body).to.include('secret-session-value');
      const seen = (await origin.requests()).filter((l) => l.startsWith('GET /cookie'));
      expect(seen).to.have.length(1);
      expect(seen[0]).to.include('proxyauth=-').and.include('secret-auth-value');
      // Plain HTTP: the credentials come on the request itself, not on a CONNECT.
      const plain = await curlVia(proxyUrl(proxyPort, t), `${origin.httpBase}/cookie?plain`, ca, home);
      expect(plain.status).to.equal(200);
      const seenPlain = (await origin.requests()).filter((l) => l.startsWith('GET /cookie?plain'));
      expect(seenPlain).to.have.length(1);
      expect(seenPlain[0]).to.include('proxyauth=-');
      expect((await revoke(s, t)).status).to.equal(204);
      const recording = await readFile(path.join(s.artifactsDir, '.inputs', 'dpkg', 'secrets', '1.jsonl'), 'utf8');
      const page = await (await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/secrets/1/`, { headers: { Authorization: MASTER_AUTH } })).text();
      const audit = await readFile(path.join(s.tokensDir, 'audit.jsonl'), 'utf8');
      for (const text of [recording, page, audit, s.logLines.join('\n')]) {
        for (const secret of ['secret-auth-value', 'secret-cookie-value', 'secret-session-value', t.password]) expect(text).to.not.include(secret);
      }
    });
  });

  describe('private targets', () => {
    it('127.0.0.3, the repository\'s own ports and a name for 127.0.0.1 get 403 and open no connection', async () => {
      const port = await freePort();
      const listener = await countingListener('127.0.0.3', port);
      try {
        for (const url of [`http://127.0.0.3:${port}/x`, `https://127.0.0.3:${port}/x`, `http://localhost:${port}/x`, `http://127.0.0.2:${s.port}/-/health`, `https://127.0.0.1:${proxyPort}/`, `${s.baseUrl}/-/health`]) {
          const got = await curlVia(proxyUrl(proxyPort, recorder), url, ca, home, ['-v']);
          expect(got.status === 403 || /< HTTP\/1\.1 403/.test(got.stderr), `${url}: ${got.stderr.slice(-300)}`).to.equal(true);
        }
        expect(listener.count()).to.equal(0);
      } finally {
        await listener.close();
      }
    });

    it('a refusal says why where people look: a Proxy-Status header curl -v shows, a log line and the build\'s inputs', async () => {
      const refused = await mintWith(s.baseUrl, { type: 'dpkg', project: 'refusals', build: '1' });
      const port = await freePort();
      const tunnel = await curlVia(proxyUrl(proxyPort, refused), `https://127.0.0.3:${port}/tool.tar.gz`, ca, home, ['-v']);
      expect(tunnel.stderr).to.match(/< HTTP\/1\.1 403/).and.include(`< Proxy-Status: artifact-repo; error=destination_ip_prohibited; details="target 127.0.0.3 is a private address"`);
      const plain = await curlVia(proxyUrl(proxyPort, refused), `http://127.0.0.3:${port}/plain?secret=1`, ca, home, ['-v']);
      expect(plain.stderr).to.include('< Proxy-Status: artifact-repo; error=destination_ip_prohibited');
      // The same refusal again is kept once: a build retrying a blocked host does not fill its recording.
      await curlVia(proxyUrl(proxyPort, refused), `https://127.0.0.3:${port}/tool.tar.gz`, ca, home, ['-v']);
      const logged = s.logLines.filter((l) => l.includes('127.0.0.3') && l.includes('private address'));
      expect(logged.some((l) => l.includes('"proxy tunnel refused"')), logged.join('\n')).to.equal(true);
      expect(logged.some((l) => l.includes('"msg":"proxy"') && l.includes('"outcome":"refused"'))).to.equal(true);
      const view = await until('the refusals to be recorded', async () => {
        const v = await inputsOf(s, '/dpkg/refusals/1/');
        return v.refusalTotal === 2 ? v : undefined;
      });
      expect(view.refusals.map((r) => [r.method, r.url, r.status, r.reason])).to.deep.equal([
        ['CONNECT', `https://127.0.0.3:${port}`, 403, 'target 127.0.0.3 is a private address'],
        ['GET', `http://127.0.0.3:${port}/plain?…`, 403, 'target 127.0.0.3 is a private address'],
      ]);
      expect(view.exchanges).to.deep.equal([]);
      const page = await (await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/refusals/1/`, { headers: { Authorization: MASTER_AUTH } })).text();
      expect(page).to.include('refused by the build proxy (2)').and.include('target 127.0.0.3 is a private address');
    });
  });

  describe('record, then replay offline', () => {
    let replay: MintedToken;
    const sent: Record<string, string> = {};

    before(async () => {
      const via = proxyUrl(proxyPort, recorder);
      sent.hello = (await curlVia(via, `${origin.httpsBase}/files/hello.txt`, ca, home)).body;
      expect((await curlVia(via, `${origin.httpsBase}/nope`, ca, home)).status).to.equal(404);
      expect((await curlVia(via, `${origin.httpsBase}/redirect`, ca, home)).status).to.equal(302);
      sent.json = (await curlVia(via, `${origin.httpsBase}/vary`, ca, home, ['-H', 'Accept: application/json'])).body;
      sent.text = (await curlVia(via, `${origin.httpsBase}/vary`, ca, home, ['-H', 'Accept: text/plain'])).body;
      expect((await curlVia(via, `${origin.httpsBase}/post`, ca, home, ['--data-binary', 'body A'])).body).to.equal('posted\n');
      // A conditional request: answered 304 by the proxy, the body fetched and recorded whole.
      const head = await curlVia(via, `${origin.httpsBase}/files/data.json`, ca, home, ['-I']);
      const etag = /etag: (\S+)/i.exec(head.body)?.[1] as string;
      expect(etag, JSON.stringify(head)).to.be.a('string');
      const conditional = await curlVia(via, `${origin.httpsBase}/files/data.json`, ca, home, ['-H', `If-None-Match: ${etag}`, '-v']);
      expect(conditional.status, `${etag} ${conditional.stderr}`).to.equal(304);
      expect((await revoke(s, recorder)).status).to.equal(204);
      replay = await mintWith(s.baseUrl, { type: 'dpkg', project: 'inputs', build: '2', replay: '/dpkg/inputs/1/' });
      await origin.stop();
    });

    after(async () => {
      await origin.start();
    });

    it('the recording is listed for masters: every request, its status and checksum', async () => {
      const view = await inputsOf(s, '/dpkg/inputs/1/');
      const seen = view.exchanges.map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status}`);
      expect(seen).to.include.members(['GET /files/hello.txt 200', 'GET /nope 404', 'GET /redirect 302', 'GET /vary 200', 'POST /post 200', 'GET /files/data.json 200', 'HEAD /files/data.json 200']);
      expect(view.exchanges.every((e) => /^[0-9a-f]{64}$/.test(e.sha256) && e.source === 'upstream')).to.equal(true);
      expect((await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/inputs/1/`)).status).to.equal(401);
    });

    it('replays byte for byte with the origin gone, and contacts nothing', async () => {
      const listener = await countingListener('127.0.0.2', origin.httpsPort);
      try {
        const via = proxyUrl(proxyPort, replay);
        const hello = await curlVia(via, `${origin.httpsBase}/files/hello.txt`, ca, home);
        expect(hello.status).to.equal(200);
        expect(hello.body).to.equal(sent.hello);
        expect((await curlVia(via, `${origin.httpsBase}/nope`, ca, home)).status).to.equal(404);
        const redirect = await curlVia(via, `${origin.httpsBase}/redirect`, ca, home, ['-D', '-']);
        expect(redirect.status).to.equal(302);
        expect(redirect.body).to.match(/location: \S*\/files\/hello\.txt/i);
        expect(listener.count()).to.equal(0);
      } finally {
        await listener.close();
      }
    });

    it('matches on Vary, on a POST body, answers 304 from the whole recording and Range from it', async () => {
      const via = proxyUrl(proxyPort, replay);
      expect((await curlVia(via, `${origin.httpsBase}/vary`, ca, home, ['-H', 'Accept: application/json'])).body).to.equal(sent.json);
      expect((await curlVia(via, `${origin.httpsBase}/vary`, ca, home, ['-H', 'Accept: text/plain'])).body).to.equal(sent.text);
      expect((await curlVia(via, `${origin.httpsBase}/post`, ca, home, ['--data-binary', 'body A'])).status).to.equal(200);
      expect((await curlVia(via, `${origin.httpsBase}/post`, ca, home, ['--data-binary', 'body B'])).status).to.equal(404);
      const full = await curlVia(via, `${origin.httpsBase}/files/data.json`, ca, home, ['-D', '-']);
      expect(full.status).to.equal(200);
      expect(full.body).to.include('{"version":1}');
      const etag = /etag: (\S+)/i.exec(full.body)?.[1] as string;
      expect((await curlVia(via, `${origin.httpsBase}/files/data.json`, ca, home, ['-H', `If-None-Match: ${etag}`])).status).to.equal(304);
      const range = await curlVia(via, `${origin.httpsBase}/files/hello.txt`, ca, home, ['-r', '6-9']);
      expect(range.status).to.equal(206);
      expect(range.body).to.equal((sent.hello as string).slice(6, 10));
      // A range past the recorded body: 416 naming its size, as a download from the tree says it.
      const past = await curlVia(via, `${origin.httpsBase}/files/hello.txt`, ca, home, ['-r', '100000-100010', '-D', '-']);
      expect(past.status).to.equal(416);
      expect(past.body).to.match(new RegExp(`content-range: bytes \\*/${Buffer.byteLength(sent.hello as string)}\r?\n`, 'i'));
    });

    it('a miss gets 404 with X-Artifact-Repo-Replay: miss, and is listed and audited', async () => {
      const got = await curlVia(proxyUrl(proxyPort, replay), `${origin.httpsBase}/never-recorded?token=hidden`, ca, home, ['-D', '-']);
      expect(got.status).to.equal(404);
      expect(got.body).to.match(/x-artifact-repo-replay: miss/i).and.include('/dpkg/inputs/1/');
      const view = await inputsOf(s, '/dpkg/inputs/2/');
      expect(view.misses.map((m) => new URL(m.url).pathname)).to.include('/never-recorded');
      const audit = (await readFile(path.join(s.tokensDir, 'audit.jsonl'), 'utf8')).split('\n').filter((l) => l.includes('"input.missed"'));
      expect(audit.some((l) => l.includes('/never-recorded'))).to.equal(true);
      expect(audit.join('\n')).to.not.include('token=hidden');
      // Offline, a name is not even looked up: one that resolves nowhere is a miss, not a 502.
      const nowhere = await curlVia(proxyUrl(proxyPort, replay), 'https://no-such-host.invalid/pkg.tar.gz', ca, home, ['-D', '-']);
      expect(nowhere.status).to.equal(404);
      expect(nowhere.body).to.match(/x-artifact-repo-replay: miss/i);
    });

    it('compare calls the recorded and the replayed build the same in inputs and outputs', async () => {
      const b = await mintWith(s.baseUrl, { type: 'dpkg', project: 'cmp', build: '2', replay: '/dpkg/inputs/1/' });
      const via = proxyUrl(proxyPort, b);
      for (const p of ['/files/hello.txt', '/nope', '/redirect']) await curlVia(via, `${origin.httpsBase}${p}`, ca, home);
      const a = await mintWith(s.baseUrl, { type: 'dpkg', project: 'cmp', build: '1', replay: '/dpkg/inputs/1/' });
      for (const p of ['/files/hello.txt', '/nope', '/redirect']) await curlVia(proxyUrl(proxyPort, a), `${origin.httpsBase}${p}`, ca, home);
      await revoke(s, a);
      await revoke(s, b);
      const compare = (await (await fetch(`${s.baseUrl}/-/compare?from=/dpkg/cmp/1/&to=/dpkg/cmp/2/`, { headers: { Accept: 'application/json' } })).json()) as { reproducible: boolean; inputs: { counts: Record<string, number> } };
      expect(compare.inputs.counts).to.deep.equal({ added: 0, removed: 0, changed: 0, identical: 3 });
      expect(compare.reproducible).to.equal(true);
      const other = (await (await fetch(`${s.baseUrl}/-/compare?from=/dpkg/inputs/1/&to=/dpkg/cmp/2/`, { headers: { Accept: 'application/json' } })).json()) as { reproducible: boolean; inputs: { counts: Record<string, number> } };
      expect(other.inputs.counts.removed).to.be.greaterThan(0);
      expect(other.reproducible).to.equal(false);
    });
  });

  describe('mint', () => {
    it('replay must name a sealed build; replay with record is refused', async () => {
      const mint = (body: Record<string, unknown>): Promise<Response> => fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'mint', build: '1', ...body }) });
      expect((await mint({ replay: '/dpkg/none/1/' })).status).to.equal(404);
      const open = await mintWith(s.baseUrl, { type: 'dpkg', project: 'mint', build: 'open' });
      expect((await mint({ replay: '/dpkg/mint/open/' })).status).to.equal(409);
      expect((await mint({ replay: 'not a build' })).status).to.equal(400);
      expect((await mint({ proxy: 'record', replay: '/dpkg/inputs/1/' })).status).to.equal(400);
      expect((await mint({ proxy: 'sideways' })).status).to.equal(400);
      await revoke(s, open);
    });
  });

  describe('sealing', () => {
    it('an exchange in flight when the last token is revoked is recorded before the seal; nothing after it', async () => {
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'inflight', build: '1' });
      const download = curlVia(proxyUrl(proxyPort, t), `${origin.httpsBase}/slow/one-mib.bin`, ca, home);
      await new Promise((r) => setTimeout(r, 700));
      const revoked = await revoke(s, t);
      expect(revoked.status).to.equal(204);
      const got = await download;
      expect(got.status).to.equal(200);
      expect(got.body.length).to.equal(1024 * 1024);
      for (let i = 0; i < 100 && (await fetch(`${s.baseUrl}/dpkg/inflight/1/SHA256SUMS`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
      const view = await inputsOf(s, '/dpkg/inflight/1/');
      expect(view.exchanges.map((e) => `${new URL(e.url).pathname} ${e.size}`)).to.deep.equal(['/slow/one-mib.bin 1048576']);
      expect((await curlVia(proxyUrl(proxyPort, t), `${origin.httpsBase}/files/hello.txt`, ca, home, ['-v'])).stderr).to.match(/407/);
      expect((await inputsOf(s, '/dpkg/inflight/1/')).exchanges).to.have.length(1);
    });
  });


  describe('afterwards', () => {
    it('the build page links to its inputs; the metrics count the proxy by mode and outcome', async () => {
      expect(await (await fetch(`${s.baseUrl}/dpkg/inputs/1/`)).text()).to.include('/-/inputs?build=');
      const metrics = await (await fetch(`${s.baseUrl}/-/metrics`)).text();
      expect(metrics).to.match(/artifact_repo_proxy_requests_total\{mode="record",outcome="recorded"\} [1-9]/);
      expect(metrics).to.match(/artifact_repo_proxy_requests_total\{mode="offline",outcome="replayed"\} [1-9]/);
      expect(metrics).to.match(/artifact_repo_proxy_replay_misses_total [1-9]/);
    });
  });
});
