import type { StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requirePositiveInteger } from './option-checks.ts';
import { PeriodicPool } from './periodic-pool.ts';

export interface ThresholdAndTimedOptions {
  /** A tick releases only if at least this many are pooled. */
  readonly threshold: number;
  /** Ticks come every this many milliseconds. */
  readonly intervalMs: number;
}

/**
 * Threshold-and-timed mix: at each tick of a fixed period t, release everything
 * pooled, but only if at least n are pooled; otherwise keep them for the next tick.
 * Every batch is at least n, at the cost of unbounded delay under light traffic.
 */
export class ThresholdAndTimedStrategy<T> extends PeriodicPool<T> {
  readonly name = 'threshold-and-timed' as const;
  readonly #threshold: number;

  constructor(options: ThresholdAndTimedOptions, context: StrategyContext<T>) {
    requirePositiveInteger('threshold', options.threshold);
    requirePositiveDuration('intervalMs', options.intervalMs);
    super(options.intervalMs, context);
    this.#threshold = options.threshold;
  }

  protected override onTick(): void {
    if (this.queued >= this.#threshold) this.releaseBatch(this.take());
  }
}
