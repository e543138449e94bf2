import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, sorted } from './test-harness.ts';
import { ThresholdAndTimedStrategy } from './threshold-and-timed.ts';

describe('ThresholdAndTimedStrategy', () => {
  it('does not release on arrival, even with n pooled, only at the tick', () => {
    const h = harness<number>();
    const mix = new ThresholdAndTimedStrategy<number>({ threshold: 2, intervalMs: 1000 }, h.context);
    assert.equal(mix.name, 'threshold-and-timed');
    for (const item of [1, 2, 3]) mix.add(item);
    h.clock.advance(999);
    assert.deepEqual(h.batches, []);
    h.clock.advance(1);
    assert.deepEqual(h.batches.map(sorted), [[1, 2, 3]]);
    assert.deepEqual(h.releasedAt, [1000]);
  });

  it('keeps the pool through ticks with fewer than n, and releases all of it once n are pooled', () => {
    const h = harness<number>();
    const mix = new ThresholdAndTimedStrategy<number>({ threshold: 3, intervalMs: 1000 }, h.context);
    mix.add(1);
    mix.add(2);
    h.clock.advance(2000);
    assert.deepEqual(h.batches, []);
    assert.equal(mix.queued, 2);
    mix.add(3);
    mix.add(4);
    h.clock.advance(1000);
    assert.deepEqual(h.batches.map(sorted), [[1, 2, 3, 4]]);
    assert.deepEqual(h.releasedAt, [3000]);
    assert.equal(mix.queued, 0);
  });

  it('rejects bad options', () => {
    const h = harness<number>();
    for (const options of [
      { threshold: -1, intervalMs: 10 },
      { threshold: 2, intervalMs: Number.NaN },
    ]) {
      assert.throws(() => new ThresholdAndTimedStrategy(options, h.context), RangeError, JSON.stringify(options));
    }
  });
});
