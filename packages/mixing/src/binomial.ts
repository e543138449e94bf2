import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, requireUnitInterval, stoppedError } from './option-checks.ts';
import { every } from './periodic.ts';
import { shuffle } from './rng.ts';

export interface BinomialOptions {
  /** Ticks come every this many milliseconds. */
  readonly intervalMs: number;
  /** Chance, in (0, 1], that each pooled packet leaves at a tick. */
  readonly probability: number;
}

/**
 * Binomial mix (Díaz & Serjantov): at each tick of a fixed period t, every pooled
 * packet leaves independently with probability p, so the batch size is
 * Binomial(pooled, p) and an observer cannot tell how many packets stayed behind.
 * A packet's stay is geometric: t × (1/p) on average.
 */
export class BinomialStrategy<T> implements MixStrategy<T> {
  readonly name = 'binomial' as const;
  readonly #probability: number;
  readonly #context: StrategyContext<T>;
  #pool: T[] = [];
  #stopTicks: (() => void) | undefined;

  constructor(options: BinomialOptions, context: StrategyContext<T>) {
    requirePositiveDuration('intervalMs', options.intervalMs);
    requireUnitInterval('probability', options.probability);
    this.#probability = options.probability;
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
    const leaving: T[] = [];
    const staying: T[] = [];
    for (const item of this.#pool) {
      (this.#context.rng.float() < this.#probability ? leaving : staying).push(item);
    }
    this.#pool = staying;
    if (leaving.length > 0) this.#context.release(shuffle(leaving, this.#context.rng));
  }
}
