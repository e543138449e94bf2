import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, stoppedError } from './option-checks.ts';
import { every } from './periodic.ts';
import { shuffle } from './rng.ts';

export interface TimedOptions {
  /** Period: every this many milliseconds, everything pooled is released. */
  readonly intervalMs: number;
}

/**
 * Timed mix: every t, release everything pooled as one shuffled batch. The schedule
 * runs from construction at fixed instants whatever the traffic; a tick that finds
 * the pool empty releases nothing (no empty batch) and the next tick stays on schedule.
 */
export class TimedStrategy<T> implements MixStrategy<T> {
  readonly name = 'timed' as const;
  readonly #context: StrategyContext<T>;
  #pool: T[] = [];
  #stopTicks: (() => void) | undefined;

  constructor(options: TimedOptions, context: StrategyContext<T>) {
    requirePositiveDuration('intervalMs', options.intervalMs);
    this.#context = context;
    this.#stopTicks = every(context.clock, options.intervalMs, () => this.#releasePool());
  }

  get queued(): number {
    return this.#pool.length;
  }

  add(item: T): void {
    if (!this.#stopTicks) throw stoppedError(this.name);
    this.#pool.push(item);
  }

  stop(): T[] {
    this.#stopTicks?.();
    this.#stopTicks = undefined;
    const left = this.#pool;
    this.#pool = [];
    return left;
  }

  #releasePool(): void {
    if (this.#pool.length === 0) return;
    const batch = this.#pool;
    this.#pool = [];
    this.#context.release(shuffle(batch, this.#context.rng));
  }
}
