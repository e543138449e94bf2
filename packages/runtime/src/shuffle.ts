import type { Random } from './random.ts';

/** Shuffles `items` in place with Fisher–Yates and returns it; uniform when `random` is. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const held = items[i] as T;
    items[i] = items[j] as T;
    items[j] = held;
  }
  return items;
}

/**
 * Removes `count` items chosen uniformly at random from `items` and returns them in
 * uniformly random order (a partial Fisher–Yates from the end; with `count` equal to
 * the length it draws exactly as `shuffle` does). What stays behind is reordered.
 */
export function takeRandom<T>(items: T[], count: number, random: Random): T[] {
  const length = items.length;
  if (!Number.isInteger(count) || count < 0 || count > length) {
    throw new RangeError(`count must be an integer in [0, ${length}], got ${count}`);
  }
  for (let i = length - 1; i >= length - count && i > 0; i--) {
    const j = random.int(i + 1);
    const held = items[i] as T;
    items[i] = items[j] as T;
    items[j] = held;
  }
  return items.splice(length - count, count);
}
