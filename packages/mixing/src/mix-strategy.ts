import type { Clock, Random } from '@mixlab/runtime';

/** Every strategy the testbed implements, by the name used in configuration and metrics. */
export const strategyNames = [
  'threshold',
  'timed',
  'threshold-or-timed',
  'threshold-and-timed',
  'pool',
  'binomial',
  'exponential',
] as const;

export type StrategyName = (typeof strategyNames)[number];

/** What every strategy is given: time, randomness, and where released batches go. */
export interface StrategyContext<T> {
  readonly clock: Clock;
  readonly random: Random;
  /** Receives each released batch, already shuffled; never called with an empty batch. */
  readonly release: (batch: T[]) => void;
}

/**
 * A mix's pool: packets go in with `add`, come out in shuffled batches through
 * the context's `release`, when and as the strategy decides.
 */
export interface MixStrategy<T> {
  readonly name: StrategyName;
  /** Pools a packet; throws once the strategy has been stopped. */
  add(item: T): void;
  /** Packets waiting in the pool. */
  readonly queued: number;
  /** Cancels timers and returns what was still pooled (for shutdown); final and idempotent. */
  stop(): T[];
}
