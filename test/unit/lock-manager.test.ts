import { expect } from 'chai';
import { DEFAULT_LOCK_SECONDS, LockManager, MAX_LOCK_SECONDS, lockTimeout } from '../../server/services/lock-manager.js';
import { MemoryLocks } from '../../server/storage/dav-locks.js';
import { type Lock, type LockDepth, type LockScope } from '../../server/domain/stores.js';

const seg = (p: string): string[] => p.split('/').filter(Boolean);

function setup() {
  const clock = { now: 1_700_000_000_000 };
  const locks = new LockManager(new MemoryLocks(), () => clock.now);
  const take = (root: string, depth: LockDepth = 'infinity', scope: LockScope = 'exclusive', timeoutSeconds = 600): Promise<Lock> =>
    locks.create({
      root: seg(root),
      rootIsCollection: root.endsWith('/'),
      depth,
      scope,
      ownerXml: null,
      principal: 'tok_1',
      timeoutSeconds,
    });
  return { clock, locks, take };
}

const tokens = (list: Lock[]): string[] => list.map((l) => l.token).sort();

describe('services/lock-manager', () => {
  describe('create and get', () => {
    it('hands out distinct urn:uuid lock tokens', async () => {
      const { take } = setup();
      const a = await take('/t/p/1/a');
      const b = await take('/t/p/1/b');
      expect(a.token).to.match(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(a.token).to.not.equal(b.token);
    });

    it('finds a lock by its token, and nothing for an unknown token', async () => {
      const { locks, take } = setup();
      const lock = await take('/t/p/1/a');
      expect(await locks.get(lock.token)).to.equal(lock);
      expect(await locks.get('urn:uuid:00000000-0000-0000-0000-000000000000')).to.equal(undefined);
    });

    it('sets the expiry from the timeout', async () => {
      const { clock, take } = setup();
      const lock = await take('/t/p/1/a', 'infinity', 'exclusive', 120);
      expect(lock.expiresAt).to.equal(clock.now + 120_000);
    });
  });

  describe('covering', () => {
    it('a depth-0 lock covers its own resource only', async () => {
      const { locks, take } = setup();
      const lock = await take('/t/p/1/dir/', '0');
      expect(tokens(await locks.covering(seg('/t/p/1/dir')))).to.deep.equal([lock.token]);
      expect(await locks.covering(seg('/t/p/1/dir/file'))).to.deep.equal([]);
      expect(await locks.covering(seg('/t/p/1'))).to.deep.equal([]);
    });

    it('a depth-infinity lock covers its resource and everything below', async () => {
      const { locks, take } = setup();
      const lock = await take('/t/p/1/dir/', 'infinity');
      expect(tokens(await locks.covering(seg('/t/p/1/dir')))).to.deep.equal([lock.token]);
      expect(tokens(await locks.covering(seg('/t/p/1/dir/file')))).to.deep.equal([lock.token]);
      expect(tokens(await locks.covering(seg('/t/p/1/dir/a/b/c')))).to.deep.equal([lock.token]);
    });

    it('a depth-infinity lock does not cover its parent, a sibling or a name that only starts the same', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/dir/', 'infinity');
      expect(await locks.covering(seg('/t/p/1'))).to.deep.equal([]);
      expect(await locks.covering(seg('/t/p/1/other'))).to.deep.equal([]);
      expect(await locks.covering(seg('/t/p/1/dir2/x'))).to.deep.equal([]);
    });

    it('lists every lock that applies, from the resource and its ancestors', async () => {
      const { locks, take } = setup();
      const top = await take('/t/p/1/', 'infinity', 'shared');
      const mid = await take('/t/p/1/a/', 'infinity', 'shared');
      const own = await take('/t/p/1/a/f', '0', 'shared');
      await take('/t/p/1/a/g', '0', 'shared');
      expect(tokens(await locks.covering(seg('/t/p/1/a/f')))).to.deep.equal(tokens([top, mid, own]));
    });
  });

  describe('within', () => {
    it('lists locks rooted on the resource or anywhere below it, whatever their depth', async () => {
      const { locks, take } = setup();
      const self = await take('/t/p/1/a/', '0');
      const child = await take('/t/p/1/a/f', '0');
      const deep = await take('/t/p/1/a/b/c/', 'infinity');
      await take('/t/p/1/ab', '0');
      await take('/t/p/1/', '0');
      expect(tokens(await locks.within(seg('/t/p/1/a')))).to.deep.equal(tokens([self, child, deep]));
    });

    it('does not list a depth-infinity lock on an ancestor', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/', 'infinity');
      expect(await locks.within(seg('/t/p/1/a'))).to.deep.equal([]);
    });
  });

  describe('conflicts', () => {
    it('an exclusive lock conflicts with any lock on the same resource', async () => {
      const { locks, take } = setup();
      const shared = await take('/t/p/1/f', '0', 'shared');
      expect(tokens((await locks.view(seg('/t/p/1/f'))).conflicts(seg('/t/p/1/f'), 'exclusive', '0'))).to.deep.equal([shared.token]);
    });

    it('shared locks do not conflict with shared locks', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/f', '0', 'shared');
      await take('/t/p/1/', 'infinity', 'shared');
      expect((await locks.view(seg('/t/p/1/f'))).conflicts(seg('/t/p/1/f'), 'shared', '0')).to.deep.equal([]);
      expect((await locks.view(seg('/t/p/1/'))).conflicts(seg('/t/p/1/'), 'shared', 'infinity')).to.deep.equal([]);
    });

    it('a shared lock conflicts with an exclusive one', async () => {
      const { locks, take } = setup();
      const exclusive = await take('/t/p/1/f', '0', 'exclusive');
      expect(tokens((await locks.view(seg('/t/p/1/f'))).conflicts(seg('/t/p/1/f'), 'shared', '0'))).to.deep.equal([exclusive.token]);
    });

    it('an exclusive depth-infinity lock on an ancestor conflicts with a new lock below it', async () => {
      const { locks, take } = setup();
      const top = await take('/t/p/1/', 'infinity', 'exclusive');
      expect(tokens((await locks.view(seg('/t/p/1/a/f'))).conflicts(seg('/t/p/1/a/f'), 'shared', '0'))).to.deep.equal([top.token]);
      expect(tokens((await locks.view(seg('/t/p/1/a/f'))).conflicts(seg('/t/p/1/a/f'), 'exclusive', '0'))).to.deep.equal([top.token]);
    });

    it('a depth-0 lock on a collection does not conflict with a new lock on a member', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/dir/', '0', 'exclusive');
      expect((await locks.view(seg('/t/p/1/dir/f'))).conflicts(seg('/t/p/1/dir/f'), 'exclusive', '0')).to.deep.equal([]);
    });

    it('a new depth-infinity lock conflicts with an exclusive lock below it', async () => {
      const { locks, take } = setup();
      const below = await take('/t/p/1/dir/f', '0', 'exclusive');
      expect(tokens((await locks.view(seg('/t/p/1/dir'))).conflicts(seg('/t/p/1/dir'), 'exclusive', 'infinity'))).to.deep.equal([below.token]);
      expect(tokens((await locks.view(seg('/t/p/1/dir'))).conflicts(seg('/t/p/1/dir'), 'shared', 'infinity'))).to.deep.equal([below.token]);
    });

    it('a new depth-0 lock does not conflict with a lock below it', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/dir/f', '0', 'exclusive');
      expect((await locks.view(seg('/t/p/1/dir'))).conflicts(seg('/t/p/1/dir'), 'exclusive', '0')).to.deep.equal([]);
    });

    it('a new exclusive depth-infinity lock conflicts with shared locks below it', async () => {
      const { locks, take } = setup();
      const below = await take('/t/p/1/dir/f', '0', 'shared');
      expect(tokens((await locks.view(seg('/t/p/1/dir'))).conflicts(seg('/t/p/1/dir'), 'exclusive', 'infinity'))).to.deep.equal([below.token]);
    });

    it('lists a lock that both covers and lies within the resource once', async () => {
      const { locks, take } = setup();
      const same = await take('/t/p/1/dir/', 'infinity', 'exclusive');
      expect((await locks.view(seg('/t/p/1/dir'))).conflicts(seg('/t/p/1/dir'), 'exclusive', 'infinity').map((l) => l.token)).to.deep.equal([same.token]);
    });

    it('sibling builds do not conflict', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/', 'infinity', 'exclusive');
      expect((await locks.view(seg('/t/p/12/'))).conflicts(seg('/t/p/12/'), 'exclusive', 'infinity')).to.deep.equal([]);
    });
  });

  describe('expiry (injected clock)', () => {
    it('a lock applies until just before its expiry and is gone at it', async () => {
      const { clock, locks, take } = setup();
      const lock = await take('/t/p/1/f', '0', 'exclusive', 60);
      clock.now += 60_000 - 1;
      expect(await locks.get(lock.token)).to.equal(lock);
      expect(await locks.covering(seg('/t/p/1/f'))).to.have.length(1);
      clock.now += 1;
      expect(await locks.get(lock.token)).to.equal(undefined);
      expect(await locks.covering(seg('/t/p/1/f'))).to.deep.equal([]);
      expect(await locks.within(seg('/t/p/1'))).to.deep.equal([]);
      expect((await locks.view(seg('/t/p/1/f'))).conflicts(seg('/t/p/1/f'), 'exclusive', '0')).to.deep.equal([]);
    });

    it('counts the seconds left, rounded up, down to 0', async () => {
      const { clock, locks, take } = setup();
      const lock = await take('/t/p/1/f', '0', 'exclusive', 600);
      expect(locks.secondsLeft(lock)).to.equal(600);
      clock.now += 1500;
      expect(locks.secondsLeft(lock)).to.equal(599);
      clock.now += 600_000;
      expect(locks.secondsLeft(lock)).to.equal(0);
    });
  });

  describe('refresh', () => {
    it('keeps a lock alive past its original expiry', async () => {
      const { clock, locks, take } = setup();
      const lock = await take('/t/p/1/f', '0', 'exclusive', 60);
      clock.now += 50_000;
      const refreshed = await locks.refresh(lock, 60);
      clock.now += 50_000; // 100 s after creation, 50 s after refresh
      expect((await locks.get(lock.token))?.token).to.equal(lock.token);
      expect(locks.secondsLeft(refreshed as Lock)).to.equal(10);
      clock.now += 10_000;
      expect(await locks.get(lock.token)).to.equal(undefined);
    });

    it('takes the new timeout', async () => {
      const { clock, locks, take } = setup();
      const lock = await take('/t/p/1/f', '0', 'exclusive', 60);
      const refreshed = (await locks.refresh(lock, 3600)) as Lock;
      expect(refreshed.timeoutSeconds).to.equal(3600);
      expect(refreshed.expiresAt).to.equal(clock.now + 3_600_000);
      expect(refreshed.token).to.equal(lock.token);
    });
  });

  describe('release and releaseWithin', () => {
    it('a refresh of a lock released meanwhile brings nothing back', async () => {
      const { locks, take } = setup();
      const lock = await take('/t/p/1/f', '0');
      expect(await locks.release(lock.token)).to.equal(true);
      expect(await locks.refresh(lock, 600)).to.equal(null);
      expect(await locks.get(lock.token)).to.equal(undefined);
    });

    it('release drops one lock and reports whether it held it', async () => {
      const { locks, take } = setup();
      const lock = await take('/t/p/1/f', '0');
      expect(await locks.release(lock.token)).to.equal(true);
      expect(await locks.get(lock.token)).to.equal(undefined);
      expect(await locks.release(lock.token)).to.equal(false);
    });

    it('releaseWithin drops the locks on a deleted resource and its members, but not others', async () => {
      const { locks, take } = setup();
      const self = await take('/t/p/1/dir/', 'infinity');
      const member = await take('/t/p/1/dir/f', '0', 'shared');
      const deep = await take('/t/p/1/dir/a/b', '0', 'shared');
      const sibling = await take('/t/p/1/dir2/f', '0');
      const ancestor = await take('/t/p/1/', '0', 'shared');
      await locks.releaseWithin(seg('/t/p/1/dir'));
      expect(await locks.get(self.token)).to.equal(undefined);
      expect(await locks.get(member.token)).to.equal(undefined);
      expect(await locks.get(deep.token)).to.equal(undefined);
      expect(await locks.get(sibling.token)).to.equal(sibling);
      expect(await locks.get(ancestor.token)).to.equal(ancestor);
    });

    it('releaseWithin keeps a depth-infinity lock on an ancestor, which still covers new members', async () => {
      const { locks, take } = setup();
      const top = await take('/t/p/1/', 'infinity');
      await locks.releaseWithin(seg('/t/p/1/dir'));
      expect(tokens(await locks.covering(seg('/t/p/1/dir/new')))).to.deep.equal([top.token]);
    });
  });

  describe('owners', () => {
    it('a lock dies with its owner: gone from every answer once the token is not live, and forgotten', async () => {
      const live = new Set(['tok_1']);
      const store = new MemoryLocks();
      const locks = new LockManager(store, Date.now, async (ids) => new Set(ids.filter((id) => live.has(id))));
      const lock = await locks.create({ root: seg('/t/p/1/f'), rootIsCollection: false, depth: '0', scope: 'exclusive', ownerXml: null, principal: 'tok_1', timeoutSeconds: 600 });
      expect(tokens(await locks.covering(seg('/t/p/1/f')))).to.deep.equal([lock.token]);
      live.delete('tok_1');
      expect(await locks.covering(seg('/t/p/1/f'))).to.deep.equal([]);
      expect(await locks.get(lock.token)).to.equal(undefined);
      expect(await store.read('t/p/1')).to.deep.equal([]);
    });

    it('create runs its check on the build\'s live locks and takes nothing when it throws', async () => {
      const { locks, take } = setup();
      await take('/t/p/1/f', '0');
      const refused = await locks
        .create({ root: seg('/t/p/1/f'), rootIsCollection: false, depth: '0', scope: 'exclusive', ownerXml: null, principal: 'tok_1', timeoutSeconds: 600 }, (view) => {
          if (view.conflicts(seg('/t/p/1/f'), 'exclusive', '0').length > 0) throw new Error('locked');
        })
        .then(
          () => null,
          (err: Error) => err.message,
        );
      expect(refused).to.equal('locked');
      expect(await locks.covering(seg('/t/p/1/f'))).to.have.length(1);
    });
  });

  describe('lockTimeout (Timeout header)', () => {
    it('defaults to 600 seconds without a header', async () => {
      expect(DEFAULT_LOCK_SECONDS).to.equal(600);
      expect(lockTimeout(undefined)).to.equal(600);
      expect(lockTimeout('')).to.equal(600);
    });

    it('reads Second-N, in any case', async () => {
      expect(lockTimeout('Second-120')).to.equal(120);
      expect(lockTimeout('second-120')).to.equal(120);
      expect(lockTimeout('SECOND-1')).to.equal(1);
    });

    it('caps long and Infinite timeouts at one hour', async () => {
      expect(MAX_LOCK_SECONDS).to.equal(3600);
      expect(lockTimeout('Second-3600')).to.equal(3600);
      expect(lockTimeout('Second-3601')).to.equal(3600);
      expect(lockTimeout('Second-4100000000')).to.equal(3600);
      expect(lockTimeout('Infinite')).to.equal(3600);
      expect(lockTimeout('infinite')).to.equal(3600);
    });

    it('gives at least one second for Second-0', async () => {
      expect(lockTimeout('Second-0')).to.equal(1);
    });

    it('takes the first value it can honour from a list', async () => {
      expect(lockTimeout('Infinite, Second-4100000000')).to.equal(3600);
      expect(lockTimeout('Second-30, Infinite')).to.equal(30);
      expect(lockTimeout('Bogus, Second-45')).to.equal(45);
      expect(lockTimeout(' Second-90 ,Second-10')).to.equal(90);
    });

    it('falls back to the default for values it cannot read', async () => {
      expect(lockTimeout('Second-')).to.equal(600);
      expect(lockTimeout('Second--5')).to.equal(600);
      expect(lockTimeout('Second-1.5')).to.equal(600);
      expect(lockTimeout('Second-12345678901')).to.equal(600); // more than ten digits
      expect(lockTimeout('Minute-5')).to.equal(600);
      expect(lockTimeout('600')).to.equal(600);
      expect(lockTimeout('Second 120')).to.equal(600);
    });
  });
});
