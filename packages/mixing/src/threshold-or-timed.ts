import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requirePositiveInteger, stoppedError } from './option-checks.ts';
import { every } from './periodic.ts';
import { shuffle } from './rng.ts';

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
export class ThresholdOrTimedStrategy<T> implements MixStrategy<T> {
  readonly name = 'threshold-or-timed' as const;
  readonly #threshold: number;
  readonly #context: StrategyContext<T>;
  #pool: T[] = [];
  #stopTicks: (() => void) | undefined;

  constructor(options: ThresholdOrTimedOptions, context: StrategyContext<T>) {
    requirePositiveInteger('threshold', options.threshold);
    requirePositiveDuration('intervalMs', options.intervalMs);
    this.#threshold = options.threshold;
    this.#context = context;
    this.#stopTicks = every(context.clock, options.intervalMs, () => this.#releasePool());
  }

  get queued(): number {
    return this.#pool.length;
  }

  add(item: T): void {
    if (!this.#stopTicks) throw stoppedError(this.name);
    this.#pool.push(item);
    if (this.#pool.length >= this.#threshold) this.#releasePool();
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
