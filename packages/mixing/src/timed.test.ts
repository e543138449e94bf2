import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scriptedRandom } from '@mixlab/runtime';
import { harness, sorted } from './test-harness.ts';
import { TimedStrategy } from './timed.ts';

describe('TimedStrategy', () => {
  it('releases everything pooled exactly every t, and nothing in between', () => {
    const h = harness<string>();
    const mix = new TimedStrategy<string>({ intervalMs: 500 }, h.context);
    assert.equal(mix.name, 'timed');
    mix.add('a');
    h.clock.advance(200);
    mix.add('b');
    h.clock.advance(299);
    assert.deepEqual(h.batches, []);
    assert.equal(mix.queued, 2);
    h.clock.advance(1);
    mix.add('c');
    h.clock.advance(500);
    for (const item of ['d', 'e', 'f']) mix.add(item);
    h.clock.advance(500);
    assert.deepEqual(h.batches.map(sorted), [['a', 'b'], ['c'], ['d', 'e', 'f']]);
    assert.deepEqual(h.releasedAt, [500, 1000, 1500]);
    assert.equal(mix.queued, 0);
  });

  it('keeps its schedule through empty ticks, which release no batch', () => {
    const h = harness<string>();
    const mix = new TimedStrategy<string>({ intervalMs: 500 }, h.context);
    h.clock.advance(1750);
    assert.deepEqual(h.batches, []);
    assert.equal(h.clock.pendingTimers, 1);
    mix.add('a');
    h.clock.advance(249);
    assert.deepEqual(h.batches, []);
    h.clock.advance(1);
    assert.deepEqual(h.batches, [['a']]);
    assert.deepEqual(h.releasedAt, [2000]);
  });

  it('shuffles each batch with the injected random', () => {
    const h = harness<string>(scriptedRandom([0, 0]));
    const mix = new TimedStrategy<string>({ intervalMs: 10 }, h.context);
    for (const item of 'abc') mix.add(item);
    h.clock.advance(10);
    assert.deepEqual(h.batches, [['b', 'c', 'a']]);
  });

  it('rejects an interval that is not a positive finite number', () => {
    const h = harness<string>();
    for (const intervalMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new TimedStrategy({ intervalMs }, h.context), RangeError, `intervalMs ${intervalMs}`);
    }
  });
});
