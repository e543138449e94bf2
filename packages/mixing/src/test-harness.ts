// Shared test scaffolding: a ManualClock, a recording `release`, and a chosen Random.

import type { Random } from '@mixlab/runtime';
import { ManualClock, seededRandom } from '@mixlab/runtime';
import type { StrategyContext } from './mix-strategy.ts';

export interface Harness<T> {
  readonly clock: ManualClock;
  /** Every released batch, in release order. */
  readonly batches: T[][];
  /** The clock's time at each release, aligned with `batches`. */
  readonly releasedAt: number[];
  readonly context: StrategyContext<T>;
}

export function harness<T>(random: Random = seededRandom(1)): Harness<T> {
  const clock = new ManualClock();
  const batches: T[][] = [];
  const releasedAt: number[] = [];
  const release = (batch: T[]): void => {
    batches.push(batch);
    releasedAt.push(clock.now());
  };
  return { clock, batches, releasedAt, context: { clock, random, release } };
}

/** Sorted copy, to compare a batch's contents regardless of its shuffled order. */
export function sorted<T extends string | number>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
