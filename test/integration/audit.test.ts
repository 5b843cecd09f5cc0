// The audit trail: the life of a build, in order, readable by masters long after its tokens
// are gone, and never a secret.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { appendFile, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import { AUDIT_FILE, AuditFile } from '../../server/storage/audit-trail.js';
import type { RepoEvent } from '../../server/domain/events.js';
import { basic, makeTempDir, MASTER_AUTH, MASTER_PASSWORD, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';

interface Entry {
  time: string;
  event: string;
  build?: string;
  [field: string]: unknown;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function trail(s: TestServer, build: string): Promise<Entry[]> {
  const res = await request(s.baseUrl).get('/-/audit').query({ build }).set('Authorization', MASTER_AUTH).set('Accept', 'application/json');
  expect(res.status, res.text).to.equal(200);
  return (res.body as { entries: Entry[] }).entries;
}

describe('audit trail', function () {
  let s: TestServer;
  let token: MintedToken;
  const build = '/dpkg/hello/42/';
  const auth = (): string => basic(token.username, token.password);

  before(async () => {
    s = await startServer();
    token = await s.mint('dpkg', 'hello', '42', 600);
    // Another build's life must not show up in this one's trail.
    const other = await s.mint('dpkg', 'hello', '43');
    await request(s.baseUrl).put('/dpkg/hello/43/other.deb').set('Authorization', basic(other.username, other.password)).send('other').expect(201);
    await request(s.baseUrl).put(`${build}hello.deb`).set('Authorization', auth()).send('package bytes').expect(201);
    await request(s.baseUrl).mkcol(`${build}docs/`).set('Authorization', auth()).expect(201);
    await request(s.baseUrl).put(`${build}docs/notes.txt`).set('Authorization', auth()).send('notes').expect(201);
    await request(s.baseUrl).copy(`${build}hello.deb`).set('Authorization', auth()).set('Destination', `${s.baseUrl}${build}copy.deb`).expect(201);
    await request(s.baseUrl).delete(`${build}copy.deb`).set('Authorization', auth()).expect(204);
    // A refused write is not a change.
    await request(s.baseUrl).put('/dpkg/hello/43/sneaky.deb').set('Authorization', auth()).send('x').expect(403);
    await request(s.baseUrl).delete(`/-/tokens/${token.id}`).set('Authorization', auth()).expect(204);
    await request(s.baseUrl).post('/-/pins').set('Authorization', MASTER_AUTH).set('Content-Type', 'application/json').send({ build }).expect(201);
  });
  after(() => s.close());

  it('holds the life of the build in order: minted, first use, each change, revoked, sealed, pinned', async () => {
    const entries = await trail(s, build);
    expect(entries.map((e) => e.event)).to.deep.equal([
      'token.minted',
      'token.first_use',
      'file.written',
      'collection.created',
      'file.written',
      'resource.copied',
      'resource.deleted',
      'token.revoked',
      'build.sealed',
      'build.pinned',
    ]);
    for (const e of entries) expect(e.build).to.equal(build);
    const times = entries.map((e) => Date.parse(e.time));
    expect(times).to.deep.equal([...times].sort((a, b) => a - b));
  });

  it('says who minted which token for how long, and who revoked it after how many uses', async () => {
    const entries = await trail(s, build);
    const minted = entries.find((e) => e.event === 'token.minted');
    expect(minted).to.include({ token: token.id, by: 'buildbot', ttl_seconds: 600, expires_at: token.expires_at });
    const revoked = entries.find((e) => e.event === 'token.revoked');
    expect(revoked).to.include({ token: token.id, by: `token:${token.id}` });
    // Five successful writes, the refused PUT (authenticated, then refused by scope) and the revoke.
    expect(revoked?.uses).to.equal(7);
    expect(Date.parse(String(revoked?.first_used_at))).to.be.at.most(Date.parse(String(revoked?.last_used_at)));
  });

  it('records each file written with its path, size, SHA-256 and token', async () => {
    const written = (await trail(s, build)).filter((e) => e.event === 'file.written');
    expect(written[0]).to.include({ path: '/dpkg/hello/42/hello.deb', size: 'package bytes'.length, sha256: sha256('package bytes'), token: token.id });
    expect(written[1]).to.include({ path: '/dpkg/hello/42/docs/notes.txt', size: 5, sha256: sha256('notes') });
    const copied = (await trail(s, build)).find((e) => e.event === 'resource.copied');
    expect(copied).to.include({ from: '/dpkg/hello/42/hello.deb', path: '/dpkg/hello/42/copy.deb' });
    const sealed = (await trail(s, build)).find((e) => e.event === 'build.sealed');
    expect(sealed).to.include({ files: 2, bytes: 'package bytes'.length + 5 });
  });

  it('never holds a secret: no token password, no master password, no hash', async () => {
    const file = await readFile(path.join(s.tokensDir, AUDIT_FILE), 'utf8');
    expect(file).to.include(token.id);
    for (const secret of [token.password, MASTER_PASSWORD, '$argon2', basic(token.username, token.password).slice(6)]) {
      expect(file).not.to.include(secret);
    }
    const store = JSON.parse(await readFile(path.join(s.tokensDir, 'tokens.json'), 'utf8')) as { masters: Record<string, { hash: string }> };
    expect(file).not.to.include(String(store.masters.buildbot?.hash));
  });

  it('lives beside the token store, readable by the service only, never in the public tree', async () => {
    expect((await stat(path.join(s.tokensDir, AUDIT_FILE))).mode & 0o777).to.equal(0o600);
    expect(path.relative(s.artifactsDir, path.join(s.tokensDir, AUDIT_FILE)).startsWith('..')).to.equal(true);
  });

  it('is for masters only: 401 without credentials or with a build token, 400 for a bad build', async () => {
    await request(s.baseUrl).get('/-/audit').query({ build }).expect(401);
    const fresh = await s.mint('dpkg', 'hello', '44');
    await request(s.baseUrl).get('/-/audit').query({ build }).set('Authorization', basic(fresh.username, fresh.password)).expect(401);
    for (const bad of ['/dpkg/hello/', 'nope', '/dpkg/hello/42/x/', '/../etc/']) {
      await request(s.baseUrl).get('/-/audit').query({ build: bad }).set('Authorization', MASTER_AUTH).expect(400);
    }
    await request(s.baseUrl).get('/-/audit').set('Authorization', MASTER_AUTH).expect(400);
  });

  it('renders as a page for browsers, linked from the build page', async () => {
    const page = await request(s.baseUrl).get('/-/audit').query({ build }).set('Authorization', MASTER_AUTH).set('Accept', 'text/html');
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.match(/^text\/html/);
    expect(page.text).to.include('token.minted').and.include('docs/notes.txt').and.include(sha256('notes'));
    const buildPage = await request(s.baseUrl).get(build).set('Accept', 'text/html');
    expect(buildPage.text).to.include('href="/-/audit?build=%2Fdpkg%2Fhello%2F42%2F"');
  });

  it('records expiry, and outlives the token itself', async () => {
    const short = await s.mint('dpkg', 'hello', '50', 60);
    await request(s.baseUrl).put('/dpkg/hello/50/a.deb').set('Authorization', basic(short.username, short.password)).send('a').expect(201);
    s.clock.offsetMs = 61_000;
    try {
      await s.app.tokens.purge();
      // Tombstones are forgotten after a week: the token leaves the store, not the trail.
      s.clock.offsetMs = 9 * 24 * 3600 * 1000;
      await s.app.tokens.purge();
      const store = JSON.parse(await readFile(path.join(s.tokensDir, 'tokens.json'), 'utf8')) as { tokens: Record<string, unknown> };
      expect(store.tokens).not.to.have.property(short.id);
      const events = (await trail(s, '/dpkg/hello/50/')).map((e) => e.event);
      expect(events).to.deep.equal(['token.minted', 'token.first_use', 'file.written', 'token.expired', 'build.sealed']);
    } finally {
      s.clock.offsetMs = 0;
    }
  });

  it('pages: offset and limit pick entries in order, with the total and links to the pages around', async () => {
    const all = await trail(s, build);
    const res = await request(s.baseUrl).get('/-/audit').query({ build, offset: '2', limit: '3' }).set('Authorization', MASTER_AUTH).set('Accept', 'application/json');
    const view = res.body as { entries: Entry[]; total: number; offset: number; previousHref: string | null; nextHref: string | null };
    expect(view.entries).to.deep.equal(all.slice(2, 5));
    expect(view.total).to.equal(all.length);
    expect(view.previousHref).to.equal(`/-/audit?build=${encodeURIComponent(build)}&offset=0&limit=3`);
    expect(view.nextHref).to.equal(`/-/audit?build=${encodeURIComponent(build)}&offset=5&limit=3`);
    for (const bad of [{ limit: '0' }, { limit: '10001' }, { limit: 'x' }, { offset: '-1' }]) {
      await request(s.baseUrl).get('/-/audit').query({ build, ...bad }).set('Authorization', MASTER_AUTH).expect(400);
    }
  });

  it('a trail of 200 000 entries is served one bounded page at a time', async () => {
    const flood = '/dpkg/flood/1/';
    const line = (i: number): string => JSON.stringify({ time: new Date(i).toISOString(), event: 'properties.changed', build: flood, path: `${flood}f${i}`, token: 'x' }) + '\n';
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(line(i));
    await appendFile(path.join(s.tokensDir, AUDIT_FILE), lines.join(''));
    const res = await request(s.baseUrl).get('/-/audit').query({ build: flood }).set('Authorization', MASTER_AUTH).set('Accept', 'application/json');
    const view = res.body as { entries: Entry[]; total: number };
    expect(view.total).to.equal(200_000);
    expect(view.entries).to.have.length(1000);
    expect(view.entries[999]?.path).to.equal(`${flood}f999`);
    const last = await request(s.baseUrl).get('/-/audit').query({ build: flood, offset: '199999' }).set('Authorization', MASTER_AUTH).set('Accept', 'text/html');
    expect(last.text).to.include('entries 200000–200000 of 200000').and.include(`${flood}f199999`);
  });
});

describe('audit trail file', function () {
  const event = (n: number): RepoEvent => ({ event: 'resource.deleted', build: '/t/p/1/', path: `/t/p/1/f${n}`, token: 't1' });
  const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path);

  it('moved away (rotated), is written anew at its path within a second; deleted, at the next line', async () => {
    const dir = await makeTempDir('audit-file-');
    try {
      const trail = new AuditFile(dir);
      trail.record(event(1));
      await rename(path.join(dir, AUDIT_FILE), path.join(dir, 'audit.1'));
      await new Promise((r) => setTimeout(r, 1100));
      trail.record(event(2));
      // Deleted: the next line already goes to a new file, without waiting.
      await rm(path.join(dir, AUDIT_FILE));
      trail.record(event(3));
      expect(await lines(path.join(dir, 'audit.1'))).to.deep.equal(['/t/p/1/f1']);
      expect(await lines(path.join(dir, AUDIT_FILE))).to.deep.equal(['/t/p/1/f3']);
      expect((await stat(path.join(dir, AUDIT_FILE))).mode & 0o777).to.equal(0o600);
      trail.close();
      // A line from work that outlived the server is still kept.
      trail.record(event(4));
      expect(await lines(path.join(dir, AUDIT_FILE))).to.deep.equal(['/t/p/1/f3', '/t/p/1/f4']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
