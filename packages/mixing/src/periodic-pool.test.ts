import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinomialStrategy } from './binomial.ts';
import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { PoolStrategy } from './pool.ts';
import { harness } from './test-harness.ts';
import { ThresholdAndTimedStrategy } from './threshold-and-timed.ts';
import { ThresholdOrTimedStrategy } from './threshold-or-timed.ts';
import { TimedStrategy } from './timed.ts';

/** Every strategy built on PeriodicPool, with options that would release what is pooled at the next tick. */
const periodic: [string, (context: StrategyContext<number>) => MixStrategy<number>][] = [
  ['timed', (context) => new TimedStrategy({ intervalMs: 500 }, context)],
  ['threshold-or-timed', (context) => new ThresholdOrTimedStrategy({ threshold: 5, intervalMs: 1000 }, context)],
  ['threshold-and-timed', (context) => new ThresholdAndTimedStrategy({ threshold: 1, intervalMs: 1000 }, context)],
  ['pool', (context) => new PoolStrategy({ intervalMs: 10, minPool: 0, fraction: 1 }, context)],
  ['binomial', (context) => new BinomialStrategy({ intervalMs: 10, probability: 1 }, context)],
];

describe('periodic strategies (PeriodicPool)', () => {
  for (const [name, create] of periodic) {
    it(`${name}: stop() returns the pool, ends the schedule and refuses further packets`, () => {
      const h = harness<number>();
      const mix = create(h.context);
      mix.add(1);
      mix.add(2);
      assert.deepEqual(mix.stop(), [1, 2]);
      assert.equal(h.clock.pendingTimers, 0);
      assert.throws(() => mix.add(3), new RegExp(`${name} strategy has been stopped`));
      h.clock.advance(5000);
      assert.deepEqual(h.batches, []);
    });
  }
});
