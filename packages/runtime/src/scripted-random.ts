// Deterministic randomness for tests: a Random that answers from a script.
import type { Random } from './random.ts';

/**
 * A Random that returns exactly the given draws, in order, to `int` and `float` alike,
 * and fails the test if a draw is out of the requested range or the script runs out.
 */
export function scriptedRandom(draws: readonly number[]): Random & { readonly used: number } {
  let next = 0;
  const take = (): number => {
    const value = draws[next];
    if (value === undefined) throw new Error(`scriptedRandom: script of ${draws.length} draws exhausted`);
    next++;
    return value;
  };
  return {
    int(maxExclusive) {
      const value = take();
      if (!Number.isInteger(value) || value < 0 || value >= maxExclusive) {
        throw new Error(`scriptedRandom: draw ${next - 1} is ${value}, not an integer in [0, ${maxExclusive})`);
      }
      return value;
    },
    float() {
      const value = take();
      if (!(value >= 0 && value < 1)) throw new Error(`scriptedRandom: draw ${next - 1} is ${value}, not in [0, 1)`);
      return value;
    },
    get used() {
      return next;
    },
  };
}

/** Every script of Fisher–Yates draws for `n` items: j in [0, i] for i = n-1 down to 1. */
export function allShuffleDraws(n: number): number[][] {
  let sequences: number[][] = [[]];
  for (let i = n - 1; i > 0; i--) {
    sequences = sequences.flatMap((prefix) => Array.from({ length: i + 1 }, (_, j) => [...prefix, j]));
  }
  return sequences;
}
