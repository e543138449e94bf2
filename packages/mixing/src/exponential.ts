import { exponentialDelay } from '@mixlab/runtime';
import type { MixStrategy, StrategyContext } from './mix-strategy.ts';
import { requirePositiveDuration, stoppedError } from './option-checks.ts';

export interface ExponentialOptions<T> {
  /** Mean of the exponential delay drawn for a packet that carries none. */
  readonly meanDelayMs?: number | undefined;
  /**
   * Reads the delay the sender chose for this packet (Loopix: carried in the packet's
   * routing information), or undefined when it carries none.
   */
  readonly delayOf?: ((item: T) => number | undefined) | undefined;
}

/**
 * Continuous-time mix (Stop-and-Go, Loopix): each packet is held for its own delay and
 * released alone, as a batch of one, when the delay expires. The delay is the one the
 * packet carries (delayOf) or else drawn from an exponential distribution with mean
 * meanDelayMs; exponential delays are memoryless, so the time a packet has already
 * waited tells an observer nothing about which one leaves next.
 */
export class ExponentialStrategy<T> implements MixStrategy<T> {
  readonly name = 'exponential' as const;
  readonly #options: ExponentialOptions<T>;
  readonly #context: StrategyContext<T>;
  readonly #held = new Map<number, { item: T; cancel: () => void }>();
  #nextId = 0;
  #stopped = false;

  constructor(options: ExponentialOptions<T>, context: StrategyContext<T>) {
    if (options.meanDelayMs === undefined && options.delayOf === undefined) {
      throw new RangeError('exponential needs meanDelayMs, delayOf, or both (delayOf first, meanDelayMs as fallback)');
    }
    if (options.meanDelayMs !== undefined) requirePositiveDuration('meanDelayMs', options.meanDelayMs);
    this.#options = options;
    this.#context = context;
  }

  get queued(): number {
    return this.#held.size;
  }

  /** Holds the packet for its carried or drawn delay; throws if it has neither or a bad one. */
  add(item: T): void {
    if (this.#stopped) throw stoppedError(this.name);
    const delayMs = this.#delayFor(item);
    const id = this.#nextId++;
    const cancel = this.#context.clock.schedule(delayMs, () => {
      this.#held.delete(id);
      this.#context.release([item]);
    });
    this.#held.set(id, { item, cancel });
  }

  stop(): T[] {
    this.#stopped = true;
    const left: T[] = [];
    for (const { item, cancel } of this.#held.values()) {
      cancel();
      left.push(item);
    }
    this.#held.clear();
    return left;
  }

  #delayFor(item: T): number {
    const carried = this.#options.delayOf?.(item);
    if (carried !== undefined) {
      if (!(carried >= 0) || !Number.isFinite(carried)) {
        throw new RangeError(`a packet's delay must be a finite number of milliseconds >= 0, got ${carried}`);
      }
      return carried;
    }
    if (this.#options.meanDelayMs === undefined) {
      throw new Error('this packet carries no delay and no meanDelayMs is configured to draw one');
    }
    return exponentialDelay(this.#options.meanDelayMs, this.#context.random);
  }
}
