import { randomInt } from 'node:crypto';

/** Randomness as mixing logic sees it, injected so that tests can fix it. */
export interface Rng {
  /** A uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
}

/** The operating system's CSPRNG, without modulo bias (node:crypto randomInt). */
export const secureRng: Rng = {
  int: (maxExclusive) => randomInt(maxExclusive),
};

/** Shuffles `items` in place with Fisher–Yates and returns it; uniform when `rng` is. */
export function shuffle<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const held = items[i] as T;
    items[i] = items[j] as T;
    items[j] = held;
  }
  return items;
}
