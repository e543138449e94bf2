import { shuffle } from '@mixlab/runtime';
import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requirePositiveInteger, stoppedError } from './option-checks.ts';

export interface ThresholdOptions {
  /** Batch size: the pool releases exactly this many once this many have arrived. */
  readonly threshold: number;
  /**
   * Optional flush: release whatever is pooled this long after the first packet
   * of a batch arrived, so that a lone message is not held forever. Off when undefined.
   */
  readonly maxWaitMs?: number | undefined;
}

/** Threshold batching (Chaum 1981): collect n, shuffle, release all n. */
export class ThresholdStrategy<T> implements MixStrategy<T> {
  readonly name = 'threshold' as const;
  readonly #options: ThresholdOptions;
  readonly #context: StrategyContext<T>;
  #pool: T[] = [];
  #cancelFlush: (() => void) | undefined;
  #stopped = false;

  constructor(options: ThresholdOptions, context: StrategyContext<T>) {
    requirePositiveInteger('threshold', options.threshold);
    if (options.maxWaitMs !== undefined) requirePositiveDuration('maxWaitMs', options.maxWaitMs);
    this.#options = options;
    this.#context = context;
  }

  get queued(): number {
    return this.#pool.length;
  }

  add(item: T): void {
    if (this.#stopped) throw stoppedError(this.name);
    this.#pool.push(item);
    if (this.#pool.length >= this.#options.threshold) {
      this.#releasePool();
    } else if (this.#pool.length === 1 && this.#options.maxWaitMs !== undefined) {
      this.#cancelFlush = this.#context.clock.schedule(this.#options.maxWaitMs, () => {
        this.#cancelFlush = undefined;
        this.#releasePool();
      });
    }
  }

  stop(): T[] {
    this.#stopped = true;
    return this.#drain();
  }

  #drain(): T[] {
    this.#cancelFlush?.();
    this.#cancelFlush = undefined;
    const left = this.#pool;
    this.#pool = [];
    return left;
  }

  #releasePool(): void {
    const batch = this.#drain();
    if (batch.length > 0) this.#context.release(shuffle(batch, this.#context.random));
  }
}
