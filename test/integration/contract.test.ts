// The tree and the tokens as docs/interface.md describes them, over real sockets.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import request from 'supertest';
import { basic, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';
import { databaseMode, storedTokens } from '../helpers/postgres.js';
import { replicaMode } from '../helpers/replicas.js';
import { bucketMode } from '../helpers/bucket-mode.js';

// The whole contract in each storage mode: embedded (files), PostgreSQL (DATABASE_URL),
// the tree in PostgreSQL with its bytes in an S3 bucket (BLOB_STORE, on a real Swift), and
// three replicas of one repository behind the shipped nginx, round robin.
/** Whether the tree has a resource at this path, as anyone sees it (PROPFIND, whatever the store). */
async function inTree(s: TestServer, at: string): Promise<boolean> {
  const res = await request(s.baseUrl).propfind(at).set('Depth', '0');
  if (res.status !== 207 && res.status !== 404) throw new Error(`PROPFIND ${at}: ${res.status}`);
  return res.status === 207;
}

const TITLES = {
  embedded: 'HTTP contract',
  PostgreSQL: 'HTTP contract, state in PostgreSQL',
  S3: 'HTTP contract, tree in PostgreSQL and bytes in an S3 bucket (Swift)',
  replicas: 'HTTP contract, three replicas behind nginx',
} as const;
for (const mode of ['embedded', 'PostgreSQL', 'S3', 'replicas'] as const) describe(TITLES[mode], function () {
  let s: TestServer;
  let token: MintedToken;
  let auth: string;
  let teardown: (() => Promise<void>) | null = null;

  before(async function () {
    if (mode !== 'embedded') this.timeout(120_000);
    if (mode === 'PostgreSQL') teardown = await databaseMode(this);
    if (mode === 'S3') teardown = (await bucketMode(this)).teardown;
    if (mode === 'replicas') {
      const replicas = await replicaMode(this);
      teardown = replicas.teardown;
      s = await replicas.start();
    } else s = await startServer();
    token = await s.mint('dpkg', 'hello', '42');
    auth = basic(token.username, token.password);
  });
  after(async () => {
    await s?.close();
    await teardown?.();
  });

  describe('health', () => {
    it('GET /-/health answers 200 JSON', async () => {
      const res = await request(s.baseUrl).get('/-/health');
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/application\/json/);
      expect(res.body).to.deep.equal({ status: 'ok' });
    });
  });

  describe('POST /-/tokens', () => {
    it('answers 201 with the contract fields and creates the build collection', async () => {
      const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).send({ type: 'appimage', project: 'tool', build: '7', ttl: 60 });
      expect(res.status).to.equal(201);
      expect(res.body).to.have.all.keys('id', 'username', 'password', 'scope', 'url', 'expires_at');
      expect(res.body.scope).to.equal('/appimage/tool/7/');
      expect(res.body.url).to.equal(`${s.baseUrl}/appimage/tool/7/`);
      expect(res.body.username).to.match(/^[A-Za-z0-9_-]+$/);
      expect(res.body.password).to.match(/^[A-Za-z0-9_-]{22,}$/);
      const expires = Date.parse(res.body.expires_at);
      expect(expires - Date.now()).to.be.within(58_000, 62_000);
      expect(res.body.expires_at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(await inTree(s, '/appimage/tool/7')).to.equal(true);
    });

    it('defaults ttl to 6 hours', async () => {
      const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).send({ type: 'dpkg', project: 'hello', build: 'ttl-default' });
      expect(res.status).to.equal(201);
      expect(Date.parse(res.body.expires_at) - Date.now()).to.be.within(6 * 3600_000 - 5000, 6 * 3600_000 + 5000);
    });

    it('uses PUBLIC_URL for the url when set', async () => {
      const other = await startServer({ PUBLIC_URL: 'https://artifacts.example.org/' });
      try {
        const t = await other.mint('exe', 'setup', '3');
        expect(t.url).to.equal('https://artifacts.example.org/exe/setup/3/');
      } finally {
        await other.close();
      }
    });

    it('ignores X-Forwarded-Host from a peer that is not a trusted proxy', async () => {
      const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).set('X-Forwarded-Host', 'evil.example').set('X-Forwarded-Proto', 'https').send({ type: 'dpkg', project: 'hello', build: 'fwd' });
      expect(res.status).to.equal(201);
      expect(res.body.url).to.equal(`${s.baseUrl}/dpkg/hello/fwd/`);
    });

    it('honours X-Forwarded-Host and -Proto from a trusted proxy', async () => {
      const other = await startServer({ TRUSTED_PROXIES: '127.0.0.1' });
      try {
        const res = await request(other.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).set('X-Forwarded-Host', 'repo.example:8443').set('X-Forwarded-Proto', 'https').send({ type: 'dpkg', project: 'hello', build: 'fwd' });
        expect(res.body.url).to.equal('https://repo.example:8443/dpkg/hello/fwd/');
      } finally {
        await other.close();
      }
    });

    for (const [field, body] of [
      ['type', { type: '../x', project: 'p', build: '1' }],
      ['project', { type: 't', project: '', build: '1' }],
      ['build', { type: 't', project: 'p', build: 'a/b' }],
      ['build', { type: 't', project: 'p' }],
      ['type', { type: '.hidden', project: 'p', build: '1' }],
      ['ttl', { type: 't', project: 'p', build: '1', ttl: 0 }],
      ['ttl', { type: 't', project: 'p', build: '1', ttl: 86401 }],
      ['ttl', { type: 't', project: 'p', build: '1', ttl: '60' }],
      ['ttl', { type: 't', project: 'p', build: '1', ttl: 1.5 }],
    ] as const) {
      it(`answers 400 naming "${field}" for ${JSON.stringify(body)}`, async () => {
        const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).send(body);
        expect(res.status).to.equal(400);
        expect(res.body.error).to.be.a('string').and.include(field);
      });
    }

    it('answers 400 for malformed JSON', async () => {
      const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).set('Content-Type', 'application/json').send('{"type": "dpkg",');
      expect(res.status).to.equal(400);
      expect(res.body.error).to.match(/JSON/);
    });

    it('answers 415 when Content-Type is not application/json', async () => {
      const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).set('Content-Type', 'text/plain').send('type=dpkg');
      expect(res.status).to.equal(415);
      expect(res.body.error).to.match(/application\/json/);
    });

    it('answers 401 with WWW-Authenticate for missing or wrong master credentials', async () => {
      const missing = await request(s.baseUrl).post('/-/tokens').send({ type: 'dpkg', project: 'hello', build: '1' });
      expect(missing.status).to.equal(401);
      expect(missing.headers['www-authenticate']).to.match(/^Basic realm="/);
      const wrong = await request(s.baseUrl).post('/-/tokens').set('Authorization', basic('buildbot', 'wrong-password-here')).send({ type: 'dpkg', project: 'hello', build: '1' });
      expect(wrong.status).to.equal(401);
      expect(wrong.headers['www-authenticate']).to.match(/^Basic realm="/);
      expect(wrong.body.error).to.be.a('string');
    });

    it('refuses a build token as master credentials', async () => {
      const res = await request(s.baseUrl).post('/-/tokens').set('Authorization', auth).send({ type: 'dpkg', project: 'hello', build: '1' });
      expect(res.status).to.equal(401);
    });

    it('allows several live tokens for one build', async () => {
      const a = await s.mint('dpkg', 'par', '1');
      const b = await s.mint('dpkg', 'par', '1');
      expect(a.id).to.not.equal(b.id);
      for (const t of [a, b]) {
        const res = await request(s.baseUrl).put(`/dpkg/par/1/${t.id}.txt`).set('Authorization', basic(t.username, t.password)).send('x');
        expect(res.status).to.equal(201);
      }
    });

    it('keeps only a hash of the password in the store', async () => {
      const t = await s.mint('dpkg', 'hello', 'store-check');
      const stored = await storedTokens(s);
      expect(stored.text).to.not.include(t.password);
      expect(stored.text).to.not.include(MASTER_AUTH.slice(6));
      expect(stored.hashOf(t.id)).to.match(/^\$argon2id\$/);
    });
  });

  describe('GET /-/tokens', () => {
    it('lists live tokens without passwords or hashes', async () => {
      const res = await request(s.baseUrl).get('/-/tokens').set('Authorization', MASTER_AUTH);
      expect(res.status).to.equal(200);
      const mine = (res.body as Record<string, unknown>[]).find((t) => t.id === token.id);
      expect(mine).to.have.all.keys('id', 'username', 'scope', 'created_at', 'expires_at');
      expect(JSON.stringify(res.body)).to.not.match(/password|hash|argon2/);
    });

    it('needs master credentials', async () => {
      expect((await request(s.baseUrl).get('/-/tokens')).status).to.equal(401);
      expect((await request(s.baseUrl).get('/-/tokens').set('Authorization', auth)).status).to.equal(401);
    });
  });

  describe('DELETE /-/tokens/{id}', () => {
    it('master: 204, again 204 once revoked, 404 for an unknown id', async () => {
      const t = await s.mint('dpkg', 'hello', 'rev');
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
      const unknown = await request(s.baseUrl).delete('/-/tokens/doesnotexist').set('Authorization', MASTER_AUTH);
      expect(unknown.status).to.equal(404);
      expect(unknown.body.error).to.be.a('string');
    });

    it('the last revoke seals the build: SHA256SUMS lists every file, is served as text, and the build takes no more writes', async () => {
      const t = await s.mint('dpkg', 'hello', 'sealed');
      const own = basic(t.username, t.password);
      expect((await request(s.baseUrl).put('/dpkg/hello/sealed/a.deb').set('Authorization', own).send(Buffer.from('deb\n'))).status).to.equal(201);
      expect((await request(s.baseUrl).put('/dpkg/hello/sealed/sub/b.txt').set('Authorization', own).send('b\n')).status).to.equal(201);
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
      const sums = await request(s.baseUrl).get('/dpkg/hello/sealed/SHA256SUMS');
      expect(sums.status).to.equal(200);
      expect(sums.headers['content-type']).to.equal('text/plain; charset=utf-8');
      expect(sums.text).to.equal(`${createHash('sha256').update('deb\n').digest('hex')}  a.deb\n${createHash('sha256').update('b\n').digest('hex')}  sub/b.txt\n`);
      expect(sums.headers['x-checksum-sha256']).to.equal(createHash('sha256').update(sums.text).digest('hex'));
      const again = await s.mint('dpkg', 'hello', 'sealed').then(
        () => 'minted',
        (err: Error) => err.message,
      );
      expect(again).to.match(/^mint failed: 409/);
    });

    it('own credentials: 204 while live, then 401 for the same call', async () => {
      const t = await s.mint('dpkg', 'hello', 'self');
      const own = basic(t.username, t.password);
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', own)).status).to.equal(204);
      const again = await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', own);
      expect(again.status).to.equal(401);
      expect(again.headers['www-authenticate']).to.match(/^Basic/);
    });

    it('a token cannot revoke another (403) and the other stays live', async () => {
      const a = await s.mint('dpkg', 'hello', 'a');
      const b = await s.mint('dpkg', 'hello', 'b');
      const res = await request(s.baseUrl).delete(`/-/tokens/${b.id}`).set('Authorization', basic(a.username, a.password));
      expect(res.status).to.equal(403);
      const put = await request(s.baseUrl).put('/dpkg/hello/b/still-live').set('Authorization', basic(b.username, b.password)).send('x');
      expect(put.status).to.equal(201);
    });

    it('from the next request on, a revoked token opens nothing', async () => {
      const t = await s.mint('dpkg', 'hello', 'next');
      const own = basic(t.username, t.password);
      expect((await request(s.baseUrl).put('/dpkg/hello/next/a').set('Authorization', own).send('1')).status).to.equal(201);
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
      const res = await request(s.baseUrl).put('/dpkg/hello/next/b').set('Authorization', own).send('2');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.match(/^Basic realm=/);
      expect(await inTree(s, '/dpkg/hello/next/b')).to.equal(false);
    });
  });

  describe('public reads', () => {
    before(async () => {
      await request(s.baseUrl).put('/dpkg/hello/42/hello_1.0_amd64.deb').set('Authorization', auth).send(Buffer.from('0123456789abcdef'));
      await request(s.baseUrl).put('/dpkg/hello/42/notes.txt').set('Authorization', auth).send('release notes\n');
    });

    it('GET a file: 200 with Content-Length, ETag, Last-Modified, Accept-Ranges and a sensible type', async () => {
      const res = await request(s.baseUrl).get('/dpkg/hello/42/hello_1.0_amd64.deb').buffer(true);
      expect(res.status).to.equal(200);
      expect(res.headers['content-length']).to.equal('16');
      expect(res.headers.etag).to.match(/^"[0-9a-f]+-10"$/);
      expect(new Date(res.headers['last-modified'] as string).getTime()).to.be.greaterThan(0);
      expect(res.headers['accept-ranges']).to.equal('bytes');
      expect(res.headers['content-type']).to.equal('application/x-debian-package');
      const txt = await request(s.baseUrl).get('/dpkg/hello/42/notes.txt');
      expect(txt.headers['content-type']).to.equal('text/plain; charset=utf-8');
      expect(txt.text).to.equal('release notes\n');
    });

    it('HEAD a file: same headers, no body', async () => {
      const res = await request(s.baseUrl).head('/dpkg/hello/42/notes.txt');
      expect(res.status).to.equal(200);
      expect(res.headers['content-length']).to.equal('14');
      expect(res.text ?? '').to.equal('');
    });

    it('Range gives 206 with Content-Range; an unsatisfiable one 416', async () => {
      const res = await request(s.baseUrl).get('/dpkg/hello/42/hello_1.0_amd64.deb').set('Range', 'bytes=4-7').buffer(true).parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });
      expect(res.status).to.equal(206);
      expect(res.headers['content-range']).to.equal('bytes 4-7/16');
      expect((res.body as Buffer).toString()).to.equal('4567');
      const bad = await request(s.baseUrl).get('/dpkg/hello/42/hello_1.0_amd64.deb').set('Range', 'bytes=100-200');
      expect(bad.status).to.equal(416);
      expect(bad.headers['content-range']).to.equal('bytes */16');
    });

    it('If-None-Match and If-Modified-Since give 304', async () => {
      const first = await request(s.baseUrl).get('/dpkg/hello/42/notes.txt');
      const inm = await request(s.baseUrl).get('/dpkg/hello/42/notes.txt').set('If-None-Match', first.headers.etag as string);
      expect(inm.status).to.equal(304);
      const ims = await request(s.baseUrl).get('/dpkg/hello/42/notes.txt').set('If-Modified-Since', first.headers['last-modified'] as string);
      expect(ims.status).to.equal(304);
      const stale = await request(s.baseUrl).get('/dpkg/hello/42/notes.txt').set('If-None-Match', '"0-0"');
      expect(stale.status).to.equal(200);
    });

    it('GET a collection: HTML for browsers, JSON on Accept: application/json', async () => {
      const html = await request(s.baseUrl).get('/dpkg/hello/42/').set('Accept', 'text/html');
      expect(html.status).to.equal(200);
      expect(html.headers['content-type']).to.match(/text\/html/);
      expect(html.text).to.include('hello_1.0_amd64.deb');
      const json = await request(s.baseUrl).get('/dpkg/hello/42/').set('Accept', 'application/json');
      expect(json.headers['content-type']).to.match(/application\/json/);
      const names = (json.body.entries as { name: string }[]).map((e) => e.name);
      expect(names).to.include.members(['hello_1.0_amd64.deb', 'notes.txt']);
      const root = await request(s.baseUrl).get('/').set('Accept', 'application/json');
      expect((root.body.entries as { name: string }[]).map((e) => e.name)).to.include('dpkg').and.not.include('.incoming');
    });

    it('a collection without its trailing slash is redirected (301)', async () => {
      const res = await request(s.baseUrl).get('/dpkg/hello/42').redirects(0);
      expect(res.status).to.equal(301);
      expect(res.headers.location).to.equal('/dpkg/hello/42/');
    });

    it('a missing file is 404 with a short plain-text message', async () => {
      const res = await request(s.baseUrl).get('/dpkg/hello/42/nope');
      expect(res.status).to.equal(404);
      expect(res.headers['content-type']).to.match(/text\/plain/);
      expect(res.text.length).to.be.lessThan(100);
    });

    it('PROPFIND Depth 0 and 1 answer 207; Depth infinity and no Depth are refused with 403', async () => {
      const d0 = await request(s.baseUrl).propfind('/dpkg/hello/42/').set('Depth', '0');
      expect(d0.status).to.equal(207);
      expect(d0.text).to.include('<D:href>/dpkg/hello/42/</D:href>').and.not.include('notes.txt');
      const d1 = await request(s.baseUrl).propfind('/dpkg/hello/42/').set('Depth', '1');
      expect(d1.status).to.equal(207);
      expect(d1.text).to.include('/dpkg/hello/42/notes.txt').and.include('<D:getcontentlength>14</D:getcontentlength>');
      const inf = await request(s.baseUrl).propfind('/dpkg/hello/42/').set('Depth', 'infinity');
      expect(inf.status).to.equal(403);
      expect(inf.text).to.include('propfind-finite-depth');
      const none = await request(s.baseUrl).propfind('/dpkg/hello/42/');
      expect(none.status).to.equal(403);
    });

    it('OPTIONS answers 200 with DAV and Allow', async () => {
      const res = await request(s.baseUrl).options('/dpkg/hello/42/');
      expect(res.status).to.equal(200);
      expect(res.headers.dav).to.equal('1, 2');
      expect(res.headers.allow).to.include('PROPFIND').and.include('PUT').and.include('LOCK');
    });

    it('a method outside the allow-list is 405 with Allow', async () => {
      const res = await request(s.baseUrl).post('/dpkg/hello/42/notes.txt').send('x');
      expect(res.status).to.equal(405);
      expect(res.headers.allow).to.include('GET');
    });
  });

  describe('scoped writes', () => {
    it('PUT answers 201 for a new file and 204 for a replaced one', async () => {
      const first = await request(s.baseUrl).put('/dpkg/hello/42/replace.txt').set('Authorization', auth).send('one');
      expect(first.status).to.equal(201);
      const second = await request(s.baseUrl).put('/dpkg/hello/42/replace.txt').set('Authorization', auth).send('two!');
      expect(second.status).to.equal(204);
      expect((await request(s.baseUrl).get('/dpkg/hello/42/replace.txt')).text).to.equal('two!');
    });

    it('PUT creates missing parent collections inside the scope', async () => {
      const res = await request(s.baseUrl).put('/dpkg/hello/42/sub/dir/deep/file.txt').set('Authorization', auth).send('deep');
      expect(res.status).to.equal(201);
      expect((await request(s.baseUrl).get('/dpkg/hello/42/sub/dir/deep/file.txt')).text).to.equal('deep');
    });

    it('MKCOL: 201, 405 on an existing collection, 409 with a missing parent, 415 with a body', async () => {
      expect((await request(s.baseUrl).mkcol('/dpkg/hello/42/newdir/').set('Authorization', auth)).status).to.equal(201);
      expect((await request(s.baseUrl).mkcol('/dpkg/hello/42/newdir/').set('Authorization', auth)).status).to.equal(405);
      expect((await request(s.baseUrl).mkcol('/dpkg/hello/42/missing/child/').set('Authorization', auth)).status).to.equal(409);
      expect(await inTree(s, '/dpkg/hello/42/missing')).to.equal(false);
      const withBody = await request(s.baseUrl).mkcol('/dpkg/hello/42/bodied/').set('Authorization', auth).set('Content-Type', 'text/plain').send('x');
      expect(withBody.status).to.equal(415);
      expect(await inTree(s, '/dpkg/hello/42/bodied')).to.equal(false);
    });

    it('DELETE removes a file or a whole collection (204)', async () => {
      await request(s.baseUrl).put('/dpkg/hello/42/gone/a.txt').set('Authorization', auth).send('a');
      expect((await request(s.baseUrl).delete('/dpkg/hello/42/gone/').set('Authorization', auth)).status).to.equal(204);
      expect((await request(s.baseUrl).get('/dpkg/hello/42/gone/a.txt')).status).to.equal(404);
      expect((await request(s.baseUrl).delete('/dpkg/hello/42/gone/').set('Authorization', auth)).status).to.equal(404);
    });

    it('COPY and MOVE inside the scope, with Overwrite', async () => {
      await request(s.baseUrl).put('/dpkg/hello/42/src.txt').set('Authorization', auth).send('source');
      const copy = await request(s.baseUrl).copy('/dpkg/hello/42/src.txt').set('Authorization', auth).set('Destination', `${s.baseUrl}/dpkg/hello/42/copy.txt`);
      expect(copy.status).to.equal(201);
      const noOverwrite = await request(s.baseUrl).copy('/dpkg/hello/42/src.txt').set('Authorization', auth).set('Destination', '/dpkg/hello/42/copy.txt').set('Overwrite', 'F');
      expect(noOverwrite.status).to.equal(412);
      const move = await request(s.baseUrl).move('/dpkg/hello/42/src.txt').set('Authorization', auth).set('Destination', '/dpkg/hello/42/copy.txt');
      expect(move.status).to.equal(204);
      expect((await request(s.baseUrl).get('/dpkg/hello/42/copy.txt')).text).to.equal('source');
      expect((await request(s.baseUrl).get('/dpkg/hello/42/src.txt')).status).to.equal(404);
    });

    it('PROPPATCH stores a dead property that PROPFIND returns', async () => {
      await request(s.baseUrl).put('/dpkg/hello/42/props.txt').set('Authorization', auth).send('p');
      const patch = await request(s.baseUrl)
        .proppatch('/dpkg/hello/42/props.txt')
        .set('Authorization', auth)
        .set('Content-Type', 'application/xml')
        .send('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-test:"><D:set><D:prop><Z:commit>abc123</Z:commit></D:prop></D:set></D:propertyupdate>');
      expect(patch.status).to.equal(207);
      expect(patch.text).to.include('200 OK');
      const find = await request(s.baseUrl).propfind('/dpkg/hello/42/props.txt').set('Depth', '0').send('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><commit xmlns="urn:x-test:"/></D:prop></D:propfind>');
      expect(find.text).to.include('abc123');
      expect(find.text).to.include('urn:x-test:');
    });

    it('LOCK then UNLOCK; a locked file refuses a PUT without the lock token (423)', async () => {
      await request(s.baseUrl).put('/dpkg/hello/42/locked.txt').set('Authorization', auth).send('v1');
      const lock = await request(s.baseUrl)
        .lock('/dpkg/hello/42/locked.txt')
        .set('Authorization', auth)
        .set('Timeout', 'Second-60')
        .send('<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>ci</D:owner></D:lockinfo>');
      expect(lock.status).to.equal(200);
      const lockToken = lock.headers['lock-token'] as string;
      expect(lockToken).to.match(/^<urn:uuid:[0-9a-f-]+>$/);
      expect((await request(s.baseUrl).put('/dpkg/hello/42/locked.txt').set('Authorization', auth).send('v2')).status).to.equal(423);
      expect((await request(s.baseUrl).put('/dpkg/hello/42/locked.txt').set('Authorization', auth).set('If', `(${lockToken})`).send('v3')).status).to.equal(204);
      expect((await request(s.baseUrl).unlock('/dpkg/hello/42/locked.txt').set('Authorization', auth).set('Lock-Token', lockToken)).status).to.equal(204);
      expect((await request(s.baseUrl).put('/dpkg/hello/42/locked.txt').set('Authorization', auth).send('v4')).status).to.equal(204);
    });

    it('writes without credentials, with wrong ones, or a revoked token get 401 with a Basic challenge', async () => {
      for (const header of [undefined, basic(token.username, 'wrong'), basic('nobody', 'x')]) {
        const req = request(s.baseUrl).put('/dpkg/hello/42/anon.txt');
        if (header) req.set('Authorization', header);
        const res = await req.send('x');
        expect(res.status).to.equal(401);
        expect(res.headers['www-authenticate']).to.equal('Basic realm="artifact-repo", charset="UTF-8"');
      }
      expect(await inTree(s, '/dpkg/hello/42/anon.txt')).to.equal(false);
    });

    it('writes outside the scope get 403', async () => {
      const res = await request(s.baseUrl).put('/dpkg/hello/43/x.txt').set('Authorization', auth).send('x');
      expect(res.status).to.equal(403);
      expect(res.text).to.include('scope');
    });

    it('the build collection itself cannot be deleted or moved by its token', async () => {
      expect((await request(s.baseUrl).delete('/dpkg/hello/42/').set('Authorization', auth)).status).to.equal(403);
      expect((await request(s.baseUrl).move('/dpkg/hello/42/').set('Authorization', auth).set('Destination', '/dpkg/hello/42/inner/')).status).to.equal(403);
      expect(await inTree(s, '/dpkg/hello/42')).to.equal(true);
    });
  });

  describe('errors', () => {
    it('never carry a stack trace, a server path or a secret', async () => {
      const answers = await Promise.all([
        request(s.baseUrl).get('/dpkg/hello/42/%2e%2e/%2e%2e/etc/passwd'),
        request(s.baseUrl).put('/dpkg/hello/42/x').set('Authorization', basic(token.username, 'bad')).send('x'),
        request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).set('Content-Type', 'application/json').send('{'),
        request(s.baseUrl).get('/-/nothing-here'),
        request(s.baseUrl).propfind('/dpkg/hello/42/').set('Depth', '0').send('<not xml'),
      ]);
      for (const res of answers) {
        expect(res.status).to.be.within(400, 499);
        expect(res.text).to.not.include(s.dataDir).and.not.include('    at ').and.not.include(token.password).and.not.include('argon2');
      }
    });

    it('JSON errors under /-/, plain text in the tree', async () => {
      const api = await request(s.baseUrl).get('/-/nothing-here');
      expect(api.status).to.equal(404);
      expect(api.body).to.have.key('error');
      const tree = await request(s.baseUrl).get('/dpkg/hello/42/missing');
      expect(tree.headers['content-type']).to.match(/^text\/plain/);
    });
  });
});
