// The scope matrix, over real sockets: a token for /dpkg/hello/1/ writes inside that build
// and nowhere else (not the sibling /dpkg/hello/12/, not another project or type, not above
// the build level, not the build collection itself), for the request path and for the
// Destination of COPY and MOVE. Writes without a live token's credentials get 401 with a
// Basic challenge. After every refused write, nothing on disk has changed.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import path from 'node:path';
import { basic, MASTER_AUTH, MASTER_PASSWORD, MASTER_USER, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { send, snapshot, type Reply } from '../helpers/raw-http.js';
import { frontWithNginx, type RunningNginx } from '../helpers/nginx.js';
import { replicaMode } from '../helpers/replicas.js';

const PROPPATCH_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="http://example.com/ns/"><D:set><D:prop><Z:note>scope test</Z:note></D:prop></D:set></D:propertyupdate>';

const LOCK_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>scope test</D:owner></D:lockinfo>';

const CHALLENGE_RE = /^Basic realm="[^"]+"/i;

interface WriteRequest {
  method: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
}

// Against the app, and through the shipped nginx in front of it.
const VIA = { app: '', nginx: ', through nginx', replicas: ', three replicas behind nginx' } as const;
for (const via of ['app', 'nginx', 'replicas'] as const) describe(`token scope matrix (real sockets${VIA[via]})`, function () {
  this.timeout(30_000);
  let front: RunningNginx | null = null;
  let teardown: (() => Promise<void>) | null = null;
  let server: TestServer;
  let port: number;
  let origin: string;
  let token: MintedToken;
  let sibling: MintedToken;
  let auth: string;
  const A_CONTENT = `file a ${randomBytes(4).toString('hex')}\n`;
  const SIBLING_CONTENT = `sibling ${randomBytes(4).toString('hex')}\n`;

  const disk = (...segments: string[]): string => path.join(server.artifactsDir, ...segments);

  /** Sends a write that must be refused with `status`, and checks the tree did not change. */
  async function expectRefused(req: WriteRequest, status: number | number[], credentials: string | null = auth): Promise<Reply> {
    const before = await snapshot(server.artifactsDir);
    const headers: OutgoingHttpHeaders = { ...(req.headers ?? {}) };
    if (credentials !== null) headers.Authorization = credentials;
    const reply = await send(port, req.method, req.path, headers, req.body);
    const what = `${req.method} ${req.path}${req.headers?.Destination ? ` (Destination: ${String(req.headers.Destination)})` : ''}`;
    if (Array.isArray(status)) expect(reply.status, `${what}: ${reply.body}`).to.be.oneOf(status);
    else expect(reply.status, `${what}: ${reply.body}`).to.equal(status);
    expect(await snapshot(server.artifactsDir), `${what}: refused with ${reply.status} but ARTIFACTS_DIR changed`).to.deep.equal(before);
    return reply;
  }

  async function ensureA(): Promise<void> {
    if (existsSync(disk('dpkg', 'hello', '1', 'a'))) return;
    const put = await send(port, 'PUT', '/dpkg/hello/1/a', { Authorization: auth }, A_CONTENT);
    expect(put.status, 'restoring /dpkg/hello/1/a').to.equal(201);
  }

  before(async function () {
    this.timeout(60_000);
    // Dozens of deliberate wrong passwords: keep the per-address token throttle out of the way.
    if (via === 'replicas') {
      this.timeout(120_000);
      const replicas = await replicaMode(this);
      teardown = replicas.teardown;
      server = await replicas.start({ TOKEN_FAILURE_LIMIT: '100000' });
    } else server = await startServer({ TOKEN_FAILURE_LIMIT: '100000' });
    port = server.port;
    origin = server.baseUrl;
    if (via === 'nginx') {
      front = await frontWithNginx(this, server);
      port = front.port;
      origin = front.baseUrl;
    }
    token = await server.mint('dpkg', 'hello', '1');
    auth = basic(token.username, token.password);
    expect(token.scope).to.equal('/dpkg/hello/1/');
    // Neighbours that exist on disk, so that a wrongly allowed write would show.
    sibling = await server.mint('dpkg', 'hello', '12');
    const put12 = await send(port, 'PUT', '/dpkg/hello/12/sibling.txt', { Authorization: basic(sibling.username, sibling.password) }, SIBLING_CONTENT);
    expect(put12.status).to.equal(201);
    await server.mint('dpkg', 'other', '1');
    await server.mint('exe', 'hello', '1');
  });

  after(async () => {
    await front?.stop();
    await server?.close();
    await teardown?.();
  });

  describe('inside the scope', () => {
    it('PUT /dpkg/hello/1/x -> 201, then 204 when replaced', async () => {
      const put = await send(port, 'PUT', '/dpkg/hello/1/x', { Authorization: auth }, 'x1');
      expect(put.status, put.body).to.equal(201);
      expect(await readFile(disk('dpkg', 'hello', '1', 'x'), 'utf8')).to.equal('x1');
      const again = await send(port, 'PUT', '/dpkg/hello/1/x', { Authorization: auth }, 'x2');
      expect(again.status, again.body).to.equal(204);
      expect(await readFile(disk('dpkg', 'hello', '1', 'x'), 'utf8')).to.equal('x2');
    });

    it('PUT /dpkg/hello/1/a -> 201 (the COPY/MOVE source)', async () => {
      const put = await send(port, 'PUT', '/dpkg/hello/1/a', { Authorization: auth }, A_CONTENT);
      expect(put.status, put.body).to.equal(201);
    });

    it('PUT with missing parents creates them inside the scope -> 201', async () => {
      const put = await send(port, 'PUT', '/dpkg/hello/1/sub/dir/file', { Authorization: auth }, 'deep');
      expect(put.status, put.body).to.equal(201);
      expect(await readFile(disk('dpkg', 'hello', '1', 'sub', 'dir', 'file'), 'utf8')).to.equal('deep');
    });

    it('a percent-encoded path into the scope is compared after decoding -> 201', async () => {
      const put = await send(port, 'PUT', '/%64pkg/hello/%31/enc.txt', { Authorization: auth }, 'enc');
      expect(put.status, put.body).to.equal(201);
      expect(await readFile(disk('dpkg', 'hello', '1', 'enc.txt'), 'utf8')).to.equal('enc');
    });

    it('MKCOL of a new collection inside the scope -> 201', async () => {
      const mk = await send(port, 'MKCOL', '/dpkg/hello/1/newcol/', { Authorization: auth });
      expect(mk.status, mk.body).to.equal(201);
      expect((await lstat(disk('dpkg', 'hello', '1', 'newcol'))).isDirectory()).to.equal(true);
    });

    it('MKCOL /dpkg/hello/1/ (the build collection, which exists) -> 405, nothing changes', async () => {
      await expectRefused({ method: 'MKCOL', path: '/dpkg/hello/1/' }, 405);
    });

    it('PROPPATCH on the build collection /dpkg/hello/1/ is allowed -> 207', async () => {
      const reply = await send(port, 'PROPPATCH', '/dpkg/hello/1/', { Authorization: auth, 'Content-Type': 'application/xml' }, PROPPATCH_BODY);
      expect(reply.status, reply.body).to.equal(207);
      expect(reply.body).to.match(/HTTP\/1\.1 200/);
      const find = await send(port, 'PROPFIND', '/dpkg/hello/1/', { Depth: '0', 'Content-Type': 'application/xml' }, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="http://example.com/ns/"><D:prop><Z:note/></D:prop></D:propfind>');
      expect(find.status).to.equal(207);
      expect(find.body).to.include('scope test');
    });
  });

  describe('outside the scope -> 403, nothing changes', () => {
    const cases: { label: string; req: WriteRequest; status?: number | number[] }[] = [
      { label: 'PUT into the sibling build', req: { method: 'PUT', path: '/dpkg/hello/12/x', body: 'evil' } },
      { label: 'PUT over a file of the sibling build', req: { method: 'PUT', path: '/dpkg/hello/12/sibling.txt', body: 'evil' } },
      { label: 'PUT into a new build of the project', req: { method: 'PUT', path: '/dpkg/hello/2/x', body: 'evil' } },
      { label: 'PUT into another project', req: { method: 'PUT', path: '/dpkg/other/1/x', body: 'evil' } },
      { label: 'PUT into another type', req: { method: 'PUT', path: '/exe/hello/1/x', body: 'evil' } },
      { label: 'PUT at the build level', req: { method: 'PUT', path: '/dpkg/hello/x', body: 'evil' } },
      { label: 'PUT at the project level', req: { method: 'PUT', path: '/dpkg/x', body: 'evil' } },
      { label: 'PUT at the type level', req: { method: 'PUT', path: '/x', body: 'evil' } },
      { label: 'PUT with a differently cased type', req: { method: 'PUT', path: '/DPKG/hello/1/x', body: 'evil' } },
      { label: 'PUT with a differently cased project', req: { method: 'PUT', path: '/dpkg/Hello/1/x', body: 'evil' } },
      { label: 'PUT into the sibling, percent-encoded', req: { method: 'PUT', path: '/dpkg/hello/%31%32/x', body: 'evil' } },
      // Replacing the build collection with a file: refused (403 by the scope rule, or 405 as a collection exists).
      { label: 'PUT onto the build collection itself', req: { method: 'PUT', path: '/dpkg/hello/1', body: 'evil' }, status: [403, 405] },
      { label: 'MKCOL in the sibling build', req: { method: 'MKCOL', path: '/dpkg/hello/12/newcol/' } },
      { label: 'MKCOL of a new build collection', req: { method: 'MKCOL', path: '/dpkg/hello/2/' } },
      { label: 'MKCOL of a new project', req: { method: 'MKCOL', path: '/dpkg/newproj/' } },
      { label: 'MKCOL of a new type', req: { method: 'MKCOL', path: '/newtype/' } },
      { label: 'DELETE a file of the sibling build', req: { method: 'DELETE', path: '/dpkg/hello/12/sibling.txt' } },
      { label: 'DELETE the sibling build', req: { method: 'DELETE', path: '/dpkg/hello/12/' } },
      { label: 'DELETE the project', req: { method: 'DELETE', path: '/dpkg/hello/' } },
      { label: 'DELETE the type', req: { method: 'DELETE', path: '/dpkg/' } },
      { label: 'DELETE the build collection /dpkg/hello/1/', req: { method: 'DELETE', path: '/dpkg/hello/1/' } },
      { label: 'DELETE the build collection without its slash', req: { method: 'DELETE', path: '/dpkg/hello/1' } },
      { label: 'DELETE the build collection, percent-encoded', req: { method: 'DELETE', path: '/dpkg/hello/%31/' } },
      { label: 'MOVE the build collection into itself', req: { method: 'MOVE', path: '/dpkg/hello/1/', headers: { Destination: '/dpkg/hello/1/moved/' } } },
      { label: 'MOVE the build collection to a new build', req: { method: 'MOVE', path: '/dpkg/hello/1/', headers: { Destination: '/dpkg/hello/3/' } } },
      { label: 'MOVE the build collection without its slash', req: { method: 'MOVE', path: '/dpkg/hello/1', headers: { Destination: '/dpkg/hello/1/moved' } } },
      { label: 'COPY from the sibling build into the scope', req: { method: 'COPY', path: '/dpkg/hello/12/sibling.txt', headers: { Destination: '/dpkg/hello/1/stolen' } } },
      { label: 'MOVE from the sibling build into the scope', req: { method: 'MOVE', path: '/dpkg/hello/12/sibling.txt', headers: { Destination: '/dpkg/hello/1/stolen' } } },
      { label: 'PROPPATCH the sibling build', req: { method: 'PROPPATCH', path: '/dpkg/hello/12/', headers: { 'Content-Type': 'application/xml' }, body: PROPPATCH_BODY } },
      { label: 'PROPPATCH a file of the sibling build', req: { method: 'PROPPATCH', path: '/dpkg/hello/12/sibling.txt', headers: { 'Content-Type': 'application/xml' }, body: PROPPATCH_BODY } },
      { label: 'PROPPATCH the project', req: { method: 'PROPPATCH', path: '/dpkg/hello/', headers: { 'Content-Type': 'application/xml' }, body: PROPPATCH_BODY } },
      { label: 'LOCK a file of the sibling build', req: { method: 'LOCK', path: '/dpkg/hello/12/sibling.txt', headers: { 'Content-Type': 'application/xml' }, body: LOCK_BODY } },
      { label: 'LOCK a new name in the sibling build (would create it)', req: { method: 'LOCK', path: '/dpkg/hello/12/new.txt', headers: { 'Content-Type': 'application/xml' }, body: LOCK_BODY } },
      { label: 'LOCK at the build level', req: { method: 'LOCK', path: '/dpkg/hello/y', headers: { 'Content-Type': 'application/xml' }, body: LOCK_BODY } },
      { label: 'UNLOCK in the sibling build', req: { method: 'UNLOCK', path: '/dpkg/hello/12/sibling.txt', headers: { 'Lock-Token': '<urn:uuid:00000000-0000-4000-8000-000000000000>' } } },
    ];
    for (const { label, req, status } of cases) {
      it(`${label}: ${req.method} ${req.path} -> ${Array.isArray(status) ? status.join(' or ') : status ?? 403}`, async () => {
        await ensureA();
        await expectRefused({ ...req, headers: { Overwrite: 'T', ...(req.headers ?? {}) } }, status ?? 403);
      });
    }

    it('nothing was created in the sibling, the other project or the other type', async () => {
      expect(await readFile(disk('dpkg', 'hello', '12', 'sibling.txt'), 'utf8')).to.equal(SIBLING_CONTENT);
      expect(await readdir(disk('dpkg', 'hello', '12'))).to.deep.equal(['sibling.txt']);
      expect(await readdir(disk('dpkg', 'other', '1'))).to.deep.equal([]);
      expect(await readdir(disk('exe', 'hello', '1'))).to.deep.equal([]);
      expect((await readdir(disk('dpkg', 'hello'))).sort()).to.deep.equal(['1', '12']);
      expect((await readdir(disk('dpkg'))).sort()).to.deep.equal(['hello', 'other']);
      expect((await readdir(server.artifactsDir)).filter((n) => !n.startsWith('.')).sort()).to.deep.equal(['dpkg', 'exe']);
      expect((await lstat(disk('dpkg', 'hello', '1'))).isDirectory()).to.equal(true);
    });
  });

  describe('COPY and MOVE of /dpkg/hello/1/a: the Destination', () => {
    for (const method of ['COPY', 'MOVE'] as const) {
      const m = method.toLowerCase();
      it(`${method} to an absolute URL inside the scope -> 201`, async () => {
        await ensureA();
        const reply = await send(port, method, '/dpkg/hello/1/a', { Authorization: auth, Destination: `${origin}/dpkg/hello/1/b-${m}-url` });
        expect(reply.status, reply.body).to.equal(201);
        expect(await readFile(disk('dpkg', 'hello', '1', `b-${m}-url`), 'utf8')).to.equal(A_CONTENT);
        expect(existsSync(disk('dpkg', 'hello', '1', 'a'))).to.equal(method === 'COPY');
      });

      it(`${method} to an absolute path inside the scope -> 201`, async () => {
        await ensureA();
        const reply = await send(port, method, '/dpkg/hello/1/a', { Authorization: auth, Destination: `/dpkg/hello/1/b-${m}-path` });
        expect(reply.status, reply.body).to.equal(201);
        expect(await readFile(disk('dpkg', 'hello', '1', `b-${m}-path`), 'utf8')).to.equal(A_CONTENT);
        expect(existsSync(disk('dpkg', 'hello', '1', 'a'))).to.equal(method === 'COPY');
      });

      it(`${method} to a percent-encoded path inside the scope -> 201`, async () => {
        await ensureA();
        const reply = await send(port, method, '/dpkg/hello/1/a', { Authorization: auth, Destination: `/dpkg/hello/%31/b-${m}-%65nc` });
        expect(reply.status, reply.body).to.equal(201);
        expect(await readFile(disk('dpkg', 'hello', '1', `b-${m}-enc`), 'utf8')).to.equal(A_CONTENT);
      });

      const refused: { label: string; dest: () => string }[] = [
        { label: 'the sibling build, absolute path', dest: () => '/dpkg/hello/12/b' },
        { label: 'the sibling build, absolute URL', dest: () => `${origin}/dpkg/hello/12/b` },
        { label: 'the sibling build, percent-encoded', dest: () => '/dpkg/hello/%31%32/b' },
        { label: 'the sibling build, percent-encoded URL', dest: () => `${origin}/dpkg/hello/%31%32/b` },
        { label: "over the sibling build's file", dest: () => '/dpkg/hello/12/sibling.txt' },
        { label: 'another project', dest: () => '/dpkg/other/1/b' },
        { label: 'another type', dest: () => '/exe/hello/1/b' },
        { label: 'the build level', dest: () => '/dpkg/hello/b' },
        { label: 'the project level', dest: () => '/dpkg/b' },
        { label: 'another host', dest: () => 'http://evil.example/dpkg/hello/1/b' },
        { label: 'another port on our address', dest: () => 'http://127.0.0.1:1/dpkg/hello/1/b' },
        { label: 'the scope root itself, absolute path', dest: () => '/dpkg/hello/1/' },
        { label: 'the scope root itself, without its slash', dest: () => '/dpkg/hello/1' },
        { label: 'the scope root itself, absolute URL', dest: () => `${origin}/dpkg/hello/1/` },
        { label: 'the scope root itself, percent-encoded', dest: () => '/dpkg/hello/%31/' },
      ];
      for (const { label, dest } of refused) {
        it(`${method} to ${label} -> 403, nothing created or removed`, async () => {
          await ensureA();
          await expectRefused({ method, path: '/dpkg/hello/1/a', headers: { Destination: dest(), Overwrite: 'T' } }, 403);
          expect(await readFile(disk('dpkg', 'hello', '1', 'a'), 'utf8')).to.equal(A_CONTENT);
          expect(existsSync(disk('dpkg', 'hello', '12', 'b'))).to.equal(false);
          expect(existsSync(disk('dpkg', 'hello', 'b'))).to.equal(false);
        });
      }
    }
  });

  describe('credentials', () => {
    const WRITES: WriteRequest[] = [
      { method: 'PUT', path: '/dpkg/hello/1/auth.txt', body: 'evil' },
      { method: 'PUT', path: '/dpkg/hello/1/a', body: 'evil' },
      { method: 'MKCOL', path: '/dpkg/hello/1/authcol/' },
      { method: 'DELETE', path: '/dpkg/hello/1/a' },
      { method: 'COPY', path: '/dpkg/hello/1/a', headers: { Destination: '/dpkg/hello/1/authcopy' } },
      { method: 'MOVE', path: '/dpkg/hello/1/a', headers: { Destination: '/dpkg/hello/1/authmove' } },
      { method: 'PROPPATCH', path: '/dpkg/hello/1/a', headers: { 'Content-Type': 'application/xml' }, body: PROPPATCH_BODY },
      { method: 'LOCK', path: '/dpkg/hello/1/a', headers: { 'Content-Type': 'application/xml' }, body: LOCK_BODY },
      { method: 'LOCK', path: '/dpkg/hello/1/lockme', headers: { 'Content-Type': 'application/xml' }, body: LOCK_BODY },
      { method: 'UNLOCK', path: '/dpkg/hello/1/a', headers: { 'Lock-Token': '<urn:uuid:00000000-0000-4000-8000-000000000000>' } },
    ];
    const variants: { label: string; credentials: () => string | null }[] = [
      { label: 'no credentials', credentials: () => null },
      { label: "the master's credentials instead of a token", credentials: () => MASTER_AUTH },
      { label: "the master's user name with a wrong password", credentials: () => basic(MASTER_USER, MASTER_PASSWORD + 'x') },
      { label: "the token's user name with a wrong password", credentials: () => basic(token.username, token.password + 'x') },
      { label: "the token's user name with an empty password", credentials: () => basic(token.username, '') },
      { label: "the token's user name with the sibling token's password", credentials: () => basic(token.username, sibling.password) },
      { label: 'an unknown user with the right password', credentials: () => basic('nobody', token.password) },
      { label: 'the token password as a Bearer token', credentials: () => `Bearer ${token.password}` },
      { label: 'a malformed Basic header', credentials: () => 'Basic !!!not-base64!!!' },
    ];
    for (const variant of variants) {
      for (const req of WRITES) {
        it(`${req.method} ${req.path} with ${variant.label} -> 401 with a Basic challenge, nothing changes`, async () => {
          await ensureA();
          const reply = await expectRefused({ ...req, headers: { Overwrite: 'T', ...(req.headers ?? {}) } }, 401, variant.credentials());
          const challenge = reply.headers['www-authenticate'];
          expect(challenge, `${req.method} ${req.path}: WWW-Authenticate`).to.be.a('string');
          expect(String(challenge)).to.match(CHALLENGE_RE);
          expect(reply.body).to.not.include(token.password);
          expect(reply.body).to.not.include(MASTER_PASSWORD);
        });
      }
    }

    it('the token still works after all those failures', async () => {
      const put = await send(port, 'PUT', '/dpkg/hello/1/after-failures.txt', { Authorization: auth }, 'ok');
      expect(put.status, put.body).to.equal(201);
    });
  });
});
