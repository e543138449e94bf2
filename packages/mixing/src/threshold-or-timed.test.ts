import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { harness, sorted } from './test-harness.ts';
import { ThresholdOrTimedStrategy } from './threshold-or-timed.ts';

describe('ThresholdOrTimedStrategy', () => {
  it('releases at once when n have arrived, before the tick', () => {
    const h = harness<number>();
    const mix = new ThresholdOrTimedStrategy<number>({ threshold: 3, intervalMs: 1000 }, h.context);
    assert.equal(mix.name, 'threshold-or-timed');
    mix.add(1);
    h.clock.advance(100);
    mix.add(2);
    assert.deepEqual(h.batches, []);
    h.clock.advance(100);
    mix.add(3);
    assert.deepEqual(h.batches.map(sorted), [[1, 2, 3]]);
    assert.deepEqual(h.releasedAt, [200]);
    assert.equal(mix.queued, 0);
  });

  it('releases fewer than n at the tick, whichever comes first', () => {
    const h = harness<number>();
    const mix = new ThresholdOrTimedStrategy<number>({ threshold: 3, intervalMs: 1000 }, h.context);
    mix.add(1);
    mix.add(2);
    h.clock.advance(999);
    assert.deepEqual(h.batches, []);
    h.clock.advance(1);
    assert.deepEqual(h.batches.map(sorted), [[1, 2]]);
    assert.deepEqual(h.releasedAt, [1000]);
  });

  it('keeps the fixed period after a threshold release', () => {
    const h = harness<number>();
    const mix = new ThresholdOrTimedStrategy<number>({ threshold: 2, intervalMs: 1000 }, h.context);
    h.clock.advance(900);
    mix.add(1);
    mix.add(2); // threshold release at 900
    mix.add(3);
    h.clock.advance(100); // the tick is still due at 1000, not 1900
    h.clock.advance(1000); // an empty tick at 2000 releases nothing
    assert.deepEqual(h.batches.map(sorted), [[1, 2], [3]]);
    assert.deepEqual(h.releasedAt, [900, 1000]);
  });

  it('rejects bad options', () => {
    const h = harness<number>();
    for (const options of [
      { threshold: 0, intervalMs: 10 },
      { threshold: 2.5, intervalMs: 10 },
      { threshold: 2, intervalMs: 0 },
      { threshold: 2, intervalMs: -10 },
    ]) {
      assert.throws(() => new ThresholdOrTimedStrategy(options, h.context), RangeError, JSON.stringify(options));
    }
  });
});
