import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Clock, ManualClock } from '@mixlab/runtime';
import { every } from './periodic.ts';

/** A clock whose timers all fire `lateMs` after they are due, like a busy event loop. */
function lateClock(inner: ManualClock, lateMs: number): Clock {
  return { now: () => inner.now(), schedule: (delayMs, fn) => inner.schedule(delayMs + lateMs, fn) };
}

describe('every', () => {
  it('ticks exactly at t, 2t, 3t from when it was started', () => {
    const clock = new ManualClock();
    clock.advance(50);
    const ticks: number[] = [];
    every(clock, 100, () => ticks.push(clock.now()));
    clock.advance(99);
    assert.deepEqual(ticks, []);
    clock.advance(1);
    assert.deepEqual(ticks, [150]);
    clock.advance(250);
    assert.deepEqual(ticks, [150, 250, 350]);
    assert.equal(clock.pendingTimers, 1);
  });

  it('does not drift when timers fire late', () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    every(lateClock(clock, 7), 100, () => ticks.push(clock.now()));
    clock.advance(1000);
    // Each tick is 7 ms late, but the lateness does not add up.
    assert.deepEqual(ticks, [107, 207, 307, 407, 507, 607, 707, 807, 907]);
  });

  it('skips ticks it is more than an interval late for instead of bursting', () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    every(lateClock(clock, 150), 100, () => ticks.push(clock.now()));
    clock.advance(700);
    // First due at 100, fires at 250; 200 is missed, so the next is due at 300, fires at 450...
    assert.deepEqual(ticks, [250, 450, 650]);
  });

  it('keeps ticking after a tick throws', () => {
    const clock = new ManualClock();
    let ticks = 0;
    every(clock, 10, () => {
      ticks++;
      throw new Error('release failed');
    });
    assert.throws(() => clock.advance(10), /release failed/);
    assert.throws(() => clock.advance(10), /release failed/);
    assert.equal(ticks, 2);
  });

  it('stops when cancelled, also from inside a tick', () => {
    const clock = new ManualClock();
    let ticks = 0;
    const cancel = every(clock, 10, () => {
      ticks++;
      if (ticks === 3) cancel();
    });
    clock.advance(100);
    assert.equal(ticks, 3);
    assert.equal(clock.pendingTimers, 0);
  });
});
