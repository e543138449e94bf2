import type { Clock } from './clock.ts';
import type { Rng } from './rng.ts';

export type StrategyName = 'threshold';

/** What every strategy is given: time, randomness, and where released batches go. */
export interface StrategyContext<T> {
  readonly clock: Clock;
  readonly rng: Rng;
  /** Receives each released batch, already shuffled. */
  readonly release: (batch: T[]) => void;
}

/**
 * A mix's pool: packets go in with `add`, come out in shuffled batches through
 * the context's `release`, when and as the strategy decides.
 */
export interface MixStrategy<T> {
  readonly name: StrategyName;
  add(item: T): void;
  /** Packets waiting in the pool. */
  readonly queued: number;
  /** Cancels timers and returns what was still pooled (for shutdown). */
  stop(): T[];
}
