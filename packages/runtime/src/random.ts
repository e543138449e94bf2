import { randomFillSync, randomInt } from 'node:crypto';

/**
 * Randomness for choices and timing (routes, delays, shuffles, schedules), injected so
 * that tests and experiments can fix it. It deliberately has no bytes: key material
 * comes only from @mixlab/crypto's randomBytes, so a seeded Random can never become a key.
 */
export interface Random {
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
export const secureRandom: Random = {
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

/** A reproducible Random that can split off independent, named streams. */
export interface SeededRandom extends Random {
  /**
   * The stream named `name` under this one's seed: the same for the same seed and name,
   * whatever has been drawn from this stream or its other forks, so adding a consumer
   * does not shift the draws of the others.
   */
  fork(name: string): SeededRandom;
}

/** murmur3's 32-bit finaliser: spreads every input bit over the whole word. */
function mix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of the stream `name` under `seed` (FNV-1a over the name, keyed and finalised by mix32). */
function forkSeed(seed: number, name: string): number {
  let h = mix32(seed ^ 0x9e3779b9);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/**
 * mulberry32: a small, fast, seeded generator with good enough statistics for
 * simulations and reproducible experiments. Predictable, so never for secrets.
 */
export function seededRandom(seed: number): SeededRandom {
  const origin = seed >>> 0;
  let state = origin;
  const float = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    int: (maxExclusive) => Math.floor(float() * maxExclusive),
    float,
    fork: (name) => seededRandom(forkSeed(origin, name)),
  };
}
