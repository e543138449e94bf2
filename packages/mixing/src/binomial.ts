import type { StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requireUnitInterval } from './option-checks.ts';
import { PeriodicPool } from './periodic-pool.ts';

export interface BinomialOptions {
  /** Ticks come every this many milliseconds. */
  readonly intervalMs: number;
  /** Chance, in (0, 1], that each pooled packet leaves at a tick. */
  readonly probability: number;
}

/**
 * Binomial mix (Díaz & Serjantov): at each tick of a fixed period t, every pooled
 * packet leaves independently with probability p, so the batch size is
 * Binomial(pooled, p) and an observer cannot tell how many packets stayed behind.
 * A packet's stay is geometric: t × (1/p) on average.
 */
export class BinomialStrategy<T> extends PeriodicPool<T> {
  readonly name = 'binomial' as const;
  readonly #probability: number;

  constructor(options: BinomialOptions, context: StrategyContext<T>) {
    requirePositiveDuration('intervalMs', options.intervalMs);
    requireUnitInterval('probability', options.probability);
    super(options.intervalMs, context);
    this.#probability = options.probability;
  }

  protected override onTick(): void {
    // One draw per pooled packet, in pool order, before the leaving ones are shuffled.
    this.releaseBatch(this.take(() => this.context.random.float() < this.#probability));
  }
}
