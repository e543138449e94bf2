import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { shuffle } from './rng.ts';

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

  constructor(options: ThresholdOptions, context: StrategyContext<T>) {
    if (!Number.isInteger(options.threshold) || options.threshold < 1) {
      throw new RangeError(`threshold must be a positive integer, got ${options.threshold}`);
    }
    if (options.maxWaitMs !== undefined && !(options.maxWaitMs > 0)) {
      throw new RangeError(`maxWaitMs must be positive when set, got ${options.maxWaitMs}`);
    }
    this.#options = options;
    this.#context = context;
  }

  get queued(): number {
    return this.#pool.length;
  }

  add(item: T): void {
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
    this.#cancelFlush?.();
    this.#cancelFlush = undefined;
    const left = this.#pool;
    this.#pool = [];
    return left;
  }

  #releasePool(): void {
    const batch = this.stop();
    if (batch.length > 0) this.#context.release(shuffle(batch, this.#context.rng));
  }
}
