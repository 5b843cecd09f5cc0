// The pace of one kind of work per key (domain/gate.ts Pacer): a burst at once, then the rate;
// faster comers wait their turn, too many waiting are refused. The test holds the clock
// and sees every wait the pacer asks for.
import { expect } from 'chai';
import { Busy, Pacer } from '../../server/domain/gate.js';

function paced(rate: number, burst: number, maxWaiting: number): { pacer: Pacer; waits: number[]; clock: { now: number }; wake(): void } {
  const clock = { now: 0 };
  const waits: number[] = [];
  const sleepers: Array<() => void> = [];
  const pacer = new Pacer('new tunnels for this token', rate, burst, maxWaiting, () => clock.now, (ms) => {
    waits.push(ms);
    return new Promise<void>((resolve) => sleepers.push(resolve));
  });
  return { pacer, waits, clock, wake: () => sleepers.splice(0).forEach((wake) => wake()) };
}

describe('gate Pacer', () => {
  it('lets a burst through at once, then makes each further pass wait its turn at the rate', async () => {
    const { pacer, waits, wake } = paced(100, 3, 10);
    for (let i = 0; i < 3; i++) await pacer.pass('t');
    expect(waits).to.deep.equal([]);
    const later = Promise.all([pacer.pass('t'), pacer.pass('t')]);
    // The fourth waits 1/100 s, the fifth 2/100 s.
    expect(waits).to.deep.equal([10, 20]);
    wake();
    await later;
  });

  it('refills with time: a key that keeps to the rate never waits', async () => {
    const { pacer, waits, clock } = paced(10, 2, 10);
    for (let i = 0; i < 20; i++) {
      await pacer.pass('t');
      clock.now += 100;
    }
    expect(waits).to.deep.equal([]);
  });

  it('refuses with Busy and a Retry-After once too many wait for one key; other keys go on', async () => {
    const { pacer, waits, wake } = paced(1, 1, 2);
    await pacer.pass('a');
    const waiting = Promise.all([pacer.pass('a'), pacer.pass('a')]);
    const refused = await pacer.pass('a').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).to.be.instanceOf(Busy);
    expect((refused as Busy).message).to.equal('too many new tunnels for this token at once; try again in 3 s');
    await pacer.pass('b');
    expect(waits).to.deep.equal([1000, 2000]);
    wake();
    await waiting;
  });
});
