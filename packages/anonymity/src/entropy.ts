/** Entropy arithmetic in bits, shared by the observer, the scorer and the closed forms. */

/** Shannon entropy −Σ p log2 p of a probability vector; zero entries contribute nothing. */
export function entropyBits(probabilities: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const p = probabilities[i] as number;
    if (p > 0) sum -= p * Math.log2(p);
  }
  // Rounding can leave −0 or −1e-17 for a point mass.
  return Math.max(sum, 0);
}

/** Binary entropy H_b(p) = −p log2 p − (1−p) log2 (1−p), with H_b(0) = H_b(1) = 0. */
export function binaryEntropyBits(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`binary entropy needs p in [0, 1], got ${p}`);
  return entropyBits([p, 1 - p]);
}

/** 2^H: the number of equally likely candidates with the same entropy. */
export function effectiveAnonymitySetSize(entropy: number): number {
  return 2 ** entropy;
}

/**
 * Degree of anonymity H / log2 N (Díaz, Seys, Claessens & Preneel, PET 2002): 1 when every one
 * of the N candidates is equally likely, 0 when one is certain. 0 when N <= 1, where no
 * anonymity is possible.
 */
export function anonymityDegree(entropy: number, candidates: number): number {
  return candidates > 1 ? entropy / Math.log2(candidates) : 0;
}
