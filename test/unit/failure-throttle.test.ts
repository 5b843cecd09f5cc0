import { expect } from 'chai';
import { FailureThrottle } from '../../token-service/failure-throttle.js';

const LIMIT = 3;
const LOCKOUT_MS = 300_000; // five minutes

function setup(maxEntries?: number) {
  const clock = { now: 1_700_000_000_000 };
  const throttle = new FailureThrottle(LIMIT, LOCKOUT_MS, () => clock.now, maxEntries);
  const fail = (address: string, times = 1) => {
    for (let i = 0; i < times; i++) throttle.recordFailure(address);
  };
  return { clock, throttle, fail };
}

const entryCount = (t: FailureThrottle): number => (t as unknown as { entries: Map<string, unknown> }).entries.size;

describe('token-service/failure-throttle', () => {
  it('allows an address that has never failed', () => {
    const { throttle } = setup();
    expect(throttle.check('10.0.0.1')).to.deep.equal({ allowed: true, retryAfterSeconds: 0 });
  });

  it('still allows an address one failure short of the limit', () => {
    const { throttle, fail } = setup();
    fail('10.0.0.1', LIMIT - 1);
    expect(throttle.check('10.0.0.1').allowed).to.equal(true);
  });

  it('locks an address out after the limit of consecutive failures', () => {
    const { throttle, fail } = setup();
    fail('10.0.0.1', LIMIT);
    expect(throttle.check('10.0.0.1').allowed).to.equal(false);
  });

  it('gives Retry-After as the whole seconds left of the lockout, rounded up', () => {
    const { clock, throttle, fail } = setup();
    fail('10.0.0.1', LIMIT);
    expect(throttle.check('10.0.0.1').retryAfterSeconds).to.equal(300);
    clock.now += 1500;
    expect(throttle.check('10.0.0.1').retryAfterSeconds).to.equal(299); // 298.5 s left
    clock.now += 298_000;
    expect(throttle.check('10.0.0.1')).to.deep.equal({ allowed: false, retryAfterSeconds: 1 }); // 0.5 s left
  });

  it('lets the address in again once the lockout has passed', () => {
    const { clock, throttle, fail } = setup();
    fail('10.0.0.1', LIMIT);
    clock.now += LOCKOUT_MS - 1;
    expect(throttle.check('10.0.0.1').allowed).to.equal(false);
    clock.now += 1;
    expect(throttle.check('10.0.0.1')).to.deep.equal({ allowed: true, retryAfterSeconds: 0 });
  });

  it('gives a full new set of attempts after a lockout ends', () => {
    const { clock, throttle, fail } = setup();
    fail('10.0.0.1', LIMIT);
    clock.now += LOCKOUT_MS;
    fail('10.0.0.1', LIMIT - 1);
    expect(throttle.check('10.0.0.1').allowed).to.equal(true);
    fail('10.0.0.1');
    expect(throttle.check('10.0.0.1').allowed).to.equal(false);
  });

  it('forgets earlier failures after a success', () => {
    const { throttle, fail } = setup();
    fail('10.0.0.1', LIMIT - 1);
    throttle.recordSuccess('10.0.0.1');
    fail('10.0.0.1', LIMIT - 1);
    expect(throttle.check('10.0.0.1').allowed).to.equal(true);
    fail('10.0.0.1');
    expect(throttle.check('10.0.0.1').allowed).to.equal(false);
  });

  it('does not add up failures spread wider apart than the lockout', () => {
    const { clock, throttle, fail } = setup();
    for (let i = 0; i < LIMIT * 4; i++) {
      fail('10.0.0.1');
      expect(throttle.check('10.0.0.1').allowed, `after failure ${i + 1}`).to.equal(true);
      clock.now += LOCKOUT_MS + 1;
    }
  });

  it('adds up failures that come closer together than the lockout', () => {
    const { clock, throttle, fail } = setup();
    for (let i = 0; i < LIMIT; i++) {
      fail('10.0.0.1');
      clock.now += LOCKOUT_MS - 1;
    }
    clock.now -= LOCKOUT_MS - 1;
    expect(throttle.check('10.0.0.1').allowed).to.equal(false);
  });

  it('keeps addresses independent: one locked out, the other unaffected', () => {
    const { throttle, fail } = setup();
    fail('10.0.0.1', LIMIT);
    fail('10.0.0.2', LIMIT - 1);
    expect(throttle.check('10.0.0.1').allowed).to.equal(false);
    expect(throttle.check('10.0.0.2').allowed).to.equal(true);
    expect(throttle.check('2001:db8::1').allowed).to.equal(true);
    throttle.recordSuccess('10.0.0.2');
    expect(throttle.check('10.0.0.1').allowed, 'a success elsewhere does not lift the lockout').to.equal(false);
  });

  it('stays within its entry bound under failures from many addresses', () => {
    const { throttle, fail } = setup(50);
    for (let i = 0; i < 1000; i++) fail(`10.0.${i >> 8}.${i & 255}`);
    expect(entryCount(throttle)).to.be.at.most(50);
    expect(throttle.check('10.0.3.231').allowed).to.equal(true);
  });

  it('still locks out a fresh address when the table is full', () => {
    const { throttle, fail } = setup(10);
    for (let i = 0; i < 100; i++) fail(`192.0.2.${i}`);
    fail('198.51.100.7', LIMIT);
    expect(throttle.check('198.51.100.7').allowed).to.equal(false);
    expect(entryCount(throttle)).to.be.at.most(10);
  });

  it('drops stale entries before a live lockout when the table is full', () => {
    const { clock, throttle, fail } = setup(3);
    fail('192.0.2.2'); // the oldest entry, which goes on to be locked out
    clock.now += 1;
    fail('192.0.2.1'); // will be stale
    clock.now += 100_000;
    fail('192.0.2.2', LIMIT - 1); // locked out until now + LOCKOUT_MS
    fail('192.0.2.3');
    clock.now += 250_000; // 192.0.2.1 is now older than the lockout; 192.0.2.2 is still locked out
    expect(throttle.check('192.0.2.2').allowed).to.equal(false);
    fail('192.0.2.4');
    expect(throttle.check('192.0.2.2').allowed).to.equal(false);
    expect(entryCount(throttle)).to.be.at.most(3);
  });
});
