import type { StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration } from './option-checks.ts';
import { PeriodicPool } from './periodic-pool.ts';

export interface TimedOptions {
  /** Period: every this many milliseconds, everything pooled is released. */
  readonly intervalMs: number;
}

/**
 * Timed mix: every t, release everything pooled as one shuffled batch. The schedule
 * runs from construction at fixed instants whatever the traffic; a tick that finds
 * the pool empty releases nothing (no empty batch) and the next tick stays on schedule.
 */
export class TimedStrategy<T> extends PeriodicPool<T> {
  readonly name = 'timed' as const;

  constructor(options: TimedOptions, context: StrategyContext<T>) {
    requirePositiveDuration('intervalMs', options.intervalMs);
    super(options.intervalMs, context);
  }

  protected override onTick(): void {
    this.releaseBatch(this.take());
  }
}
