import type { Random } from './random.ts';

/** An exponentially distributed delay in ms with mean `meanMs`, drawn by inverse transform. */
export function exponentialDelay(meanMs: number, random: Random): number {
  // float() is in [0, 1), so 1 - u is in (0, 1] and the logarithm is finite;
  // log1p keeps precision for small u and yields +0, not -0, for u = 0.
  return -Math.log1p(-random.float()) * meanMs;
}

/** One gap in ms between events of a Poisson process of `ratePerSecond`. */
export function exponentialGapMs(ratePerSecond: number, random: Random): number {
  return exponentialDelay(1000 / ratePerSecond, random);
}

/** The event instants (ms from the start, ascending, all < durationMs) of a Poisson process. */
export function poissonSchedule(ratePerSecond: number, durationMs: number, random: Random): number[] {
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
    throw new RangeError(`rate must be a number of messages per second > 0, got ${ratePerSecond}`);
  }
  const instants: number[] = [];
  for (
    let at = exponentialGapMs(ratePerSecond, random);
    at < durationMs;
    at += exponentialGapMs(ratePerSecond, random)
  ) {
    instants.push(at);
  }
  return instants;
}
