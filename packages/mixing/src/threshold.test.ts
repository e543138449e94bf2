import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allShuffleDraws, scriptedRandom } from '@mixlab/runtime';
import { StrategyStoppedError } from './option-checks.ts';
import { harness, sorted } from './test-harness.ts';
import { ThresholdStrategy } from './threshold.ts';

describe('ThresholdStrategy', () => {
  it('releases nothing before n have arrived, then exactly those n', () => {
    const h = harness<number>();
    const mix = new ThresholdStrategy<number>({ threshold: 4 }, h.context);
    assert.equal(mix.name, 'threshold');
    for (const item of [1, 2, 3]) mix.add(item);
    assert.deepEqual(h.batches, []);
    assert.equal(mix.queued, 3);
    mix.add(4);
    assert.equal(h.batches.length, 1);
    assert.deepEqual(sorted(h.batches[0]!), [1, 2, 3, 4]);
    assert.equal(mix.queued, 0);
  });

  it('releases consecutive batches of n in arrival groups and keeps the remainder', () => {
    const h = harness<number>();
    const mix = new ThresholdStrategy<number>({ threshold: 3 }, h.context);
    for (let item = 1; item <= 10; item++) mix.add(item);
    assert.deepEqual(h.batches.map(sorted), [
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
    assert.equal(mix.queued, 1);
    assert.deepEqual(mix.stop(), [10]);
  });

  it('with threshold 1 releases each packet alone at once', () => {
    const h = harness<string>();
    const mix = new ThresholdStrategy<string>({ threshold: 1 }, h.context);
    mix.add('a');
    mix.add('b');
    assert.deepEqual(h.batches, [['a'], ['b']]);
  });

  for (const n of [3, 4]) {
    it(`reaches every one of the ${n}! orders of a batch of ${n}, one per sequence of draws`, () => {
      const items = 'abcd'.slice(0, n).split('');
      const orders = new Set<string>();
      const sequences = allShuffleDraws(n);
      for (const draws of sequences) {
        const random = scriptedRandom(draws);
        const h = harness<string>(random);
        const mix = new ThresholdStrategy<string>({ threshold: n }, h.context);
        for (const item of items) mix.add(item);
        assert.equal(h.batches.length, 1);
        assert.equal(random.used, n - 1, 'Fisher–Yates draws n-1 times');
        orders.add(h.batches[0]!.join(''));
      }
      const factorial = n === 3 ? 6 : 24;
      assert.equal(sequences.length, factorial);
      assert.equal(orders.size, factorial);
    });
  }

  it('releases the Fisher–Yates order for the injected draws', () => {
    // Worked by hand: for i = n-1 down to 1, swap items[i] with items[draw].
    const cases: [number[], string, string][] = [
      [[0, 0], 'abc', 'bca'],
      [[0, 1], 'abc', 'cba'],
      [[1, 0], 'abc', 'cab'],
      [[1, 1], 'abc', 'acb'],
      [[2, 0], 'abc', 'bac'],
      [[2, 1], 'abc', 'abc'],
      [[1, 2, 0], 'abcd', 'dacb'],
      [[3, 0, 1], 'abcd', 'cbad'],
    ];
    for (const [draws, input, expected] of cases) {
      const h = harness<string>(scriptedRandom(draws));
      const mix = new ThresholdStrategy<string>({ threshold: input.length }, h.context);
      for (const item of input) mix.add(item);
      assert.equal(h.batches[0]!.join(''), expected, `draws ${draws.join(',')}`);
    }
  });

  describe('maxWaitMs flush', () => {
    it('fires exactly maxWait after the first packet of a batch, releasing fewer than n', () => {
      const h = harness<string>();
      const mix = new ThresholdStrategy<string>({ threshold: 5, maxWaitMs: 1000 }, h.context);
      mix.add('a');
      h.clock.advance(300);
      mix.add('b'); // does not restart the wait
      h.clock.advance(699);
      assert.deepEqual(h.batches, []);
      assert.equal(mix.queued, 2);
      h.clock.advance(1);
      assert.deepEqual(h.batches.map(sorted), [['a', 'b']]);
      assert.deepEqual(h.releasedAt, [1000]);
      assert.equal(mix.queued, 0);
      assert.equal(h.clock.pendingTimers, 0);
    });

    it('starts a new wait with the first packet of the next batch', () => {
      const h = harness<string>();
      const mix = new ThresholdStrategy<string>({ threshold: 5, maxWaitMs: 1000 }, h.context);
      mix.add('a');
      h.clock.advance(1200);
      mix.add('b');
      h.clock.advance(999);
      assert.equal(h.batches.length, 1);
      h.clock.advance(1);
      assert.deepEqual(h.batches, [['a'], ['b']]);
      assert.deepEqual(h.releasedAt, [1000, 2200]);
    });

    it('is cancelled by a full batch', () => {
      const h = harness<string>();
      const mix = new ThresholdStrategy<string>({ threshold: 2, maxWaitMs: 1000 }, h.context);
      mix.add('a');
      h.clock.advance(500);
      mix.add('b');
      assert.equal(h.batches.length, 1);
      assert.equal(h.clock.pendingTimers, 0);
      h.clock.advance(100);
      mix.add('c'); // first of a new batch: its own wait, due at 1600
      h.clock.advance(999);
      assert.equal(h.batches.length, 1);
      h.clock.advance(1);
      assert.deepEqual(h.batches.map(sorted), [['a', 'b'], ['c']]);
      assert.deepEqual(h.releasedAt, [500, 1600]);
    });
  });

  it('stop() returns the pooled packets and cancels the pending flush', () => {
    const h = harness<string>();
    const mix = new ThresholdStrategy<string>({ threshold: 5, maxWaitMs: 1000 }, h.context);
    for (const item of ['a', 'b', 'c']) mix.add(item);
    assert.deepEqual(mix.stop(), ['a', 'b', 'c']);
    assert.equal(mix.queued, 0);
    assert.equal(h.clock.pendingTimers, 0);
    h.clock.advance(10_000);
    assert.deepEqual(h.batches, []);
  });

  it('refuses packets after stop()', () => {
    const h = harness<string>();
    const mix = new ThresholdStrategy<string>({ threshold: 2 }, h.context);
    mix.add('a');
    mix.stop();
    assert.throws(() => mix.add('b'), StrategyStoppedError);
    assert.deepEqual(mix.stop(), []);
  });

  it('rejects a threshold that is not a positive integer', () => {
    const h = harness<string>();
    for (const threshold of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new ThresholdStrategy({ threshold }, h.context), RangeError, `threshold ${threshold}`);
    }
  });

  it('rejects a maxWaitMs that is not positive', () => {
    const h = harness<string>();
    for (const maxWaitMs of [0, -5, Number.NaN]) {
      assert.throws(
        () => new ThresholdStrategy({ threshold: 2, maxWaitMs }, h.context),
        RangeError,
        `maxWaitMs ${maxWaitMs}`,
      );
    }
  });
});
