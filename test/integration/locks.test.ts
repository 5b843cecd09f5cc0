// Locks are bound to their token, bounded in number and size, and never granted twice.
import { expect } from 'chai';
import request from 'supertest';
import { basic, MASTER_AUTH, startServer, type MintedToken, type TestServer } from '../helpers/harness.js';

const lockBody = (scope: 'exclusive' | 'shared', owner = 'ci'): string =>
  `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;

describe('locks', function () {
  let s: TestServer;
  let a: MintedToken;
  let b: MintedToken;
  before(async () => {
    s = await startServer();
    a = await s.mint('dpkg', 'locks', '1');
    b = await s.mint('dpkg', 'locks', '1');
  });
  after(() => s.close());
  const as = (t: MintedToken): string => basic(t.username, t.password);

  it("another token's lock token does not open a locked file (423)", async () => {
    const lock = await request(s.baseUrl).lock('/dpkg/locks/1/shared-build.txt').set('Authorization', as(a)).send(lockBody('exclusive'));
    expect(lock.status).to.equal(201);
    const token = lock.headers['lock-token'] as string;
    const put = await request(s.baseUrl).put('/dpkg/locks/1/shared-build.txt').set('Authorization', as(b)).set('If', `(${token})`).send('b');
    expect(put.status).to.equal(423);
    expect(put.text).to.include('lock-token-submitted');
    expect((await request(s.baseUrl).unlock('/dpkg/locks/1/shared-build.txt').set('Authorization', as(b)).set('Lock-Token', token)).status).to.equal(403);
  });

  it('a lock dies with its token: once revoked, the other token may write', async () => {
    const c = await s.mint('dpkg', 'locks', '2');
    const d = await s.mint('dpkg', 'locks', '2');
    const lock = await request(s.baseUrl).lock('/dpkg/locks/2/').set('Authorization', as(c)).set('Depth', 'infinity').send(lockBody('exclusive'));
    expect(lock.status).to.equal(200);
    expect((await request(s.baseUrl).put('/dpkg/locks/2/f').set('Authorization', as(d)).send('x')).status).to.equal(423);
    expect((await request(s.baseUrl).delete(`/-/tokens/${c.id}`).set('Authorization', MASTER_AUTH)).status).to.equal(204);
    expect((await request(s.baseUrl).put('/dpkg/locks/2/f').set('Authorization', as(d)).send('x')).status).to.equal(201);
  });

  it('two concurrent exclusive LOCKs of a new file: exactly one is granted', async () => {
    for (let round = 0; round < 10; round++) {
      const url = `/dpkg/locks/1/race-${round}`;
      const answers = await Promise.all([a, b].map((t) => request(s.baseUrl).lock(url).set('Authorization', as(t)).send(lockBody('exclusive'))));
      const granted = answers.filter((r) => r.status === 200 || r.status === 201);
      expect(granted, `round ${round}: ${answers.map((r) => r.status).join(',')}`).to.have.length(1);
    }
  });

  it('an owner element over 4 KiB is refused, and a token holds at most 32 locks', async () => {
    const big = await request(s.baseUrl).lock('/dpkg/locks/1/big-owner').set('Authorization', as(a)).send(lockBody('shared', 'x'.repeat(5000)));
    expect(big.status).to.equal(400);
    const e = await s.mint('dpkg', 'locks', '3');
    const statuses: number[] = [];
    for (let i = 0; i < 33; i++) {
      statuses.push((await request(s.baseUrl).lock(`/dpkg/locks/3/f${i}`).set('Authorization', as(e)).send(lockBody('shared'))).status);
    }
    expect(statuses.slice(0, 32).every((st) => st === 201)).to.equal(true);
    expect(statuses[32]).to.equal(403);
  });
});
