import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requirePositiveInteger, stoppedError } from './option-checks.ts';
import { every } from './periodic.ts';
import { shuffle } from './rng.ts';

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
export class ThresholdAndTimedStrategy<T> implements MixStrategy<T> {
  readonly name = 'threshold-and-timed' as const;
  readonly #threshold: number;
  readonly #context: StrategyContext<T>;
  #pool: T[] = [];
  #stopTicks: (() => void) | undefined;

  constructor(options: ThresholdAndTimedOptions, context: StrategyContext<T>) {
    requirePositiveInteger('threshold', options.threshold);
    requirePositiveDuration('intervalMs', options.intervalMs);
    this.#threshold = options.threshold;
    this.#context = context;
    this.#stopTicks = every(context.clock, options.intervalMs, () => this.#tick());
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

  #tick(): void {
    if (this.#pool.length < this.#threshold) return;
    const batch = this.#pool;
    this.#pool = [];
    this.#context.release(shuffle(batch, this.#context.rng));
  }
}
