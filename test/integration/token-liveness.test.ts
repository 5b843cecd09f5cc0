// Whether a token is live is asked of the store at every request (issue 26, finding 10):
// two token services over one store, as two replicas share one database, one of which has
// the credential's proof cached. When the other revokes it, or when it expires, the proof
// and the hash are no help: only that check stands between the token and the next
// request. (Real replicas on PostgreSQL: test/integration/replicas.test.ts.)
import { expect } from 'chai';
import { rm } from 'node:fs/promises';
import { makeTempDir } from '../helpers/harness.js';
import { TokenFile } from '../../server/storage/token-records.js';
import { TokenService } from '../../token-service/token-service.js';

describe('token liveness, asked at every request', () => {
  let dir: string;
  const clock = { now: Date.UTC(2026, 11, 6, 12, 0, 0) };

  before(async () => {
    dir = await makeTempDir('liveness-');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a token revoked through another service is refused here at once, its proof cached here notwithstanding', async () => {
    const store = await TokenFile.open(dir);
    const here = new TokenService(store, { now: () => clock.now });
    const there = new TokenService(store, { now: () => clock.now });
    const minted = await here.mint('/dpkg/live/1/', 3600, 'buildbot');
    expect((await here.authenticateToken(minted.username, minted.password, '127.0.0.1')).ok).to.equal(true);
    expect(here.cachedProofs).to.equal(1);
    expect(await there.revoke(minted.id, 'master:buildbot')).to.equal('revoked');
    // The proof is still cached here: the store's answer is what refuses it.
    expect(here.cachedProofs).to.equal(1);
    expect(await here.authenticateToken(minted.username, minted.password, '127.0.0.1')).to.deep.include({ ok: false, reason: 'bad-credentials' });
    expect(await here.liveToken(minted.id)).to.equal(null);
  });

  it('a token past its expiry is refused at once, before any purge drops its hash', async () => {
    const store = await TokenFile.open(dir);
    const service = new TokenService(store, { now: () => clock.now });
    const minted = await service.mint('/dpkg/live/2/', 60, 'buildbot');
    expect((await service.authenticateToken(minted.username, minted.password, '127.0.0.1')).ok).to.equal(true);
    clock.now += 61_000;
    try {
      expect(await service.authenticateToken(minted.username, minted.password, '127.0.0.1')).to.deep.include({ ok: false });
      expect(await service.liveToken(minted.id)).to.equal(null);
    } finally {
      clock.now -= 61_000;
    }
  });
});
