// DATABASE_URL with a real PostgreSQL (Debian's, started by the test): servers sharing
// one database and one artifacts volume are one repository; with the database gone,
// downloads still work and writes and mints get a clear 503; when it is back, service
// resumes without a restart.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { basic, MASTER_AUTH, startServer, until, type TestServer } from '../helpers/harness.js';
import { freshDatabase, requirePostgres, type Postgres } from '../helpers/postgres.js';

describe('DATABASE_URL: state in PostgreSQL', function () {
  this.timeout(120_000);
  let pg: Postgres;
  let s: TestServer;
  let url: string;

  before(async function () {
    pg = await requirePostgres(this);
    url = await freshDatabase(pg);
    s = await startServer({ DATABASE_URL: url });
  });

  after(async () => {
    await s?.close();
    await pg?.remove();
  });

  it('a second server on the same database and artifacts is the same repository: a token minted on one, revoked on the other', async () => {
    // The artifacts shared; TOKENS_DIR (the admin socket) is each replica's own.
    const other = await startServer({ DATABASE_URL: url, ARTIFACTS_DIR: s.artifactsDir });
    try {
      const t = await s.mint('dpkg', 'db', 'two');
      const auth = basic(t.username, t.password);
      expect((await fetch(`${other.baseUrl}/dpkg/db/two/a.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'a\n' })).status).to.equal(201);
      expect(await (await fetch(`${s.baseUrl}/dpkg/db/two/a.txt`)).text()).to.equal('a\n');
      expect((await fetch(`${other.baseUrl}/-/tokens/${t.id}`, { method: 'DELETE', headers: { Authorization: MASTER_AUTH } })).status).to.equal(204);
      expect((await fetch(`${s.baseUrl}/dpkg/db/two/b.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'b\n' })).status).to.equal(401);
      // Sealed once, seen sealed through both.
      for (const base of [s.baseUrl, other.baseUrl]) expect(await (await fetch(`${base}/dpkg/db/two/SHA256SUMS`)).text()).to.equal(`${createHash('sha256').update('a\n').digest('hex')}  a.txt\n`);
    } finally {
      await other.close();
    }
  });

  it('keeps tokens, the audit trail and inputs in the database, not in files', async () => {
    const t = await s.mint('dpkg', 'db', '1');
    expect((await fetch(`${s.baseUrl}/dpkg/db/1/a.txt`, { method: 'PUT', headers: { Authorization: basic(t.username, t.password) }, body: 'a\n' })).status).to.equal(201);
    const { existsSync } = await import('node:fs');
    const path = await import('node:path');
    expect(existsSync(path.join(s.tokensDir, 'tokens.json'))).to.equal(false);
    expect(existsSync(path.join(s.tokensDir, 'audit.jsonl'))).to.equal(false);
    // The audit line follows the change it records (written after the answer, never before).
    const entries = await until('the audit line of the write', async () => {
      const audit = await fetch(`${s.baseUrl}/-/audit?build=/dpkg/db/1/`, { headers: { Authorization: MASTER_AUTH, Accept: 'application/json' } });
      const events = ((await audit.json()) as { entries: { event: string }[] }).entries.map((e) => e.event);
      return events.includes('file.written') && events;
    });
    expect(entries).to.include.members(['token.minted', 'file.written']);
  });

  it("a path longer than the database's index takes is refused with 414 before anything changes; one just shorter works to the end", async () => {
    const t = await s.mint('dpkg', 'db', 'long');
    const auth = basic(t.username, t.password);
    let dir = '/dpkg/db/long';
    let refused: Response | null = null;
    for (let i = 0; i < 40 && !refused; i++) {
      const next = `${dir}/${String(i).padStart(200, 'd')}`;
      const mk = await fetch(`${s.baseUrl}${next}/`, { method: 'MKCOL', headers: { Authorization: auth } });
      if (mk.status === 201) dir = next;
      else refused = mk;
    }
    expect(refused?.status).to.equal(414);
    expect(await refused?.text()).to.include("too long for this repository's database");
    // The deepest accepted folder holds a file that can be written, moved and deleted (set aside) like any other.
    const put = await fetch(`${s.baseUrl}${dir}/f.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'deep\n' });
    expect(put.status).to.equal(201);
    const moved = await fetch(`${s.baseUrl}${dir}/f.txt`, { method: 'MOVE', headers: { Authorization: auth, Destination: `${dir}/g.txt` } });
    expect(moved.status).to.equal(201);
    expect((await fetch(`${s.baseUrl}${dir}/g.txt`)).headers.get('x-checksum-sha256')).to.equal(createHash('sha256').update('deep\n').digest('hex'));
    expect((await fetch(`${s.baseUrl}${dir}/g.txt`, { method: 'DELETE', headers: { Authorization: auth } })).status).to.equal(204);
    expect((await fetch(`${s.baseUrl}/dpkg/db/long/${String(0).padStart(200, 'd')}/`, { method: 'DELETE', headers: { Authorization: auth } })).status).to.equal(204);
  });

  it('with the database gone: downloads work, mints and writes get 503 and change nothing; back, it serves on', async () => {
    const t = await s.mint('dpkg', 'db', '2');
    const auth = basic(t.username, t.password);
    expect((await fetch(`${s.baseUrl}/dpkg/db/2/kept.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'kept\n' })).status).to.equal(201);
    await pg.stop();
    try {
      const got = await fetch(`${s.baseUrl}/dpkg/db/2/kept.txt`);
      expect(got.status).to.equal(200);
      expect(got.headers.get('x-checksum-sha256')).to.equal(createHash('sha256').update('kept\n').digest('hex'));
      expect(await got.text()).to.equal('kept\n');
      const mint = await fetch(`${s.baseUrl}/-/tokens`, { method: 'POST', headers: { Authorization: MASTER_AUTH, 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'dpkg', project: 'db', build: '3' }) });
      expect(mint.status).to.equal(503);
      expect(mint.headers.get('retry-after')).to.equal('5');
      expect(await mint.json()).to.deep.equal({ error: 'the database is unreachable; try again shortly' });
      const put = await fetch(`${s.baseUrl}/dpkg/db/2/late.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'late\n' });
      expect(put.status).to.equal(503);
      expect((await fetch(`${s.baseUrl}/dpkg/db/2/late.txt`)).status).to.equal(404);
    } finally {
      await pg.start();
    }
    const again = await fetch(`${s.baseUrl}/dpkg/db/2/late.txt`, { method: 'PUT', headers: { Authorization: auth }, body: 'late\n' });
    expect(again.status).to.equal(201);
    expect((await s.mint('dpkg', 'db', '3')).scope).to.equal('/dpkg/db/3/');
  });
});
