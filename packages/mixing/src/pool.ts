import { takeRandom } from '@mixlab/runtime';
import type { StrategyContext } from './mix-strategy.ts';
import { requireNonNegativeInteger, requirePositiveDuration, requireUnitInterval } from './option-checks.ts';
import { PeriodicPool } from './periodic-pool.ts';

export interface PoolOptions {
  /** Ticks come every this many milliseconds. */
  readonly intervalMs: number;
  /** Packets always kept back in the pool. */
  readonly minPool: number;
  /** Share, in (0, 1], of the packets above minPool that leave at a tick. */
  readonly fraction: number;
}

/** How many leave at a tick with `pooled` packets: max(1, floor(fraction × excess)), or 0 without excess. */
export function poolReleaseCount(pooled: number, minPool: number, fraction: number): number {
  const excess = pooled - minPool;
  if (excess <= 0) return 0;
  // The epsilon keeps e.g. 0.29 × 100 = 28.999999999999996 from flooring to 28.
  return Math.min(excess, Math.max(1, Math.floor(fraction * excess + 1e-9)));
}

/**
 * Timed dynamic pool mix (Mixmaster style): at each tick of a fixed period t, if more
 * than minPool packets are pooled, send max(1, floor(fraction × (pooled − minPool)))
 * of them, chosen uniformly at random from the whole pool, so a packet may stay for
 * any number of rounds. At least one leaves whenever there is an excess, so a lone
 * packet above the minimum is not held forever; the pool never drops below minPool.
 */
export class PoolStrategy<T> extends PeriodicPool<T> {
  readonly name = 'pool' as const;
  readonly #options: PoolOptions;

  constructor(options: PoolOptions, context: StrategyContext<T>) {
    requirePositiveDuration('intervalMs', options.intervalMs);
    requireNonNegativeInteger('minPool', options.minPool);
    requireUnitInterval('fraction', options.fraction);
    super(options.intervalMs, context);
    this.#options = options;
  }

  protected override onTick(): void {
    const count = poolReleaseCount(this.queued, this.#options.minPool, this.#options.fraction);
    if (count === 0) return;
    // takeRandom returns the chosen packets already in uniformly random order: no second shuffle.
    this.context.release(takeRandom(this.pooled, count, this.context.random));
  }
}
