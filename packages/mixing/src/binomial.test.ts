import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scriptedRandom, seededRandom } from '@mixlab/runtime';
import { BinomialStrategy } from './binomial.ts';
import { harness, sorted } from './test-harness.ts';

describe('BinomialStrategy', () => {
  it('lets a packet leave when its draw is below p, then shuffles the leavers', () => {
    // Draws per packet a, b, c, d; then Fisher–Yates over the two leavers draws 0.
    const h = harness<string>(scriptedRandom([0.29, 0.3, 0.31, 0, 0]));
    const mix = new BinomialStrategy<string>({ intervalMs: 1000, probability: 0.3 }, h.context);
    assert.equal(mix.name, 'binomial');
    for (const item of 'abcd') mix.add(item);
    h.clock.advance(999);
    assert.deepEqual(h.batches, []);
    h.clock.advance(1);
    assert.deepEqual(h.batches, [['d', 'a']]);
    assert.deepEqual(h.releasedAt, [1000]);
    assert.deepEqual(mix.stop(), ['b', 'c']);
  });

  it('with p = 1 releases the whole pool at each tick', () => {
    const h = harness<number>();
    const mix = new BinomialStrategy<number>({ intervalMs: 100, probability: 1 }, h.context);
    for (const item of [1, 2, 3]) mix.add(item);
    h.clock.advance(100);
    mix.add(4);
    h.clock.advance(200);
    assert.deepEqual(h.batches.map(sorted), [[1, 2, 3], [4]]);
    assert.deepEqual(h.releasedAt, [100, 200]);
  });

  it('releases no batch at a tick where nobody leaves', () => {
    const h = harness<string>(scriptedRandom([0.9, 0.9]));
    const mix = new BinomialStrategy<string>({ intervalMs: 100, probability: 0.5 }, h.context);
    mix.add('a');
    mix.add('b');
    h.clock.advance(100);
    assert.deepEqual(h.batches, []);
    assert.equal(mix.queued, 2);
  });

  for (const probability of [0.1, 0.3, 0.75]) {
    it(`property: packets leave with frequency p = ${probability} and none is lost`, () => {
      const random = seededRandom(99);
      const h = harness<number>(random);
      const mix = new BinomialStrategy<number>({ intervalMs: 100, probability }, h.context);
      let added = 0;
      let exposures = 0; // packet-ticks: each pooled packet at each tick is one trial
      for (let round = 0; round < 2000; round++) {
        const arrivals = random.int(60);
        for (let i = 0; i < arrivals; i++) mix.add(added++);
        exposures += mix.queued;
        h.clock.advance(100);
      }
      const left = h.batches.flat();
      // About 1e5 trials or more: the standard error is below 0.0015.
      assert.ok(Math.abs(left.length / exposures - probability) < 0.01, `${left.length}/${exposures}`);
      assert.deepEqual(
        [...left, ...mix.stop()].sort((a, b) => a - b),
        Array.from({ length: added }, (_, i) => i),
      );
    });
  }

  it('rejects bad options', () => {
    const h = harness<number>();
    for (const options of [
      { intervalMs: 0, probability: 0.5 },
      { intervalMs: 10, probability: 0 },
      { intervalMs: 10, probability: -0.1 },
      { intervalMs: 10, probability: 1.5 },
      { intervalMs: 10, probability: Number.NaN },
    ]) {
      assert.throws(() => new BinomialStrategy(options, h.context), RangeError, JSON.stringify(options));
    }
  });
});
