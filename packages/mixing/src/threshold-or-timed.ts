import type { StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requirePositiveInteger } from './option-checks.ts';
import { PeriodicPool } from './periodic-pool.ts';

export interface ThresholdOrTimedOptions {
  /** Release at once when this many are pooled. */
  readonly threshold: number;
  /** And also every this many milliseconds, whatever is pooled. */
  readonly intervalMs: number;
}

/**
 * Threshold-or-timed mix: release everything pooled when n have arrived or at each
 * tick of a fixed period t, whichever comes first. The period is not reset by a
 * threshold release (unlike ThresholdStrategy's maxWaitMs, which counts from the
 * first packet of a batch). Empty ticks release nothing.
 */
export class ThresholdOrTimedStrategy<T> extends PeriodicPool<T> {
  readonly name = 'threshold-or-timed' as const;
  readonly #threshold: number;

  constructor(options: ThresholdOrTimedOptions, context: StrategyContext<T>) {
    requirePositiveInteger('threshold', options.threshold);
    requirePositiveDuration('intervalMs', options.intervalMs);
    super(options.intervalMs, context);
    this.#threshold = options.threshold;
  }

  protected override onAdd(): void {
    if (this.queued >= this.#threshold) this.releaseBatch(this.take());
  }

  protected override onTick(): void {
    this.releaseBatch(this.take());
  }
}
