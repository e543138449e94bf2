// Deterministic randomness for tests only; never exported from the package.
import type { Rng } from './rng.ts';

/**
 * An Rng that returns exactly the given draws, in order, to `int` and `float` alike,
 * and fails the test if a draw is out of the requested range or the script runs out.
 */
export function scriptedRng(draws: readonly number[]): Rng & { readonly used: number } {
  let next = 0;
  const take = (): number => {
    const value = draws[next];
    if (value === undefined) throw new Error(`scriptedRng: script of ${draws.length} draws exhausted`);
    next++;
    return value;
  };
  return {
    int(maxExclusive) {
      const value = take();
      if (!Number.isInteger(value) || value < 0 || value >= maxExclusive) {
        throw new Error(`scriptedRng: draw ${next - 1} is ${value}, not an integer in [0, ${maxExclusive})`);
      }
      return value;
    },
    float() {
      const value = take();
      if (!(value >= 0 && value < 1)) throw new Error(`scriptedRng: draw ${next - 1} is ${value}, not in [0, 1)`);
      return value;
    },
    get used() {
      return next;
    },
  };
}

/** mulberry32: a small, fast, seeded PRNG with good enough statistics for tests. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  const nextFloat = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (maxExclusive) => Math.floor(nextFloat() * maxExclusive),
    float: nextFloat,
  };
}

/** Every sequence of Fisher–Yates draws for `n` items: j in [0, i] for i = n-1 down to 1. */
export function allShuffleDraws(n: number): number[][] {
  let sequences: number[][] = [[]];
  for (let i = n - 1; i > 0; i--) {
    sequences = sequences.flatMap((prefix) => Array.from({ length: i + 1 }, (_, j) => [...prefix, j]));
  }
  return sequences;
}
