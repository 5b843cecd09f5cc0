// The deployment's parts, natively: Debian's nginx with the repository's nginx config in
// front of the app started exactly as the container starts it (docker/entrypoint.sh with
// the container's environment, local paths and free ports).
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import request from 'supertest';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, mintWith, startChild, type ChildServer, type MintedToken } from '../helpers/harness.js';
import { startNginx, type RunningNginx } from '../helpers/nginx.js';
import { requireTool, run } from '../helpers/tools.js';
import { putGenerated } from '../helpers/raw-http.js';
import { IsolatedApt, makeDeb } from '../helpers/packages.js';

/** Lines the app has logged for requests: the proof of who answered. */
function appRequests(app: ChildServer): number {
  return app.output().split('\n').filter((l) => l.includes('"msg":"request"')).length;
}

async function waitForLog(app: ChildServer, count: number): Promise<void> {
  for (let i = 0; i < 50 && appRequests(app) < count; i++) await new Promise((r) => setTimeout(r, 20));
}

/** The app's request count once its log has been still for 200 ms (its lines are written asynchronously). */
async function quietCount(app: ChildServer): Promise<number> {
  let last = appRequests(app);
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = appRequests(app);
    if (now === last) return now;
    last = now;
  }
  return last;
}

describe('deployment: nginx in front of the app', function () {
  this.timeout(120_000);
  let root: string;
  let app: ChildServer;
  let nginx: RunningNginx;
  let restricted: RunningNginx;
  let token: MintedToken;

  before(async function () {
    requireTool(this, 'nginx', 'nginx');
    root = await makeTempDir('deploy-');
    // nginx's workers run as www-data: the volumes must be readable by it, as in the container.
    await chmod(root, 0o755);
    const secret = path.join(root, 'master_password');
    await writeFile(secret, `${MASTER_PASSWORD}\n`);
    app = await startChild(root, {
      // The container's environment (docker/Dockerfile, docker/docker-compose.yml), local paths.
      HOST: '127.0.0.1',
      ARTIFACTS_DIR: path.join(root, 'artifacts'),
      TOKENS_DIR: path.join(root, 'tokens'),
      MASTER_PASSWORD: '',
      MASTER_PASSWORD_FILE: secret,
      // nginx reaches the app through its socket, as in docker-compose.yml.
      LISTEN_SOCKET: path.join(root, 'run', 'app.sock'),
      LOG_LEVEL: 'info',
    });
    await chmod(path.join(root, 'artifacts'), 0o755);
    const upstream = `unix:${path.join(root, 'run', 'app.sock')}`;
    nginx = await startNginx({ prefix: path.join(root, 'nginx'), upstream, artifactsRoot: path.join(root, 'artifacts'), mastersAllow: 'allow all;\n' });
    restricted = await startNginx({ prefix: path.join(root, 'nginx-restricted'), upstream, artifactsRoot: path.join(root, 'artifacts'), mastersAllow: 'allow 10.9.8.7;\ndeny all;\n' });
    token = await mintWith(nginx.baseUrl, { type: 'deb', project: 'nginx', build: '1' });
    const put = await request(nginx.baseUrl).put('/deb/nginx/1/pkg_1.0_amd64.deb').set('Authorization', basic(token.username, token.password)).send(Buffer.alloc(100_000, 7));
    expect(put.status).to.equal(201);
  });

  after(async () => {
    await nginx?.stop();
    await restricted?.stop();
    await app?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** The app's access log lines written since `before` (an offset into its output), once they are out. */
  async function requestsSince(before: number): Promise<{ method: string; path: string; bytes_out: number }[]> {
    await new Promise((r) => setTimeout(r, 200));
    return app
      .output()
      .slice(before)
      .split('\n')
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l) as { method: string; path: string; bytes_out: number });
  }

  it('mints through nginx, with the URL the client used (X-Forwarded-Host from the trusted proxy)', () => {
    expect(token.url).to.equal(`${nginx.baseUrl}/deb/nginx/1/`);
  });

  it('a write reaches the app once: no describe subrequest goes with it', async () => {
    const before = app.output().length;
    const put = await request(nginx.baseUrl).put('/deb/nginx/1/once.txt').set('Authorization', basic(token.username, token.password)).send('once\n');
    expect(put.status).to.equal(201);
    expect(put.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('once\n').digest('hex'));
    const propfind = await request(nginx.baseUrl).propfind('/deb/nginx/1/once.txt').set('Depth', '0');
    expect(propfind.status).to.equal(207);
    // (An earlier request's line may land late: only this file's count.)
    const seen = (await requestsSince(before)).filter((l) => l.path.includes('once.txt')).map((l) => `${l.method} ${l.path}`);
    expect(seen).to.have.members(['PUT /deb/nginx/1/once.txt', 'PROPFIND /deb/nginx/1/once.txt']);
  });

  it('serves a download from disk with the checksum the app recorded, without asking the app', async () => {
    const before = app.output().length;
    const res = await request(nginx.baseUrl).get('/deb/nginx/1/pkg_1.0_amd64.deb').buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(res.status).to.equal(200);
    const body = res.body as Buffer;
    expect(body.equals(Buffer.alloc(100_000, 7))).to.equal(true);
    expect(res.headers['x-content-type-options']).to.equal('nosniff');
    expect(res.headers['content-security-policy']).to.equal('sandbox');
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(res.headers['x-checksum-sha256']).to.equal(sha256);
    expect(res.headers['repr-digest']).to.equal(`sha-256=:${Buffer.from(sha256, 'hex').toString('base64')}:`);
    // nginx read the file's record itself (nginx/describe.js): the app saw nothing.
    // (The access log is written asynchronously: an earlier request's line may land late.)
    expect((await requestsSince(before)).filter((l) => l.path.includes('pkg_1.0_amd64.deb'))).to.deep.equal([]);
    const direct = await request(app.baseUrl).head('/deb/nginx/1/pkg_1.0_amd64.deb');
    expect(res.headers.etag).to.equal(direct.headers.etag);
    expect(res.headers['last-modified']).to.equal(direct.headers['last-modified']);
  });

  it("nginx's own description is the app's: checksum, digest, validators, type and caching, open and sealed", async () => {
    const t = await mintWith(nginx.baseUrl, { type: 'deb', project: 'nginx', build: 'same' });
    const names = ['a.txt', 'dir/b.tar.gz', 'with space.bin', 'empty', 'SHA256SUMS.txt'];
    for (const name of names) {
      const href = `/deb/nginx/same/${name.split('/').map(encodeURIComponent).join('/')}`;
      expect((await request(nginx.baseUrl).put(href).set('Authorization', basic(t.username, t.password)).send(name === 'empty' ? '' : `bytes of ${name}\n`)).status, name).to.equal(201);
    }
    const compare = async (state: string): Promise<void> => {
      for (const name of [...names, ...(state === 'sealed' ? ['SHA256SUMS', 'SHA256SUMS.sig'] : [])]) {
        const href = `/deb/nginx/same/${name.split('/').map(encodeURIComponent).join('/')}`;
        const before = app.output().length;
        const viaNginx = await request(nginx.baseUrl).get(href);
        const fromApp = await request(app.baseUrl).get(href);
        const seen = (await requestsSince(before)).filter((l) => l.path.endsWith(href)).map((l) => l.path);
        // A sealed build's file is described by the app at most once; an open build's never.
        const described = seen.filter((p) => p === `/-/describe${href}`);
        expect(described.length, `${state} ${name}: descriptions asked of the app`).to.be.at.most(state === 'open' ? 0 : 1);
        expect(seen.filter((p) => p !== `/-/describe${href}`), `${state} ${name}: only the direct request reached the app`).to.deep.equal([href]);
        for (const header of ['x-checksum-sha256', 'repr-digest', 'cache-control', 'etag', 'last-modified', 'content-type', 'content-length']) {
          expect(viaNginx.headers[header], `${state} ${name}: ${header}`).to.equal(fromApp.headers[header]);
        }
      }
    };
    await compare('open');
    expect((await request(nginx.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
    await compare('sealed');
    // Once nginx has looked for the build's SHA256SUMS again (after a second): the app's
    // description, kept by nginx.
    await new Promise((r) => setTimeout(r, 1100));
    await compare('sealed');
  });

  it('a replaced file goes out with its new checksum at once, and a file changed behind the app\'s back is described by the app', async () => {
    const href = '/deb/nginx/1/replaced.txt';
    for (const content of ['first\n', 'second, longer\n', 'third\n']) {
      expect((await request(nginx.baseUrl).put(href).set('Authorization', basic(token.username, token.password)).send(content)).status).to.be.oneOf([201, 204]);
      const got = await request(nginx.baseUrl).get(href);
      expect(got.text).to.equal(content);
      expect(got.headers['x-checksum-sha256']).to.equal(createHash('sha256').update(content).digest('hex'));
    }
    // The same inode, other bytes and another mtime: the record no longer holds, so nginx
    // asks the app, which hashes what is on disk now.
    const file = path.join(root, 'artifacts', 'deb/nginx/1/replaced.txt');
    await writeFile(file, 'edited on disk\n');
    await utimes(file, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    const before = app.output().length;
    const edited = await request(nginx.baseUrl).get(href);
    expect(edited.text).to.equal('edited on disk\n');
    expect(edited.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('edited on disk\n').digest('hex'));
    expect((await requestsSince(before)).map((l) => l.path)).to.include(`/-/describe${href}`);
    // Another inode with the same size and mtime (a copy renamed in by hand): not the recorded file.
    const copy = path.join(root, 'artifacts', 'deb/nginx/1/copy.tmp');
    await writeFile(copy, 'EDITED ON DISK\n');
    const { mtime } = await stat(file);
    await utimes(copy, mtime, mtime);
    await rename(copy, file);
    const renamedBefore = app.output().length;
    const renamed = await request(nginx.baseUrl).get(href);
    expect(renamed.text).to.equal('EDITED ON DISK\n');
    expect(renamed.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('EDITED ON DISK\n').digest('hex'));
    expect((await requestsSince(renamedBefore)).map((l) => l.path)).to.include(`/-/describe${href}`);
  });

  it('with ARTIFACT_RECORDS=database (replicas), nginx reads nothing from the volume: the app describes every download', async () => {
    const viaDatabase = await startNginx({ prefix: path.join(root, 'nginx-database'), upstream: `unix:${path.join(root, 'run', 'app.sock')}`, artifactsRoot: path.join(root, 'artifacts'), mastersAllow: 'allow all;\n', records: 'database' });
    try {
      const before = app.output().length;
      const got = await request(viaDatabase.baseUrl).get('/deb/nginx/1/pkg_1.0_amd64.deb');
      expect(got.headers['x-checksum-sha256']).to.equal(createHash('sha256').update(Buffer.alloc(100_000, 7)).digest('hex'));
      expect((await requestsSince(before)).map((l) => l.path)).to.include('/-/describe/deb/nginx/1/pkg_1.0_amd64.deb');
    } finally {
      await viaDatabase.stop();
    }
  });

  it('a record nginx cannot read (an earlier link format, none at all) leaves the download to the app\'s description', async () => {
    const href = '/deb/nginx/1/linked.txt';
    expect((await request(nginx.baseUrl).put(href).set('Authorization', basic(token.username, token.password)).send('linked\n')).status).to.equal(201);
    const recordFile = path.join(root, 'artifacts', '.meta', 'deb.d', 'nginx.d', '1.d', 'linked.txt.m');
    const record = await readFile(recordFile, 'utf8');
    // As the version before wrote it: a symbolic link holding the record. (The app has
    // the record in memory, so it does not read it again here: unit/nginx-describe.)
    await rm(recordFile);
    await symlink(`record:${record}`, recordFile);
    const before = app.output().length;
    const got = await request(nginx.baseUrl).get(href);
    expect(got.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('linked\n').digest('hex'));
    expect((await requestsSince(before)).map((l) => l.path)).to.include(`/-/describe${href}`);
  });

  it('files of a sealed build are served with their checksum headers and immutable caching, described by the app once', async () => {
    const t = await mintWith(nginx.baseUrl, { type: 'deb', project: 'nginx', build: 'sealed' });
    const body = Buffer.from('sealed content\n');
    await request(nginx.baseUrl).put('/deb/nginx/sealed/notes.txt').set('Authorization', basic(t.username, t.password)).send(body);
    const open = await request(nginx.baseUrl).get('/deb/nginx/sealed/notes.txt');
    expect(open.headers['cache-control']).to.equal(undefined);
    expect((await request(nginx.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
    const beforeDescribed = app.output().length;
    const first = await request(nginx.baseUrl).get('/deb/nginx/sealed/notes.txt');
    expect(first.headers['cache-control']).to.match(/immutable/);
    // nginx looks for the build's SHA256SUMS again within a second: from then on the app
    // describes the file once, and nginx keeps that answer.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await request(nginx.baseUrl).get('/deb/nginx/sealed/notes.txt')).headers['x-checksum-sha256']).to.equal(createHash('sha256').update(body).digest('hex'));
    expect((await requestsSince(beforeDescribed)).map((l) => l.path).filter((p) => p.includes('notes.txt'))).to.deep.equal(['/-/describe/deb/nginx/sealed/notes.txt']);
    const before = await quietCount(app);
    for (let i = 0; i < 5; i++) {
      // A query string is not another file: the kept answer serves it too.
      const again = await request(nginx.baseUrl).get(`/deb/nginx/sealed/notes.txt?i=${i}`);
      expect(again.status).to.equal(200);
      expect(again.text).to.equal(body.toString());
      expect(again.headers['x-checksum-sha256']).to.equal(createHash('sha256').update(body).digest('hex'));
      expect(again.headers['cache-control']).to.match(/immutable/);
      expect((await request(nginx.baseUrl).head('/deb/nginx/sealed/notes.txt')).headers['content-length']).to.equal(String(body.length));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(appRequests(app), 'the app was asked again for a sealed file').to.equal(before);
    // The seal's checksum list and its signature are text from nginx as from the app; the
    // signature verifies against the key served through nginx too (docs/provenance.md).
    for (const name of ['SHA256SUMS', 'SHA256SUMS.sig']) {
      const got = await request(nginx.baseUrl).get(`/deb/nginx/sealed/${name}`);
      expect(got.status, name).to.equal(200);
      expect(got.headers['content-type'], name).to.equal('text/plain; charset=utf-8');
      expect(got.headers['x-checksum-sha256'], name).to.match(/^[0-9a-f]{64}$/);
    }
    expect((await request(nginx.baseUrl).get('/-/signing-key')).text).to.match(/^ssh-ed25519 /);
  });

  it('a SHA256SUMS on disk is only a hint: a build that is not sealed is described by the app every time, never kept', async () => {
    // As between a seal's writing SHA256SUMS and its recording the build as sealed (its
    // files cannot change any more then: no token can be minted for a build being sealed).
    const t = await mintWith(nginx.baseUrl, { type: 'deb', project: 'nginx', build: 'hinted' });
    await request(nginx.baseUrl).put('/deb/nginx/hinted/a.txt').set('Authorization', basic(t.username, t.password)).send('first\n');
    await writeFile(path.join(root, 'artifacts', 'deb', 'nginx', 'hinted', 'SHA256SUMS'), 'not a seal\n');
    await new Promise((r) => setTimeout(r, 1100));
    const before = app.output().length;
    for (let i = 0; i < 2; i++) {
      const got = await request(nginx.baseUrl).get('/deb/nginx/hinted/a.txt');
      expect(got.text).to.equal('first\n');
      expect(got.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('first\n').digest('hex'));
      expect(got.headers['cache-control']).to.equal(undefined);
    }
    expect((await requestsSince(before)).filter((l) => l.path === '/-/describe/deb/nginx/hinted/a.txt')).to.have.length(2);
  });

  it('the internal describe location cannot be reached from outside', async () => {
    for (const p of ['/.describe', '/%2Edescribe', '/.describe/deb/nginx/1/pkg_1.0_amd64.deb']) {
      expect((await request(nginx.baseUrl).get(p)).status, p).to.equal(404);
    }
  });

  it('odd file names download with their checksum', async () => {
    for (const name of ['with space.txt', 'ünïcödé.txt', 'plus+and%25.txt', 'hash#.txt']) {
      const href = `/deb/nginx/1/${encodeURIComponent(name)}`;
      const put = await request(nginx.baseUrl).put(href).set('Authorization', basic(token.username, token.password)).send(`content of ${name}`);
      expect(put.status, name).to.equal(201);
      const get = await request(nginx.baseUrl).get(href);
      expect(get.status, name).to.equal(200);
      expect(get.text, name).to.equal(`content of ${name}`);
      expect(get.headers['x-checksum-sha256'], name).to.equal(createHash('sha256').update(`content of ${name}`).digest('hex'));
    }
  });

  it('Range gives 206 and validators give 304, from nginx, with the checksum nginx read itself', async () => {
    const before = app.output().length;
    const sha256 = createHash('sha256').update(Buffer.alloc(100_000, 7)).digest('hex');
    const head = await request(nginx.baseUrl).head('/deb/nginx/1/pkg_1.0_amd64.deb');
    expect(head.headers['x-checksum-sha256']).to.equal(sha256);
    const range = await request(nginx.baseUrl).get('/deb/nginx/1/pkg_1.0_amd64.deb').set('Range', 'bytes=0-9');
    expect(range.status).to.equal(206);
    expect(range.headers['content-range']).to.equal('bytes 0-9/100000');
    // The checksum of the whole representation (Repr-Digest), not of the range.
    expect(range.headers['x-checksum-sha256']).to.equal(sha256);
    expect((await requestsSince(before)).filter((l) => l.path.includes('pkg_1.0_amd64.deb'))).to.deep.equal([]);
    expect((await request(nginx.baseUrl).get('/deb/nginx/1/pkg_1.0_amd64.deb').set('If-None-Match', head.headers.etag as string)).status).to.equal(304);
    expect((await request(nginx.baseUrl).get('/deb/nginx/1/pkg_1.0_amd64.deb').set('If-Modified-Since', head.headers['last-modified'] as string)).status).to.equal(304);
  });

  it('collection listings, the trailing-slash redirect, PROPFIND and /-/ reach the app', async () => {
    // Lines of the tests before may still be on their way.
    const before = await quietCount(app);
    const listing = await request(nginx.baseUrl).get('/deb/nginx/1/').set('Accept', 'application/json');
    expect(listing.status).to.equal(200);
    expect((listing.body.entries as { name: string }[]).map((e) => e.name)).to.include('pkg_1.0_amd64.deb');
    expect((await request(nginx.baseUrl).get('/deb/nginx/1').redirects(0)).status).to.equal(301);
    expect((await request(nginx.baseUrl).get('/')).text).to.include('deb');
    const propfind = await request(nginx.baseUrl).propfind('/deb/nginx/1/').set('Depth', '1');
    expect(propfind.status).to.equal(207);
    expect((await request(nginx.baseUrl).get('/-/health')).status).to.equal(200);
    expect((await request(nginx.baseUrl).get('/deb/nginx/1/missing.deb')).status).to.equal(404);
    // Six requests, plus nginx's describe subrequest for the two that looked like files
    // but have no record (the folder without its slash, the missing file).
    await waitForLog(app, before + 8);
    expect(appRequests(app) - before).to.equal(8);
  });

  it('never serves uploads in flight or metadata', async () => {
    await mkdir(path.join(root, 'artifacts', '.incoming', 'aside-1'), { recursive: true });
    await writeFile(path.join(root, 'artifacts', '.incoming', 'put-visible'), 'partial');
    // A build set aside for deletion keeps its checksum list's name.
    await writeFile(path.join(root, 'artifacts', '.incoming', 'aside-1', 'SHA256SUMS'), 'partial');
    for (const p of ['/.incoming/put-visible', '/%2Eincoming/put-visible', '/deb/../.incoming/put-visible', '/.meta/', '/.incoming/', '/.incoming/aside-1/SHA256SUMS']) {
      const res = await request(nginx.baseUrl).get(p);
      expect(res.status, p).to.be.within(400, 404);
      expect(res.text ?? '', p).to.not.include('partial');
    }
    await rm(path.join(root, 'artifacts', '.incoming', 'put-visible'));
    await rm(path.join(root, 'artifacts', '.incoming', 'aside-1'), { recursive: true });
  });

  it('refuses a large XML body at nginx (413), before the app sees it', async () => {
    const before = await quietCount(app);
    const answer = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: nginx.port, method: 'PROPFIND', path: '/deb/nginx/1/', headers: { Depth: '0', 'Content-Length': 2_000_000 } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer).to.equal(413);
    await new Promise((r) => setTimeout(r, 200));
    expect(appRequests(app)).to.equal(before);
  });

  it('a 1 GiB upload streams through without nginx buffering it to disk', async function () {
    this.timeout(180_000);
    const size = 1024 * 1024 * 1024;
    let sawTempFile = false;
    const watcher = setInterval(() => {
      readdir(nginx.clientBodyTemp, { recursive: true }).then((names) => {
        if (names.length > 0) sawTempFile = true;
      }, () => undefined);
    }, 25);
    try {
      const status = await putGenerated(`${nginx.baseUrl}/deb/nginx/1/big.bin`, basic(token.username, token.password), size);
      expect(status).to.equal(201);
    } finally {
      clearInterval(watcher);
    }
    expect(sawTempFile, 'nginx wrote the body to client_body_temp').to.equal(false);
    const head = await request(nginx.baseUrl).head('/deb/nginx/1/big.bin');
    expect(head.headers['content-length']).to.equal(String(size));
  });

  it('the masters allow-list guards minting and listing, and a spoofed X-Forwarded-For does not pass it', async () => {
    for (const xff of [undefined, '10.9.8.7', '10.9.8.7, 127.0.0.1']) {
      const mint = request(restricted.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).send({ type: 'deb', project: 'nginx', build: '2' });
      if (xff) mint.set('X-Forwarded-For', xff);
      expect((await mint).status, `X-Forwarded-For: ${xff}`).to.equal(403);
      const list = request(restricted.baseUrl).get('/-/tokens').set('Authorization', MASTER_AUTH);
      if (xff) list.set('X-Forwarded-For', xff);
      expect((await list).status).to.equal(403);
      const metrics = request(restricted.baseUrl).get('/-/metrics');
      if (xff) metrics.set('X-Forwarded-For', xff);
      expect((await metrics).status, 'metrics').to.equal(403);
    }
    // nginx matches its locations with case: the app must not answer another spelling.
    for (const spelling of ['/-/TOKENS', '/-/Tokens', '/-/METRICS', '/-/Metrics/']) {
      const get = await request(restricted.baseUrl).get(spelling).set('Authorization', MASTER_AUTH);
      expect(get.status, spelling).to.be.oneOf([403, 404]);
      expect(get.text, spelling).not.to.include('artifact_repo_');
    }
    for (const [method, url] of [['get', '/-/pins'], ['post', '/-/pins'], ['post', '/-/retention'], ['delete', '/-/pins?build=/deb/nginx/1/'], ['post', '/-/mirror'], ['delete', '/-/mirror/abc']] as const) {
      expect((await request(restricted.baseUrl)[method](url).set('Authorization', MASTER_AUTH)).status, `${method} ${url}`).to.equal(403);
    }
    // The mirror's list and its downloads are everyone's.
    expect((await request(restricted.baseUrl).get('/-/mirror').set('Accept', 'application/json')).status).to.equal(200);
    const mint = await request(restricted.baseUrl).post('/-/Tokens').set('Authorization', MASTER_AUTH).send({ type: 'deb', project: 'nginx', build: '2' });
    expect(mint.status).to.be.oneOf([403, 404]);
  });

  it('serves the metrics to the masters network through nginx', async () => {
    const res = await request(nginx.baseUrl).get('/-/metrics');
    expect(res.status).to.equal(200);
    expect(res.text).to.match(/^artifact_repo_http_requests_total\{/m);
  });

  it('a build may still revoke its own token from a worker outside the masters network', async () => {
    const t = await mintWith(nginx.baseUrl, { type: 'deb', project: 'nginx', build: '3' });
    const res = await request(restricted.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', basic(t.username, t.password));
    expect(res.status).to.equal(204);
    expect((await request(nginx.baseUrl).put('/deb/nginx/3/x').set('Authorization', basic(t.username, t.password)).send('x')).status).to.equal(401);
  });

  it('the app logs the client address nginx saw, not one the client claims, and believes X-Forwarded-For only on its socket', async () => {
    const from = (localAddress: string, base: string, path: string, forged: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const url = new URL(path, base);
        http.get({ host: url.hostname, port: url.port, path: url.pathname, localAddress, headers: { 'X-Forwarded-For': forged } }, (res) => res.resume().on('end', resolve)).on('error', reject);
      });
    const before = app.output().length;
    await from('127.0.0.2', nginx.baseUrl, '/deb/nginx/', '203.0.113.9');
    // Straight to the app's TCP port, with a forged header: not a proxy, not believed.
    await from('127.0.0.3', app.baseUrl, '/deb/', '203.0.113.10');
    await new Promise((r) => setTimeout(r, 200));
    const lines = app
      .output()
      .slice(before)
      .split('\n')
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l) as { path: string; client: string })
      // The access log is asynchronous: an earlier test's lines may land here.
      .filter((l) => l.path === '/deb/nginx/' || l.path === '/deb/');
    expect(lines.map((l) => `${l.path} ${l.client}`)).to.deep.equal(['/deb/nginx/ 127.0.0.2', '/deb/ 127.0.0.3']);
    expect(app.output().slice(before)).to.not.include('203.0.113.9').and.not.include('203.0.113.10');
  });

  it('litmus passes 104 of 104 through nginx', async function () {
    const litmus = requireTool(this, 'litmus', 'litmus');
    const t = await mintWith(nginx.baseUrl, { type: 'dav', project: 'nginx', build: '1' });
    const result = await run(litmus, ['-k', t.url, t.username, t.password], { cwd: root });
    const passed = [...result.stdout.matchAll(/tests run: \d+ passed, (\d+) failed/g)].length;
    expect(passed, `${result.stdout}\n${result.stderr}\nnginx: ${await readFile(path.join(nginx.prefix, 'logs', 'error.log'), 'utf8').catch(() => '')}`).to.equal(5);
    expect(result.stdout.split(/[\r\n]+/).filter((l) => /\bFAIL\b|WARNING/.test(l))).to.deep.equal([]);
    const counts = [...result.stdout.matchAll(/of (\d+) tests run: (\d+) passed/g)].map((m) => Number(m[2]));
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(104);
  });

  it('the nginx access log holds no credentials', async () => {
    const log = await readFile(nginx.accessLog, 'utf8');
    expect(log).to.include('PUT /deb/nginx/1/big.bin');
    expect(log).to.not.include(token.password).and.not.include(Buffer.from(`${token.username}:${token.password}`).toString('base64'));
  });

  // Last: it stops the app.
  it('apt installs from a project through nginx: the indexes and the pool come from disk, not from the app', async function () {
    requireTool(this, 'apt-get', 'apt');
    requireTool(this, 'dpkg-deb', 'dpkg');
    const made = path.join(root, 'debs');
    await mkdir(made, { recursive: true });
    const debFile = await makeDeb(made, { name: 'via-nginx', version: '1.0-1', arch: 'amd64' });
    const t = await mintWith(nginx.baseUrl, { type: 'deb', project: 'aptnginx', build: '1' });
    const put = await request(nginx.baseUrl).put(`/deb/aptnginx/1/${path.basename(debFile)}`).set('Authorization', basic(t.username, t.password)).send(await readFile(debFile));
    expect(put.status).to.equal(201);
    expect((await request(nginx.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).headers['x-artifact-repo-seal']).to.equal('sealed');
    const key = path.join(root, 'artifact-repo.asc');
    await writeFile(key, await (await fetch(`${nginx.baseUrl}/-/signing-keys.asc`)).text());
    const apt = new IsolatedApt(path.join(root, 'apt'));
    await apt.setUp(`deb [signed-by=${key}] ${nginx.baseUrl}/-/apt/deb/aptnginx/ stable main\n`);
    await quietCount(app);
    const before = app.output().length;
    const update = await apt.aptGet(['update']);
    expect(update.code, update.stdout + update.stderr).to.equal(0);
    expect(update.stdout + update.stderr).to.not.match(/^(W|E|Err):/m);
    const download = await apt.aptGet(['download', 'via-nginx']);
    expect(download.code, download.stdout + download.stderr).to.equal(0);
    expect((await apt.downloaded(path.basename(debFile))).equals(await readFile(debFile))).to.equal(true);
    // Every index, its signatures and the package itself came from disk: the app was at
    // most asked to describe the package (a sealed build's file, described once).
    await quietCount(app);
    const asked = (await requestsSince(before)).map((l) => l.path);
    expect(asked.filter((p) => p !== `/-/describe/deb/aptnginx/1/${path.basename(debFile)}`)).to.deep.equal([]);
    expect(asked.length).to.be.at.most(1);
    const inRelease = await request(nginx.baseUrl).get('/-/apt/deb/aptnginx/dists/stable/InRelease');
    expect(inRelease.headers['cache-control']).to.equal('no-cache');
    const gz = await request(nginx.baseUrl).get('/-/apt/deb/aptnginx/dists/stable/main/binary-amd64/Packages.gz').buffer(true);
    expect(gz.headers['content-type']).to.equal('application/gzip');
    // What is not on disk is the app's: a project without a .deb, the sources.list page.
    expect((await request(nginx.baseUrl).get('/-/apt/deb/nothing/dists/stable/InRelease')).status).to.equal(404);
    const page = await request(nginx.baseUrl).get('/-/apt/deb/aptnginx/');
    expect(page.status).to.equal(200);
    expect(page.text).to.include(`/-/apt/deb/aptnginx/ stable main`);
    // A dot segment never reaches the folder.
    const raw = await new Promise<number>((resolve, reject) => {
      http.get({ host: new URL(nginx.baseUrl).hostname, port: new URL(nginx.baseUrl).port, path: '/-/apt/deb/aptnginx/dists/../../../.builds/deb/aptnginx/1.json' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(raw).to.equal(400);
  });

  it('with the app stopped, recorded files still download with their checksum; nothing else, and never a file without it', async () => {
    // Sealed builds' files that the app has not described yet: nginx describes them itself.
    for (const build of ['undescribed', 'hung']) {
      const t = await mintWith(nginx.baseUrl, { type: 'deb', project: 'nginx', build });
      await request(nginx.baseUrl).put(`/deb/nginx/${build}/u.txt`).set('Authorization', basic(t.username, t.password)).send('sealed, never described\n');
      expect((await request(nginx.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
    }
    await new Promise((r) => setTimeout(r, 1100));
    // An app that hangs (here: stopped by a signal) holds such a download up for 10 s at most.
    process.kill(app.child.pid as number, 'SIGSTOP');
    try {
      const hung = await request(nginx.baseUrl).get('/deb/nginx/hung/u.txt').timeout(30_000);
      expect(hung.status).to.equal(200);
      expect(hung.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('sealed, never described\n').digest('hex'));
    } finally {
      process.kill(app.child.pid as number, 'SIGCONT');
    }
    await app.stop();
    const sealed = await request(nginx.baseUrl).get('/deb/nginx/undescribed/u.txt').timeout(20_000);
    expect(sealed.status).to.equal(200);
    expect(sealed.headers['x-checksum-sha256']).to.equal(createHash('sha256').update('sealed, never described\n').digest('hex'));
    expect(sealed.headers['cache-control']).to.match(/immutable/);
    // Its checksum list too, which a verifier fetches with it.
    const sums = await request(nginx.baseUrl).get('/deb/nginx/undescribed/SHA256SUMS').timeout(20_000);
    expect(sums.status).to.equal(200);
    expect(sums.text).to.include('  u.txt');
    expect(sums.headers['x-checksum-sha256']).to.equal(createHash('sha256').update(sums.text).digest('hex'));
    const recorded = await request(nginx.baseUrl).get('/deb/nginx/1/pkg_1.0_amd64.deb').timeout(20_000);
    expect(recorded.status).to.equal(200);
    expect(recorded.headers['x-checksum-sha256']).to.equal(createHash('sha256').update(Buffer.alloc(100_000, 7)).digest('hex'));
    // A file with a name nginx leaves to the app, one without a record, what is missing, pages, the service.
    await rm(path.join(root, 'artifacts', '.meta', 'deb.d', 'nginx.d', '1.d', 'once.txt.m'));
    for (const p of [`/deb/nginx/1/${encodeURIComponent('ünïcödé.txt')}`, '/deb/nginx/1/once.txt', '/deb/nginx/1/never-seen.deb', '/deb/nginx/1/', '/-/health']) {
      const res = await request(nginx.baseUrl).get(p).timeout(20_000);
      expect(res.status, p).to.equal(502);
      expect(res.headers['x-checksum-sha256'], p).to.equal(undefined);
      expect(res.text ?? '', p).to.not.include('\u0007\u0007');
    }
  });
});
