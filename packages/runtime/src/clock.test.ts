import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { type Clock, monotonicClock, sleep, wallClock } from './clock.ts';
import { ManualClock } from './manual-clock.ts';

for (const [name, clock] of [
  ['monotonicClock', monotonicClock],
  ['wallClock', wallClock],
] as [string, Clock][]) {
  describe(`${name}.schedule`, () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
    afterEach(() => mock.timers.reset());

    it('fires a delay of 2^32 - 1 ms exactly then, not before (setTimeout alone fires it after 1 ms)', () => {
      let fired = false;
      clock.schedule(2 ** 32 - 1, () => {
        fired = true;
      });
      mock.timers.tick(1);
      assert.equal(fired, false, 'not clamped to 1 ms');
      mock.timers.tick(2 ** 31 - 2); // the first link of the chain ends here
      assert.equal(fired, false, 'not at the end of the first link');
      mock.timers.tick(2 ** 31 - 1);
      assert.equal(fired, false, '1 ms early');
      mock.timers.tick(1);
      assert.equal(fired, true);
    });

    it('cancels a long delay in any link of its chain', () => {
      let fired = false;
      const cancel = clock.schedule(3 * 2 ** 31, () => {
        fired = true;
      });
      mock.timers.tick(2 ** 31);
      cancel();
      mock.timers.tick(2 ** 33);
      assert.equal(fired, false);
    });

    it('fires a short delay once, at its time', () => {
      let fired = 0;
      clock.schedule(250, () => fired++);
      mock.timers.tick(249);
      assert.equal(fired, 0);
      mock.timers.tick(1);
      mock.timers.tick(1000);
      assert.equal(fired, 1);
    });
  });
}

describe('clock origins', () => {
  it('the wall clock counts from the Unix epoch, the monotonic one from process start', () => {
    assert.ok(Math.abs(wallClock.now() - Date.now()) < 1000);
    assert.ok(monotonicClock.now() < Date.now() / 2);
  });
});

describe('sleep', () => {
  it('resolves after the delay on the given clock', async () => {
    const clock = new ManualClock(1_000);
    let done = false;
    const sleeping = sleep(clock, 500).then(() => {
      done = true;
    });
    clock.advance(499);
    await Promise.resolve();
    assert.equal(done, false);
    clock.advance(1);
    await sleeping;
    assert.equal(clock.now(), 1_500);
  });

  it('resolves at once when aborted, and cancels its timer', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const sleeping = sleep(clock, 10_000, controller.signal);
    controller.abort();
    await sleeping;
    assert.equal(clock.pendingTimers, 0);
    await sleep(clock, 10_000, controller.signal); // already aborted: no wait
    await sleep(clock, 0);
    assert.equal(clock.pendingTimers, 0);
  });
});
