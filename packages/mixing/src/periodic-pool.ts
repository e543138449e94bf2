import { shuffle } from '@mixlab/runtime';
import type { MixStrategy, StrategyContext, StrategyName } from './mix-strategy.ts';
import { stoppedError } from './option-checks.ts';
import { every } from './periodic.ts';

/**
 * What the periodic strategies share: a pool that `add` fills, a tick every intervalMs
 * from construction (see `every`) that calls `onTick`, and `stop`, which cancels the
 * ticks and hands back what was pooled. A subclass validates its options before calling
 * `super` and says in `onTick` (and, if it releases on arrival, `onAdd`) what leaves.
 */
export abstract class PeriodicPool<T> implements MixStrategy<T> {
  abstract readonly name: StrategyName;
  protected readonly context: StrategyContext<T>;
  #pool: T[] = [];
  #stopTicks: (() => void) | undefined;

  constructor(intervalMs: number, context: StrategyContext<T>) {
    this.context = context;
    this.#stopTicks = every(context.clock, intervalMs, () => this.onTick());
  }

  get queued(): number {
    return this.#pool.length;
  }

  add(item: T): void {
    if (!this.#stopTicks) throw stoppedError(this.name);
    this.#pool.push(item);
    this.onAdd();
  }

  stop(): T[] {
    this.#stopTicks?.();
    this.#stopTicks = undefined;
    return this.take();
  }

  /** Called at every tick, whatever is pooled. */
  protected abstract onTick(): void;

  /** Called after each `add` has pooled its item; nothing by default. */
  protected onAdd(): void {}

  /** The pooled items themselves, for a subclass that takes from them in place. */
  protected get pooled(): T[] {
    return this.#pool;
  }

  /** Removes and returns everything pooled, or, given `leaves`, the items it picks (in pool order). */
  protected take(leaves?: (item: T) => boolean): T[] {
    if (!leaves) {
      const all = this.#pool;
      this.#pool = [];
      return all;
    }
    const leaving: T[] = [];
    const staying: T[] = [];
    for (const item of this.#pool) (leaves(item) ? leaving : staying).push(item);
    this.#pool = staying;
    return leaving;
  }

  /** Shuffles `batch` with the context's random source and releases it; an empty batch is not released. */
  protected releaseBatch(batch: T[]): void {
    if (batch.length > 0) this.context.release(shuffle(batch, this.context.random));
  }
}
