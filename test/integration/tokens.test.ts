// Token lifecycle: the verification cache never outlives revocation or expiry, the store
// survives concurrency, and master guessing is throttled.
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import request from 'supertest';
import { basic, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';

async function put(s: TestServer, t: MintedToken, name: string): Promise<number> {
  const res = await request(s.baseUrl).put(`${t.scope}${name}`).set('Authorization', basic(t.username, t.password)).send(name);
  return res.status;
}

describe('token lifecycle', function () {
  let s: TestServer;
  before(async () => {
    s = await startServer({ MASTER_FAILURE_LIMIT: '5', MASTER_LOCKOUT: '60' });
  });
  after(() => s.close());

  it('revocation applies at the very next request although the credential is cached', async () => {
    const t = await s.mint('dpkg', 'cache', '1');
    expect(await put(s, t, 'a')).to.equal(201);
    expect(await put(s, t, 'b')).to.equal(201);
    expect(s.app.tokens.cachedProofs).to.be.greaterThan(0);
    const revoked = await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH);
    expect(revoked.status).to.equal(204);
    expect(await put(s, t, 'c')).to.equal(401);
  });

  it('expiry applies at the instant it is due, by the server clock (no sleeping)', async () => {
    const t = await s.mint('dpkg', 'expiry', '1', 60);
    expect(await put(s, t, 'before')).to.equal(201);
    s.clock.offsetMs = 59_000;
    expect(await put(s, t, 'still')).to.equal(201);
    s.clock.offsetMs = 61_000;
    try {
      expect(await put(s, t, 'after')).to.equal(401);
      const list = await request(s.baseUrl).get('/-/tokens').set('Authorization', MASTER_AUTH);
      expect((list.body as { id: string }[]).map((x) => x.id)).to.not.include(t.id);
      // Master revoking an expired token: 204; the token's own credentials: 401.
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', basic(t.username, t.password))).status).to.equal(401);
      expect((await request(s.baseUrl).delete(`/-/tokens/${t.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
    } finally {
      s.clock.offsetMs = 0;
    }
  });

  it('purge drops the hashes of expired tokens from the store file', async () => {
    const t = await s.mint('dpkg', 'purge', '1', 30);
    s.clock.offsetMs = 31_000;
    try {
      const { expired } = await s.app.tokens.purge();
      expect(expired).to.be.greaterThan(0);
    } finally {
      s.clock.offsetMs = 0;
    }
    const stored = JSON.parse(await readFile(path.join(s.tokensDir, 'tokens.json'), 'utf8'));
    expect(stored.tokens[t.id].hash).to.equal(null);
    expect(await put(s, t, 'x')).to.equal(401);
  });

  it('200 concurrent mints give 200 distinct working tokens and a valid store file', async function () {
    this.timeout(60_000);
    const minted = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        request(s.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).send({ type: 'dpkg', project: 'many', build: String(i) }),
      ),
    );
    expect(minted.map((r) => r.status)).to.deep.equal(Array(200).fill(201));
    const tokens = minted.map((r) => r.body as MintedToken);
    expect(new Set(tokens.map((t) => t.id)).size).to.equal(200);
    expect(new Set(tokens.map((t) => t.password)).size).to.equal(200);
    const stored = JSON.parse(await readFile(path.join(s.tokensDir, 'tokens.json'), 'utf8'));
    for (const t of tokens) expect(stored.tokens[t.id]?.scope).to.equal(t.scope);
    // Every one opens its own build, 8 at a time.
    for (let i = 0; i < tokens.length; i += 8) {
      const statuses = await Promise.all(tokens.slice(i, i + 8).map((t) => put(s, t, 'ok.txt')));
      expect(statuses).to.deep.equal(Array(statuses.length).fill(201));
    }
  });

  it('a master minting 16 tokens in parallel on a cold server is never throttled', async () => {
    const cold = await startServer({ MASTER_FAILURE_LIMIT: '5' });
    try {
      const answers = await Promise.all(
        Array.from({ length: 16 }, (_, i) => request(cold.baseUrl).post('/-/tokens').set('Authorization', MASTER_AUTH).send({ type: 'dpkg', project: 'cold', build: String(i) })),
      );
      expect(answers.map((r) => r.status)).to.deep.equal(Array(16).fill(201));
    } finally {
      await cold.close();
    }
  });

  it('master guessing is throttled per address with 429 and Retry-After; the master who knows the password is never delayed', async () => {
    const wrong = basic('buildbot', 'not-the-password');
    for (let i = 0; i < 5; i++) {
      expect((await request(s.baseUrl).get('/-/tokens').set('Authorization', wrong)).status).to.equal(401);
    }
    const throttled = await request(s.baseUrl).get('/-/tokens').set('Authorization', wrong);
    expect(throttled.status).to.equal(429);
    expect(Number(throttled.headers['retry-after'])).to.be.within(1, 60);
    // The right password, already proven (the mints above), goes through from this address.
    expect((await request(s.baseUrl).get('/-/tokens').set('Authorization', MASTER_AUTH)).status).to.equal(200);
    // Guesses go on being refused until the lockout is over.
    expect((await request(s.baseUrl).get('/-/tokens').set('Authorization', wrong)).status).to.equal(429);
    s.clock.offsetMs = 61_000;
    try {
      expect((await request(s.baseUrl).get('/-/tokens').set('Authorization', wrong)).status).to.equal(401);
    } finally {
      s.clock.offsetMs = 0;
    }
  });

  it('a second reader of the store file sees every minted token', async function () {
    const t = await s.mint('dpkg', 'reload', '1');
    expect(await put(s, t, 'kept.txt')).to.equal(201);
    const { TokenFile } = await import('../../server/storage/token-records.js');
    const reopened = await TokenFile.open(s.tokensDir);
    expect(reopened.data.tokens[t.id]?.scope).to.equal('/dpkg/reload/1/');
  });
});

describe('proof cache', function () {
  for (const cacheProofs of [true, false]) {
    it(`${cacheProofs ? 'with' : 'without'} the cache, 8 connections x 10 PUTs cost ${cacheProofs ? 'one argon2 verification' : 'one verification each'}`, async () => {
      const s = await startServer({}, { cacheProofs });
      try {
        const t = await s.mint('dpkg', 'once', '1');
        const auth = basic(t.username, t.password);
        const before = s.app.tokens.passwordVerifications;
        await Promise.all(
          Array.from({ length: 8 }, async (_, c) => {
            for (let i = 0; i < 10; i++) {
              const res = await request(s.baseUrl).put(`/dpkg/once/1/c${c}-${i}`).set('Authorization', auth).send('x');
              expect(res.status).to.equal(201);
            }
          }),
        );
        const used = s.app.tokens.passwordVerifications - before;
        expect(used).to.equal(cacheProofs ? 1 : 80);
      } finally {
        await s.close();
      }
    });
  }
});
