// What a hostile build script (it holds a token) or an anonymous visitor could do to the
// server, each as the hardening review found it (issue 12), and what the server does now:
// a clear 4xx at a cap, a bounded answer, nothing clobbered, nothing half-written. The
// tests assert what does not depend on the machine's speed; bench/stall-probe.mjs measures
// how long a health probe waits meanwhile.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { basic, makeTempDir, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { metricValue } from '../helpers/metrics-text.js';
import { send } from '../helpers/raw-http.js';

const xml = { 'Content-Type': 'application/xml' };

function proppatchBody(count: number, value = ''): string {
  const props = Array.from({ length: count }, (_, i) => `<Z:p${i}>${value}</Z:p${i}>`).join('');
  return `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>${props}</D:prop></D:set></D:propertyupdate>`;
}

function propfindBody(count: number): string {
  return `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Y="urn:y"><D:prop>${Array.from({ length: count }, (_, i) => `<Y:m${i}/>`).join('')}</D:prop></D:propfind>`;
}

/** One request from a chosen loopback address (the throttles key on it). */
function from(localAddress: string, port: number, method: string, path_: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: path_, localAddress, agent: false, headers: { ...headers, ...(body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('hardening (issue 12)', function () {
  this.timeout(120_000);
  let s: TestServer;
  let t: MintedToken;
  let auth: string;

  before(async () => {
    s = await startServer({ SEAL_GRACE: '2', TOKEN_FAILURE_LIMIT: '20', MASTER_FAILURE_LIMIT: '10' });
    t = await s.mint('dpkg', 'hard', '1');
    auth = basic(t.username, t.password);
    expect((await send(s.port, 'PUT', '/dpkg/hard/1/f.txt', { Authorization: auth }, 'hello\n')).status).to.equal(201);
  });

  after(() => s.close());

  describe('1. dead properties are capped and kept in maps', () => {
    it('a PROPPATCH with more instructions than a resource may hold properties is refused with 400, storing nothing', async () => {
      const reply = await send(s.port, 'PROPPATCH', '/dpkg/hard/1/f.txt', { Authorization: auth, ...xml }, proppatchBody(9990));
      expect(reply.status).to.equal(400);
      expect(reply.body).to.match(/at most 512 instructions/);
      const find = await send(s.port, 'PROPFIND', '/dpkg/hard/1/f.txt', { Depth: '0' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>');
      expect(find.body).to.not.include('urn:z');
    });

    it('setting more than 256 properties, or more than 64 KiB of them, answers 507 in the multistatus and applies none', async () => {
      for (const body of [proppatchBody(300), proppatchBody(10, 'v'.repeat(7000))]) {
        const reply = await send(s.port, 'PROPPATCH', '/dpkg/hard/1/f.txt', { Authorization: auth, ...xml }, body);
        expect(reply.status).to.equal(207);
        expect(reply.body).to.include('HTTP/1.1 507').and.not.include('HTTP/1.1 200');
      }
      const find = await send(s.port, 'PROPFIND', '/dpkg/hard/1/f.txt', { Depth: '0' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>');
      expect(find.body).to.not.include('urn:z');
    });

    it('256 properties are kept; a PROPFIND may ask for 1000 names at Depth 0 and 100 at Depth 1', async () => {
      expect((await send(s.port, 'PROPPATCH', '/dpkg/hard/1/f.txt', { Authorization: auth, ...xml }, proppatchBody(256))).body).to.include('HTTP/1.1 200');
      const depth0 = await send(s.port, 'PROPFIND', '/dpkg/hard/1/f.txt', { Depth: '0' }, propfindBody(1000));
      expect(depth0.status).to.equal(207);
      expect((await send(s.port, 'PROPFIND', '/dpkg/hard/1/f.txt', { Depth: '0' }, propfindBody(1001))).status).to.equal(400);
      expect((await send(s.port, 'PROPFIND', '/dpkg/hard/1/', { Depth: '1' }, propfindBody(101))).status).to.equal(400);
      expect((await send(s.port, 'PROPFIND', '/dpkg/hard/1/', { Depth: '1' }, propfindBody(100))).status).to.equal(207);
    });
  });

  describe('3. a PROPPATCH writes properties only', () => {
    it("the build's token cannot wipe a master's pin, nor a file's checksum", async () => {
      const pinned = await fetch(`${s.baseUrl}/-/pins`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ build: '/dpkg/hard/1/' }) });
      expect(pinned.status).to.equal(201);
      const one = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><Q:x xmlns:Q="urn:q">1</Q:x></D:prop></D:set></D:propertyupdate>';
      expect((await send(s.port, 'PROPPATCH', '/dpkg/hard/1/', { Authorization: auth, ...xml }, one)).status).to.equal(207);
      expect((await send(s.port, 'PROPPATCH', '/dpkg/hard/1/f.txt', { Authorization: auth, ...xml }, one)).status).to.equal(207);
      const pins = (await (await fetch(`${s.baseUrl}/-/pins`, { headers: { Authorization: MASTER_AUTH } })).json()) as { build: string }[];
      expect(pins.map((p) => p.build)).to.include('/dpkg/hard/1/');
      const get = await send(s.port, 'GET', '/dpkg/hard/1/f.txt');
      const sha = get.headers['x-checksum-sha256'];
      expect(sha).to.match(/^[0-9a-f]{64}$/);
      const search = (await (await fetch(`${s.baseUrl}/-/search?sha256=${sha}`, { headers: { Accept: 'application/json' } })).json()) as { results: { path: string }[] };
      expect(search.results.map((r) => r.path)).to.include('/dpkg/hard/1/f.txt');
      await fetch(`${s.baseUrl}/-/pins?build=/dpkg/hard/1/`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
    });
  });

  describe('2. a build cannot make itself unsealable', () => {
    it('a path whose metadata would be too long for the volume is refused before anything changes, and the build still seals', async () => {
      const b = await s.mint('dpkg', 'deep', '1');
      const bauth = basic(b.username, b.password);
      expect((await send(s.port, 'PUT', '/dpkg/deep/1/f.txt', { Authorization: bauth }, 'x')).status).to.equal(201);
      let dir = '/dpkg/deep/1';
      let refused: number | null = null;
      for (let i = 0; i < 185; i++) {
        const next = `${dir}/${String(i).padStart(20, 'd')}`;
        const mk = await send(s.port, 'MKCOL', `${next}/`, { Authorization: bauth });
        if (mk.status !== 201) {
          refused = mk.status;
          break;
        }
        dir = next;
      }
      // The tree still had room (4 096 bytes) where its metadata did not: refused at the edge.
      expect(refused).to.equal(414);
      const copy = await send(s.port, 'COPY', '/dpkg/deep/1/f.txt', { Authorization: bauth, Destination: `${dir}/${'c'.repeat(200)}.txt` });
      expect(copy.status).to.equal(414);
      const revoke = await fetch(`${s.baseUrl}/-/tokens/${b.id}`, { method: 'DELETE', headers: { Authorization: bauth } });
      expect(revoke.status).to.equal(204);
      expect(revoke.headers.get('x-artifact-repo-seal')).to.equal('sealed');
      expect((await send(s.port, 'GET', '/dpkg/deep/1/SHA256SUMS')).status).to.equal(200);
      const again = await fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'deep', build: '1' }) });
      expect(again.status).to.equal(409);
    });

    it('SHA256SUMS at the build root is the repository\'s: a token cannot create it, as a file or a folder', async () => {
      for (const [method, target, headers] of [
        ['PUT', '/dpkg/hard/1/SHA256SUMS', {}],
        ['MKCOL', '/dpkg/hard/1/SHA256SUMS/', {}],
        ['COPY', '/dpkg/hard/1/f.txt', { Destination: '/dpkg/hard/1/SHA256SUMS' }],
      ] as const) {
        expect((await send(s.port, method, target, { Authorization: auth, ...headers }, method === 'PUT' ? 'x' : undefined)).status, method).to.equal(403);
      }
      expect(existsSync(path.join(s.artifactsDir, 'dpkg', 'hard', '1', 'SHA256SUMS'))).to.equal(false);
      // Deeper down, the name is an ordinary one.
      expect((await send(s.port, 'PUT', '/dpkg/hard/1/sub/SHA256SUMS', { Authorization: auth }, 'x')).status).to.equal(201);
    });
  });

  describe('5. throttles keep guessers out, not the owner of the right password', () => {
    it('after 10 wrong guesses from an address the proven master is let through; the 429s are counted as throttled', async () => {
      const before = metricValue(await (await fetch(`${s.baseUrl}/-/metrics`)).text(), 'artifact_repo_auth_failures_total', { kind: 'master', throttled: 'true' }) ?? 0;
      for (let i = 0; i < 10; i++) expect((await from('127.0.0.41', s.port, 'GET', '/-/tokens', { Authorization: basic('buildbot', `wrong-${i}`) })).status).to.equal(401);
      const guess = await from('127.0.0.41', s.port, 'GET', '/-/tokens', { Authorization: basic('buildbot', 'wrong-again') });
      expect(guess.status).to.equal(429);
      expect((await from('127.0.0.41', s.port, 'GET', '/-/tokens', { Authorization: MASTER_AUTH })).status).to.equal(200);
      const after = metricValue(await (await fetch(`${s.baseUrl}/-/metrics`)).text(), 'artifact_repo_auth_failures_total', { kind: 'master', throttled: 'true' }) ?? 0;
      expect(after - before).to.equal(1);
    });

    it("wrong passwords for one build's token do not lock out another build's token from the same address", async () => {
      const victim = await s.mint('dpkg', 'victim', '1');
      const other = await s.mint('dpkg', 'other', '1');
      for (let i = 0; i < 20; i++) await from('127.0.0.42', s.port, 'PUT', '/dpkg/victim/1/x', { Authorization: basic(victim.username, `wrong-${i}`) }, 'x');
      expect((await from('127.0.0.42', s.port, 'PUT', '/dpkg/victim/1/x', { Authorization: basic(victim.username, 'still-wrong') }, 'x')).status).to.equal(429);
      expect((await from('127.0.0.42', s.port, 'PUT', '/dpkg/other/1/x', { Authorization: basic(other.username, other.password) }, 'x')).status).to.equal(201);
    });
  });

  describe('4. unauthenticated argon2 work is bounded in total', () => {
    it('200 parallel wrong master passwords from 20 addresses: a bounded queue, the rest 503 with Retry-After; downloads go on', async () => {
      const guesses: Promise<{ status: number; headers: http.IncomingHttpHeaders }>[] = [];
      for (let a = 0; a < 20; a++) for (let g = 0; g < 10; g++) guesses.push(from(`127.0.1.${a + 1}`, s.port, 'GET', '/-/tokens', { Authorization: basic('buildbot', `guess-${a}-${g}`) }));
      const download = await send(s.port, 'GET', '/dpkg/hard/1/f.txt');
      expect(download.status).to.equal(200);
      const answers = await Promise.all(guesses);
      const shed = answers.filter((a) => a.status === 503);
      expect(shed.length, 'some guesses were shed').to.be.greaterThan(0);
      expect(shed.every((a) => a.headers['retry-after'] === '1')).to.equal(true);
      // At most 2 running and 64 waiting: the rest never reached argon2.
      expect(answers.filter((a) => a.status === 401).length).to.be.at.most(66);
      expect(answers.every((a) => [401, 429, 503].includes(a.status))).to.equal(true);
    });
  });

  describe('6. locks cannot multiply a PROPFIND', () => {
    it('at most 8 depth-infinity locks per build; below a lock root, lockdiscovery leaves the owner out', async () => {
      const b = await s.mint('dpkg', 'locks', '1');
      const bauth = basic(b.username, b.password);
      for (let i = 0; i < 50; i++) expect((await send(s.port, 'PUT', `/dpkg/locks/1/many/f${i}`, { Authorization: bauth }, 'x')).status).to.equal(201);
      const owner = `<D:href>${'o'.repeat(3980)}</D:href>`;
      const lockBody = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await send(s.port, 'LOCK', '/dpkg/locks/1/many/', { Authorization: bauth, Depth: 'infinity', ...xml }, lockBody)).status);
      expect(statuses.filter((x) => x === 200)).to.have.length(8);
      expect(statuses.slice(8)).to.deep.equal([403, 403]);
      const find = await send(s.port, 'PROPFIND', '/dpkg/locks/1/many/', { Depth: '1' });
      expect(find.status).to.equal(207);
      // The root shows its 8 locks with their owners; none of the 50 members repeats one.
      expect(find.body.split('o'.repeat(3980)).length - 1).to.equal(8);
      expect(find.body.length).to.be.below(8 * 4200 + 51 * (8 * 300 + 1500));
    });
  });

  describe('7. public pages do not walk whole builds', () => {
    let bauth: string;
    before(async function () {
      this.timeout(120_000);
      const b = await s.mint('dpkg', 'pages', '1');
      bauth = basic(b.username, b.password);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < 2500) {
            const i = next++;
            await new Promise<void>((resolve, reject) => {
              const req = http.request({ host: '127.0.0.1', port: s.port, method: 'PUT', path: `/dpkg/pages/1/f${String(i).padStart(5, '0')}.txt`, agent, headers: { Authorization: bauth, 'Content-Length': 2 } }, (res) => {
                res.resume();
                res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`PUT ${i}: ${res.statusCode}`))));
              });
              req.on('error', reject);
              req.end('x\n');
            });
          }
        }),
      );
      agent.destroy();
    });

    it('a long folder comes in pages of 1000, with links to the next and previous ones', async () => {
      const first = (await (await fetch(`${s.baseUrl}/dpkg/pages/1/`, { headers: { Accept: 'application/json' } })).json()) as { entries: { name: string }[]; paging: { total: number; nextHref: string | null; previousHref: string | null } };
      expect(first.entries).to.have.length(1000);
      expect(first.entries[0]?.name).to.equal('f00000.txt');
      expect(first.paging).to.include({ total: 2500, previousHref: null, nextHref: '/dpkg/pages/1/?offset=1000' });
      const last = (await (await fetch(`${s.baseUrl}/dpkg/pages/1/?offset=2000`, { headers: { Accept: 'application/json' } })).json()) as { entries: { name: string }[]; paging: { nextHref: string | null } };
      expect(last.entries).to.have.length(500);
      expect(last.entries[499]?.name).to.equal('f02499.txt');
      expect(last.paging.nextHref).to.equal(null);
    });

    it("an open build's summary follows its writes", async () => {
      const view = async (): Promise<{ files: number; bytes: number }> => {
        const page = (await (await fetch(`${s.baseUrl}/dpkg/pages/`, { headers: { Accept: 'application/json' } })).json()) as { builds: { files: number; bytes: number }[] };
        const { files, bytes } = page.builds[0] as { files: number; bytes: number };
        return { files, bytes };
      };
      expect(await view()).to.deep.equal({ files: 2500, bytes: 5000 });
      expect((await send(s.port, 'PUT', '/dpkg/pages/1/extra.txt', { Authorization: bauth }, 'abc')).status).to.equal(201);
      expect(await view()).to.deep.equal({ files: 2501, bytes: 5003 });
      expect((await send(s.port, 'PUT', '/dpkg/pages/1/f00000.txt', { Authorization: bauth }, 'abcde')).status).to.equal(204);
      expect(await view()).to.deep.equal({ files: 2501, bytes: 5006 });
      expect((await send(s.port, 'DELETE', '/dpkg/pages/1/extra.txt', { Authorization: bauth })).status).to.equal(204);
      expect(await view()).to.deep.equal({ files: 2500, bytes: 5003 });
    });

    it('a compare counts every file and lists the first 1000 of each kind; more than 10 at once are shed with 503', async () => {
      const compare = (await (await fetch(`${s.baseUrl}/-/compare?from=/dpkg/pages/1/&to=/dpkg/pages/1/`, { headers: { Accept: 'application/json' } })).json()) as { counts: Record<string, number>; identical: unknown[]; reproducible: boolean };
      expect(compare.counts).to.deep.equal({ added: 0, removed: 0, changed: 0, identical: 2500 });
      expect(compare.identical).to.have.length(1000);
      expect(compare.identical).to.have.length(1000);
      expect(compare.reproducible).to.equal(true);
      const statuses = await Promise.all(Array.from({ length: 16 }, async () => (await fetch(`${s.baseUrl}/-/compare?from=/dpkg/pages/1/&to=/dpkg/pages/1/`, { headers: { Accept: 'application/json' } })).status));
      expect(statuses.filter((x) => x === 200).length).to.be.at.least(10);
      expect(statuses.filter((x) => x === 503).length).to.be.at.least(1);
      expect(statuses.every((x) => x === 200 || x === 503)).to.equal(true);
    });
  });

  describe('8. names that spoof', () => {
    for (const [label, name] of [
      ['a right-to-left override', 'evil\u202egpj.exe'],
      ['a zero-width space', 'in\u200bvisible.txt'],
      ['a byte order mark', '\ufeffbom.txt'],
      ['a no-break space', 'non\u00a0breaking.txt'],
    ] as const) {
      it(`${label} is refused with 400`, async () => {
        const reply = await send(s.port, 'PUT', `/dpkg/hard/1/${encodeURIComponent(name)}`, { Authorization: auth }, 'x');
        expect(reply.status).to.equal(400);
        expect(reply.body).to.match(/invisible or direction-changing/);
      });
    }

    it('a name not in NFC is refused; its NFC form is accepted, so two names never look the same', async () => {
      const nfd = 'cafe\u0301.txt';
      const reply = await send(s.port, 'PUT', `/dpkg/hard/1/${encodeURIComponent(nfd)}`, { Authorization: auth }, 'x');
      expect(reply.status).to.equal(400);
      expect(reply.body).to.include('NFC');
      expect((await send(s.port, 'PUT', `/dpkg/hard/1/${encodeURIComponent(nfd.normalize('NFC'))}`, { Authorization: auth }, 'x')).status).to.equal(201);
      expect((await send(s.port, 'MKCOL', `/dpkg/hard/1/${encodeURIComponent('dir\u0301')}/`, { Authorization: auth })).status).to.equal(400);
    });
  });

  describe('9. the checksum index', () => {
    it('holds one entry per path however often the path is written', async () => {
      for (let i = 0; i < 50; i++) expect((await send(s.port, 'PUT', '/dpkg/hard/1/same.txt', { Authorization: auth }, 'same content\n')).status).to.be.oneOf([201, 204]);
      const sha = (await send(s.port, 'HEAD', '/dpkg/hard/1/same.txt')).headers['x-checksum-sha256'] as string;
      expect(await readdir(path.join(s.artifactsDir, '.index', 'sha256', sha.slice(0, 2), sha))).to.have.length(1);
    });
  });

  describe('10. symbolic links placed on disk are never followed', () => {
    it('GET of a link, or through a linked folder, is 404; a PUT through a linked folder is refused and writes nothing outside', async () => {
      const outside = await makeTempDir('outside-');
      await writeFile(path.join(outside, 'secret.txt'), 'outside the tree\n');
      const build = path.join(s.artifactsDir, 'dpkg', 'hard', '1');
      await symlink(path.join(outside, 'secret.txt'), path.join(build, 'link.txt'));
      await symlink(outside, path.join(build, 'linkdir'));
      for (const p of ['/dpkg/hard/1/link.txt', '/dpkg/hard/1/linkdir/secret.txt']) {
        const get = await send(s.port, 'GET', p);
        expect(get.status, p).to.equal(404);
        expect(get.body).to.not.include('outside the tree');
      }
      expect((await send(s.port, 'PROPFIND', '/dpkg/hard/1/linkdir/', { Depth: '1' })).status).to.equal(404);
      const put = await send(s.port, 'PUT', '/dpkg/hard/1/linkdir/evil-write', { Authorization: auth }, 'pwned');
      expect(put.status).to.equal(403);
      expect(existsSync(path.join(outside, 'evil-write'))).to.equal(false);
      expect((await send(s.port, 'PUT', '/dpkg/hard/1/linkdir/sub/deeper', { Authorization: auth }, 'pwned')).status).to.equal(403);
      expect(existsSync(path.join(outside, 'sub'))).to.equal(false);
    });
  });

  describe('11. pages carry a content security policy', () => {
    it('no script, no framing, on every page', async () => {
      for (const page of ['/', '/dpkg/hard/1/', '/-/search', '/-/compare?from=/dpkg/hard/1/&to=/dpkg/hard/1/']) {
        const res = await fetch(`${s.baseUrl}${page}`);
        expect(res.headers.get('content-security-policy'), page).to.match(/default-src 'none'/).and.match(/frame-ancestors 'none'/);
        expect(res.headers.get('content-security-policy'), page).to.not.match(/script-src/);
        expect(res.headers.get('x-frame-options'), page).to.equal('DENY');
      }
    });
  });

  describe('14. a replaced file always gets a new validator', () => {
    it('the same size, within the same second: another ETag and a later Last-Modified', async () => {
      expect((await send(s.port, 'PUT', '/dpkg/hard/1/v.txt', { Authorization: auth }, 'AAAAAAAAAA')).status).to.equal(201);
      const one = await send(s.port, 'HEAD', '/dpkg/hard/1/v.txt');
      expect((await send(s.port, 'PUT', '/dpkg/hard/1/v.txt', { Authorization: auth }, 'BBBBBBBBBB')).status).to.equal(204);
      const two = await send(s.port, 'HEAD', '/dpkg/hard/1/v.txt');
      expect(two.headers.etag).to.not.equal(one.headers.etag);
      expect(Date.parse(two.headers['last-modified'] as string)).to.be.greaterThan(Date.parse(one.headers['last-modified'] as string));
      expect((await send(s.port, 'GET', '/dpkg/hard/1/v.txt', { 'If-None-Match': one.headers.etag as string })).status).to.equal(200);
      const spliced = await send(s.port, 'GET', '/dpkg/hard/1/v.txt', { Range: 'bytes=5-', 'If-Range': one.headers.etag as string });
      expect(spliced.status).to.equal(200);
      expect(spliced.body).to.equal('BBBBBBBBBB');
    });
  });

  describe('15. a file without a recorded checksum', () => {
    it('is served with the checksum of its bytes, computed and recorded on the first download', async () => {
      const file = path.join(s.artifactsDir, 'dpkg', 'hard', '1', 'placed.txt');
      await writeFile(file, 'placed on disk by an admin\n');
      const get = await send(s.port, 'GET', '/dpkg/hard/1/placed.txt');
      expect(get.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('placed on disk by an admin\n').digest('hex'));
      // Changed on disk behind the repository's back: the old checksum is not believed.
      await writeFile(file, 'changed behind its back!!\n');
      await utimes(file, new Date(), new Date(Date.now() + 5000));
      expect((await send(s.port, 'GET', '/dpkg/hard/1/placed.txt')).headers['x-checksum-sha256']).to.equal(createHash('sha256').update('changed behind its back!!\n').digest('hex'));
    });
  });

  describe('16. a stalled upload does not hold a revoke', () => {
    it('the revoke answers at once (seal pending), the stalled upload is cut after SEAL_GRACE and leaves nothing, then the build is sealed', async () => {
      const b = await s.mint('dpkg', 'stall', '1');
      const bauth = basic(b.username, b.password);
      expect((await send(s.port, 'PUT', '/dpkg/stall/1/done.txt', { Authorization: bauth }, 'done\n')).status).to.equal(201);
      const sockets: net.Socket[] = [];
      for (let i = 0; i < 20; i++) {
        const socket = net.connect(s.port, '127.0.0.1');
        socket.on('error', () => undefined);
        await new Promise((r) => socket.once('connect', r));
        socket.write(`PUT /dpkg/stall/1/stalled-${i}.bin HTTP/1.1\r\nHost: x\r\nAuthorization: ${bauth}\r\nContent-Length: 1000000\r\n\r\n${'s'.repeat(1000)}`);
        sockets.push(socket);
      }
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const revoke = await fetch(`${s.baseUrl}/-/tokens/${b.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } });
      expect(revoke.status).to.equal(204);
      expect(['pending', 'sealed']).to.include(revoke.headers.get('x-artifact-repo-seal'));
      // SEAL_GRACE is 2 s: the uploads are cut, then the build is sealed.
      let sums = await send(s.port, 'GET', '/dpkg/stall/1/SHA256SUMS');
      while (sums.status !== 200 && Date.now() - started < 20_000) {
        await new Promise((r) => setTimeout(r, 200));
        sums = await send(s.port, 'GET', '/dpkg/stall/1/SHA256SUMS');
      }
      expect(sums.status).to.equal(200);
      expect(sums.body).to.include('done.txt').and.not.include('stalled');
      expect(sockets.every((socket) => socket.destroyed || socket.readyState !== 'open')).to.equal(true);
      expect((await readdir(path.join(s.artifactsDir, '.incoming'))).filter((n) => n.startsWith('put-'))).to.deep.equal([]);
      for (const socket of sockets) socket.destroy();
    });
  });

  describe('the logs', () => {
    it('never name an absolute server path', async () => {
      expect(s.logLines.join('\n')).to.not.include(s.dataDir);
    });
  });
});

// A seal that cannot complete (a full disk) staying pending across a restart is in
// test/faults/disk-and-crash.test.ts.
