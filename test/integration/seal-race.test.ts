// The seal's own check, where a write is admitted (Builds.whileWriting; with DATABASE_URL,
// one query of the build guard): a token checked just before its build is sealed must not
// write into the sealed build (issue 26, finding 10). The revoke is made to land exactly
// between the token's check and the write's admission, by running it inside the token
// service's answer; everything else is the real server over real sockets.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { basic, MASTER_AUTH, mintWith, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { freePort } from '../helpers/nginx.js';
import { databaseMode } from '../helpers/postgres.js';
import type { TokenAuthResult } from '../../token-service/token-service.js';

/** The next authentication of a build token answers only once `meanwhile` has run. */
function afterNextAuthentication(s: TestServer, meanwhile: () => Promise<void>): void {
  const tokens = s.app.tokens;
  const original = tokens.authenticateToken.bind(tokens);
  tokens.authenticateToken = async (username: string, password: string, address: string): Promise<TokenAuthResult> => {
    tokens.authenticateToken = original;
    const result = await original(username, password, address);
    await meanwhile();
    return result;
  };
}

async function revokeAndSeal(s: TestServer, t: MintedToken): Promise<void> {
  const res = await fetch(`${s.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
  expect(res.status).to.equal(204);
  expect(res.headers.get('x-artifact-repo-seal')).to.equal('sealed');
}

for (const mode of ['embedded', 'PostgreSQL'] as const) {
  describe(`a write checked before the seal and admitted after it: ${mode}`, function () {
    this.timeout(60_000);
    let teardown: (() => Promise<void>) | null = null;
    let s: TestServer;
    let proxyPort: number;
    let origin: http.Server;
    let originPort: number;

    before(async function () {
      if (mode === 'PostgreSQL') teardown = await databaseMode(this);
      origin = http.createServer((req, res) => res.end(`origin ${req.url}\n`));
      await new Promise<void>((resolve) => origin.listen(0, '127.0.0.2', () => resolve()));
      originPort = (origin.address() as AddressInfo).port;
      proxyPort = await freePort();
      s = await startServer({ PROXY_PORT: String(proxyPort), PROXY_ALLOW_NETWORKS: '127.0.0.2/32' });
    });

    after(async () => {
      await s?.close();
      await new Promise((resolve) => origin?.close(resolve));
      await teardown?.();
    });

    for (const method of ['PUT', 'MKCOL', 'DELETE', 'MOVE', 'PROPPATCH'] as const) {
      it(`${method}: 409, and the sealed build is what SHA256SUMS says`, async () => {
        const build = `race-${method.toLowerCase()}`;
        const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'race', build });
        const auth = basic(t.username, t.password);
        const base = `${s.baseUrl}/dpkg/race/${build}/`;
        expect((await fetch(`${base}kept.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'kept\n' })).status).to.equal(201);
        afterNextAuthentication(s, () => revokeAndSeal(s, t));
        const requests: Record<typeof method, RequestInit & { url: string }> = {
          PUT: { url: `${base}late.txt`, method: 'PUT', body: 'late\n' },
          MKCOL: { url: `${base}late/`, method: 'MKCOL' },
          DELETE: { url: `${base}kept.txt`, method: 'DELETE' },
          MOVE: { url: `${base}kept.txt`, method: 'MOVE', headers: { Destination: `${base}moved.txt` } },
          PROPPATCH: { url: `${base}kept.txt`, method: 'PROPPATCH', headers: { 'Content-Type': 'application/xml' }, body: '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:late>1</Z:late></D:prop></D:set></D:propertyupdate>' },
        };
        const { url, ...init } = requests[method];
        const late = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: auth } });
        expect(late.status).to.equal(409);
        expect(await late.text()).to.include('is sealed');
        const listing = (await (await fetch(base, { headers: { Accept: 'application/json' } })).json()) as { entries: Array<{ name: string }> };
        expect(listing.entries.map((e) => e.name).sort()).to.deep.equal(['SHA256SUMS', 'SHA256SUMS.sig', 'kept.txt', 'provenance.intoto.jsonl']);
        expect(await (await fetch(`${base}SHA256SUMS`)).text()).to.match(/^[0-9a-f]{64} {2}kept\.txt\n$/);
        expect(await (await fetch(`${base}kept.txt`)).text()).to.equal('kept\n');
      });
    }

    it('through the build proxy: 409, and the sealed build\'s inputs do not change', async () => {
      const t = await mintWith(s.baseUrl, { type: 'dpkg', project: 'race', build: 'proxy' });
      const get = (): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: proxyPort, path: `http://127.0.0.2:${originPort}/dep`, headers: { 'Proxy-Authorization': basic(t.username, t.password) } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
      expect(await get()).to.equal(200);
      afterNextAuthentication(s, () => revokeAndSeal(s, t));
      expect(await get()).to.equal(409);
      const inputs = (await (await fetch(`${s.baseUrl}/-/inputs?build=/dpkg/race/proxy/`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } })).json()) as { paging: { total: number } };
      expect(inputs.paging.total).to.equal(1);
    });
  });
}
