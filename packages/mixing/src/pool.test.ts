import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scriptedRandom, seededRandom } from '@mixlab/runtime';
import { PoolStrategy, poolReleaseCount } from './pool.ts';
import { harness } from './test-harness.ts';

describe('poolReleaseCount', () => {
  it('sends max(1, floor(fraction × excess)), never more than the excess', () => {
    const cases: [number, number, number, number][] = [
      // pooled, minPool, fraction, expected
      [0, 0, 1, 0],
      [5, 5, 0.5, 0],
      [3, 5, 0.5, 0],
      [6, 5, 0.5, 1], // floor(0.5) = 0, but at least one leaves
      [15, 5, 0.6, 6],
      [105, 5, 0.29, 29], // not 28: 0.29 × 100 is 28.999999999999996 in floating point
      [10, 0, 1, 10],
      [7, 2, 0.999, 4],
    ];
    for (const [pooled, minPool, fraction, expected] of cases) {
      assert.equal(poolReleaseCount(pooled, minPool, fraction), expected, `${pooled}, ${minPool}, ${fraction}`);
    }
  });
});

describe('PoolStrategy', () => {
  it('holds everything up to minPool, then at each tick sends a fraction of the excess', () => {
    const h = harness<number>();
    const mix = new PoolStrategy<number>({ intervalMs: 1000, minPool: 4, fraction: 0.5 }, h.context);
    assert.equal(mix.name, 'pool');
    for (let item = 0; item < 4; item++) mix.add(item);
    h.clock.advance(1000);
    assert.equal(h.batches.length, 0);
    for (let item = 4; item < 10; item++) mix.add(item);
    h.clock.advance(999);
    assert.equal(h.batches.length, 0);
    h.clock.advance(1); // 10 pooled, excess 6: 3 leave
    assert.equal(h.batches[0]?.length, 3);
    assert.equal(mix.queued, 7);
    h.clock.advance(1000); // excess 3: floor(1.5) = 1
    h.clock.advance(1000); // excess 2: 1
    h.clock.advance(1000); // excess 1: at least 1
    h.clock.advance(1000); // excess 0: nothing
    assert.deepEqual(
      h.batches.map((batch) => batch.length),
      [3, 1, 1, 1],
    );
    assert.deepEqual(h.releasedAt, [2000, 3000, 4000, 5000]);
    assert.equal(mix.queued, 4);
  });

  it('chooses the leaving packets with the injected random source from the whole pool', () => {
    // 5 pooled, minPool 3, fraction 1: two leave. i = 4 swaps with 0, i = 3 with 1.
    const h = harness<string>(scriptedRandom([0, 1]));
    const mix = new PoolStrategy<string>({ intervalMs: 10, minPool: 3, fraction: 1 }, h.context);
    for (const item of 'abcde') mix.add(item);
    h.clock.advance(10);
    assert.deepEqual(h.batches, [['b', 'a']]);
    assert.deepEqual(mix.stop().sort(), ['c', 'd', 'e']);
  });

  it('property: never drops below minPool, sends the exact count, loses and duplicates nothing', () => {
    const random = seededRandom(2024);
    const h = harness<number>(random);
    const minPool = 20;
    const mix = new PoolStrategy<number>({ intervalMs: 100, minPool, fraction: 0.6 }, h.context);
    let added = 0;
    let released = 0;
    for (let round = 0; round < 2000; round++) {
      const arrivals = random.int(30); // bursts and lulls around the minimum
      for (let i = 0; i < arrivals; i++) mix.add(added++);
      const before = mix.queued;
      const batchesBefore = h.batches.length;
      h.clock.advance(100);
      const batch = h.batches.length > batchesBefore ? h.batches.at(-1)! : [];
      released += batch.length;
      assert.equal(batch.length, poolReleaseCount(before, minPool, 0.6), `round ${round}`);
      assert.equal(mix.queued, before - batch.length);
      assert.ok(mix.queued >= Math.min(minPool, before), `round ${round}: ${mix.queued} left of ${before}`);
    }
    const all = [...h.batches.flat(), ...mix.stop()].sort((a, b) => a - b);
    assert.equal(released + (all.length - released), added);
    assert.deepEqual(
      all,
      Array.from({ length: added }, (_, i) => i),
    );
  });

  it('gives every pooled packet the same chance to leave, whatever its age', () => {
    // One arrival per tick into a pool of minPool 3 with fraction 1: 4 pooled, 1 leaves.
    // Chosen uniformly, a packet's stay is geometric with p = 1/4: mean 4 ticks, and a
    // quarter leave at their first tick. Oldest-first or newest-first would differ.
    const h = harness<number>(seededRandom(5));
    const mix = new PoolStrategy<number>({ intervalMs: 10, minPool: 3, fraction: 1 }, h.context);
    const warmUp = 100;
    const rounds = 20_000;
    const stays: number[] = [];
    for (let round = 0; round < warmUp + rounds; round++) {
      mix.add(round);
      h.clock.advance(10);
      if (round < warmUp) continue;
      const batch = h.batches.at(-1)!;
      assert.equal(batch.length, 1);
      stays.push(round - batch[0]! + 1);
    }
    const mean = stays.reduce((sum, stay) => sum + stay, 0) / stays.length;
    const firstTick = stays.filter((stay) => stay === 1).length / stays.length;
    assert.ok(Math.abs(mean - 4) < 0.15, `mean stay ${mean}`);
    assert.ok(Math.abs(firstTick - 0.25) < 0.015, `left at first tick ${firstTick}`);
  });

  it('rejects bad options', () => {
    const h = harness<number>();
    for (const options of [
      { intervalMs: 0, minPool: 1, fraction: 0.5 },
      { intervalMs: 10, minPool: -1, fraction: 0.5 },
      { intervalMs: 10, minPool: 1.5, fraction: 0.5 },
      { intervalMs: 10, minPool: 1, fraction: 0 },
      { intervalMs: 10, minPool: 1, fraction: 1.1 },
      { intervalMs: 10, minPool: 1, fraction: Number.NaN },
    ]) {
      assert.throws(() => new PoolStrategy(options, h.context), RangeError, JSON.stringify(options));
    }
  });
});
