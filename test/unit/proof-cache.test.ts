import { expect } from 'chai';
import { ProofCache } from '../../token-service/proof-cache.js';

/** A verification the test settles by hand, counting how often it was started. */
function deferredVerifier() {
  let resolve!: (ok: boolean) => void;
  let reject!: (err: Error) => void;
  let runs = 0;
  const verify = (): Promise<boolean> => {
    runs += 1;
    return new Promise<boolean>((res, rej) => {
      resolve = res;
      reject = rej;
    });
  };
  return {
    verify,
    get runs() {
      return runs;
    },
    resolve: (ok: boolean) => resolve(ok),
    reject: (err: Error) => reject(err),
  };
}

describe('token-service/proof-cache', () => {
  describe('proofKey', () => {
    it('is stable for the same credentials in one process', () => {
      const cache = new ProofCache();
      expect(cache.proofKey('tok_1', 'secret-a')).to.equal(cache.proofKey('tok_1', 'secret-a'));
    });

    it('differs per password', () => {
      const cache = new ProofCache();
      expect(cache.proofKey('tok_1', 'secret-a')).to.not.equal(cache.proofKey('tok_1', 'secret-b'));
      expect(cache.proofKey('tok_1', 'secret-a')).to.not.equal(cache.proofKey('tok_1', ''));
    });

    it('differs per user name', () => {
      const cache = new ProofCache();
      expect(cache.proofKey('tok_1', 'secret-a')).to.not.equal(cache.proofKey('tok_2', 'secret-a'));
    });

    it('does not confuse where the user name ends and the password begins', () => {
      const cache = new ProofCache();
      expect(cache.proofKey('ab', 'c')).to.not.equal(cache.proofKey('a', 'bc'));
    });

    it('differs between two cache instances (the key lives only in one process)', () => {
      expect(new ProofCache().proofKey('tok_1', 'secret-a')).to.not.equal(new ProofCache().proofKey('tok_1', 'secret-a'));
    });

    it('contains neither the password nor the user name', () => {
      const cache = new ProofCache();
      const password = 'correct-horse-battery-staple';
      const key = cache.proofKey('buildbot', password);
      expect(key).to.not.include(password);
      expect(key).to.not.include('buildbot');
      expect(key).to.not.include(Buffer.from(password).toString('base64'));
    });
  });

  describe('remember / owner / forget', () => {
    it('knows the owner of a remembered proof and nothing of others', () => {
      const cache = new ProofCache();
      const key = cache.proofKey('tok_1', 'secret');
      expect(cache.owner(key)).to.equal(undefined);
      cache.remember(key, 'tok_1');
      expect(cache.owner(key)).to.equal('tok_1');
      expect(cache.owner(cache.proofKey('tok_1', 'wrong'))).to.equal(undefined);
    });

    it('forget(owner) drops every proof of that owner and no other', () => {
      const cache = new ProofCache();
      const a1 = cache.proofKey('buildbot', 'old-password-1');
      const a2 = cache.proofKey('buildbot', 'new-password-2');
      const b = cache.proofKey('tok_9', 'secret');
      cache.remember(a1, 'master:buildbot');
      cache.remember(a2, 'master:buildbot');
      cache.remember(b, 'tok_9');
      cache.forget('master:buildbot');
      expect(cache.owner(a1)).to.equal(undefined);
      expect(cache.owner(a2)).to.equal(undefined);
      expect(cache.owner(b)).to.equal('tok_9');
      expect(cache.size).to.equal(1);
    });

    it('forget of an unknown owner changes nothing', () => {
      const cache = new ProofCache();
      const key = cache.proofKey('tok_1', 'secret');
      cache.remember(key, 'tok_1');
      cache.forget('tok_2');
      expect(cache.owner(key)).to.equal('tok_1');
    });

    it('a proof remembered again after forget is known again', () => {
      const cache = new ProofCache();
      const key = cache.proofKey('tok_1', 'secret');
      cache.remember(key, 'tok_1');
      cache.forget('tok_1');
      cache.remember(key, 'tok_1');
      expect(cache.owner(key)).to.equal('tok_1');
    });
  });

  describe('eviction', () => {
    it('never holds more proofs than its bound, evicting the oldest first', () => {
      const cache = new ProofCache(3);
      const keys = [1, 2, 3, 4, 5].map((i) => cache.proofKey(`tok_${i}`, 'secret'));
      keys.forEach((key, i) => cache.remember(key, `tok_${i + 1}`));
      expect(cache.size).to.equal(3);
      expect(cache.owner(keys[0]!)).to.equal(undefined);
      expect(cache.owner(keys[1]!)).to.equal(undefined);
      expect(cache.owner(keys[2]!)).to.equal('tok_3');
      expect(cache.owner(keys[4]!)).to.equal('tok_5');
    });

    it('forgetting an owner after one of its proofs was evicted drops the rest and keeps other owners', () => {
      const cache = new ProofCache(2);
      const a1 = cache.proofKey('tok_a', 'one');
      const a2 = cache.proofKey('tok_a', 'two');
      const b = cache.proofKey('tok_b', 'x');
      cache.remember(a1, 'tok_a');
      cache.remember(a2, 'tok_a');
      cache.remember(b, 'tok_b'); // evicts a1
      expect(cache.owner(a1)).to.equal(undefined);
      cache.forget('tok_a');
      expect(cache.owner(a2)).to.equal(undefined);
      expect(cache.owner(b)).to.equal('tok_b');
      expect(cache.size).to.equal(1);
    });

    it('remembering a proof it already holds evicts no other proof', () => {
      // Eight connections that shared one verification each remember the same proof.
      const cache = new ProofCache(3);
      const keys = [1, 2, 3].map((i) => cache.proofKey(`tok_${i}`, 'secret'));
      keys.forEach((key, i) => cache.remember(key, `tok_${i + 1}`));
      cache.remember(keys[2]!, 'tok_3');
      cache.remember(keys[2]!, 'tok_3');
      expect(cache.size).to.equal(3);
      expect(cache.owner(keys[0]!)).to.equal('tok_1');
      expect(cache.owner(keys[1]!)).to.equal('tok_2');
      expect(cache.owner(keys[2]!)).to.equal('tok_3');
    });

    it('stays bounded under many distinct credentials', () => {
      const cache = new ProofCache(100);
      for (let i = 0; i < 2000; i++) cache.remember(cache.proofKey(`tok_${i}`, 's'), `tok_${i}`);
      expect(cache.size).to.equal(100);
      expect(cache.owner(cache.proofKey('tok_1999', 's'))).to.equal('tok_1999');
      expect(cache.owner(cache.proofKey('tok_0', 's'))).to.equal(undefined);
    });
  });

  describe('verifyOnce', () => {
    it('shares one in-flight verification between concurrent callers', async () => {
      const cache = new ProofCache();
      const v = deferredVerifier();
      const key = cache.proofKey('tok_1', 'secret');
      const calls = Array.from({ length: 8 }, () => cache.verifyOnce(key, v.verify));
      expect(v.runs).to.equal(1);
      v.resolve(true);
      expect(await Promise.all(calls)).to.deep.equal(Array(8).fill(true));
      expect(v.runs).to.equal(1);
    });

    it('shares a failed verification too', async () => {
      const cache = new ProofCache();
      const v = deferredVerifier();
      const key = cache.proofKey('tok_1', 'wrong');
      const first = cache.verifyOnce(key, v.verify);
      const second = cache.verifyOnce(key, v.verify);
      v.resolve(false);
      expect(await first).to.equal(false);
      expect(await second).to.equal(false);
      expect(v.runs).to.equal(1);
    });

    it('runs separate verifications for different credentials', async () => {
      const cache = new ProofCache();
      const a = deferredVerifier();
      const b = deferredVerifier();
      const pa = cache.verifyOnce(cache.proofKey('tok_1', 'a'), a.verify);
      const pb = cache.verifyOnce(cache.proofKey('tok_1', 'b'), b.verify);
      expect(a.runs).to.equal(1);
      expect(b.runs).to.equal(1);
      a.resolve(true);
      b.resolve(false);
      expect(await pa).to.equal(true);
      expect(await pb).to.equal(false);
    });

    it('verifies afresh once the earlier verification has finished', async () => {
      const cache = new ProofCache();
      const v = deferredVerifier();
      const key = cache.proofKey('tok_1', 'secret');
      const first = cache.verifyOnce(key, v.verify);
      v.resolve(false);
      await first;
      const second = cache.verifyOnce(key, v.verify);
      expect(v.runs).to.equal(2);
      v.resolve(true);
      expect(await second).to.equal(true);
    });

    it('passes a thrown error to every waiting caller and does not keep it', async () => {
      const cache = new ProofCache();
      const v = deferredVerifier();
      const key = cache.proofKey('tok_1', 'secret');
      const first = cache.verifyOnce(key, v.verify);
      const second = cache.verifyOnce(key, v.verify);
      v.reject(new Error('argon2 failed'));
      const outcomes = await Promise.allSettled([first, second]);
      expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'rejected']);
      const third = cache.verifyOnce(key, v.verify);
      expect(v.runs).to.equal(2);
      v.resolve(true);
      expect(await third).to.equal(true);
    });

    it('does not by itself remember a proof', async () => {
      const cache = new ProofCache();
      const key = cache.proofKey('tok_1', 'secret');
      expect(await cache.verifyOnce(key, async () => true)).to.equal(true);
      expect(cache.owner(key)).to.equal(undefined);
      expect(cache.size).to.equal(0);
    });
  });
});
