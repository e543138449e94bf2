import { randomFillSync, randomInt } from 'node:crypto';

/** Randomness as mixing logic sees it, injected so that tests can fix it. */
export interface Rng {
  /** A uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** A uniform float in [0, 1). */
  float(): number;
}

// Random bytes are fetched in blocks, as randomInt does internally: one call per float
// costs microseconds, which a binomial mix drawing for every pooled packet would feel.
const floatBlock = Buffer.alloc(8 * 512);
let floatOffset = floatBlock.length;

/** The operating system's CSPRNG (node:crypto): integers without modulo bias, 53-bit floats. */
export const secureRng: Rng = {
  int: (maxExclusive) => randomInt(maxExclusive),
  float() {
    if (floatOffset === floatBlock.length) {
      randomFillSync(floatBlock);
      floatOffset = 0;
    }
    // 21 + 32 random bits: every multiple of 2^-53 in [0, 1) is equally likely.
    const high = floatBlock.readUInt32BE(floatOffset) >>> 11;
    const low = floatBlock.readUInt32BE(floatOffset + 4);
    floatOffset += 8;
    return (high * 2 ** 32 + low) / 2 ** 53;
  },
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

/**
 * Removes `count` items chosen uniformly at random from `items` and returns them in
 * uniformly random order (a partial Fisher–Yates from the end; with `count` equal to
 * the length it draws exactly as `shuffle` does). What stays behind is reordered.
 */
export function takeRandom<T>(items: T[], count: number, rng: Rng): T[] {
  const length = items.length;
  if (!Number.isInteger(count) || count < 0 || count > length) {
    throw new RangeError(`count must be an integer in [0, ${length}], got ${count}`);
  }
  for (let i = length - 1; i >= length - count && i > 0; i--) {
    const j = rng.int(i + 1);
    const held = items[i] as T;
    items[i] = items[j] as T;
    items[j] = held;
  }
  return items.splice(length - count, count);
}
