/**
 * Closed forms from the literature for the anonymity (entropy over senders, in bits) that each
 * mixing strategy gives in steady state, for experiments to compare the observer against.
 */
import { binaryEntropyBits } from './entropy.ts';

function requireCount(what: string, value: number, min: number): void {
  if (!(Number.isSafeInteger(value) && value >= min)) {
    throw new RangeError(`${what} must be a whole number >= ${min}, got ${value}`);
  }
}

function requirePositive(what: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${what} must be a number > 0, got ${value}`);
}

/**
 * Threshold mix of n with n distinct senders per batch: each output is uniform over the batch,
 * H = log2 n (Chaum, CACM 1981; as an entropy: Serjantov & Danezis, PET 2002, and Díaz, Seys,
 * Claessens & Preneel, PET 2002).
 */
export function thresholdEntropyBits(n: number): number {
  requireCount('n', n, 1);
  return Math.log2(n);
}

/** A batch-size histogram: [batch size, how many batches had it] pairs (a Map works). */
export type BatchSizeHistogram = Iterable<readonly [size: number, batches: number]>;

function histogramMean(histogram: BatchSizeHistogram, weightBySize: boolean): number {
  let weighted = 0;
  let total = 0;
  for (const [size, batches] of histogram) {
    requireCount('a batch size', size, 1);
    if (!(Number.isFinite(batches) && batches >= 0)) throw new RangeError(`batch counts must be >= 0, got ${batches}`);
    const weight = weightBySize ? size * batches : batches;
    weighted += weight * Math.log2(size);
    total += weight;
  }
  if (total === 0) throw new RangeError('the histogram holds no batch');
  return weighted / total;
}

/**
 * Threshold mix with max-wait (and any mix whose batches are uniform, as timed ones): a batch of
 * b gives each of its messages log2 b, so the mean over batches is Σ_b c_b log2 b / Σ_b c_b
 * (the per-batch form of the threshold entropy above).
 */
export function batchEntropyPerBatchBits(histogram: BatchSizeHistogram): number {
  return histogramMean(histogram, false);
}

/**
 * The same, averaged over messages instead of batches: Σ_b c_b b log2 b / Σ_b c_b b. This is
 * what the mean of the observer's per-message entropies converges to.
 */
export function batchEntropyPerMessageBits(histogram: BatchSizeHistogram): number {
  return histogramMean(histogram, true);
}

/**
 * Pool mix that keeps n, receives N per round and sends N chosen uniformly from the N + n:
 * H = log2(N + n) + (n/N) log2((N + n)/n) (Serjantov & Danezis, "Towards an information
 * theoretic metric for anonymity", PET 2002). n = 0 is the threshold mix, log2 N.
 */
export function poolMixEntropyBits(arrivalsPerRound: number, kept: number): number {
  requireCount('arrivals per round (N)', arrivalsPerRound, 1);
  requireCount('packets kept (n)', kept, 0);
  const N = arrivalsPerRound;
  const n = kept;
  return Math.log2(N + n) + (n === 0 ? 0 : (n / N) * Math.log2((N + n) / n));
}

/**
 * Binomial mix (Díaz & Serjantov, "Generalising mixes", PET 2003), mean field: N arrive per
 * round, each pooled packet leaves with probability p, so the pool holds N/p at a tick and a
 * message that leaves is k rounds old with probability p(1 − p)^k, uniform over that round's N.
 * Summing as Serjantov & Danezis do for the pool mix: H = log2 N + H_b(p)/p, with the binary
 * entropy H_b. Exact for a pool that holds its mean; random batch sizes move it a little.
 */
export function binomialMeanFieldEntropyBits(arrivalsPerRound: number, probability: number): number {
  requirePositive('arrivals per round (N)', arrivalsPerRound);
  if (!(probability > 0 && probability <= 1)) throw new RangeError(`p must be in (0, 1], got ${probability}`);
  return Math.log2(arrivalsPerRound) + binaryEntropyBits(probability) / probability;
}

/**
 * Continuous-time (exponential) mix with Poisson arrivals at rate λ and exponential delays of
 * mean 1/μ: the entropy of a leaving message's sender approaches log2(e λ/μ) when λ/μ ≫ 1
 * (Danezis, "The traffic analysis of continuous-time mixes", PET 2004). λ and μ in the same
 * unit (per second, or per ms).
 */
export function exponentialMixEntropyBits(arrivalRate: number, departureRate: number): number {
  requirePositive('arrival rate (λ)', arrivalRate);
  requirePositive('departure rate (μ)', departureRate);
  return Math.log2((Math.E * arrivalRate) / departureRate);
}

/** A uniform float in [0, 1); @mixlab/runtime's Random fits. */
export interface UniformSource {
  float(): number;
}

/**
 * The expected entropy, exactly at a finite λ/μ, of what a passive adversary that sees every
 * arrival and departure of the same mix (Poisson arrivals at λ, exponential delays of mean
 * 1/μ) gives a leaving message: by memorylessness each departure is a uniform draw from the k
 * pooled packets, so each input's probability of being the one is its chance of still being
 * pooled over k (the observer's model, packages/anonymity/src/observer.ts). Estimated by a
 * seeded Monte Carlo of the M/M/∞ jump chain over `meanDelays` mean delays after a warm-up of
 * 20; the pool is kept as one shared distribution plus the arrivals since the last departure,
 * so each step is O(1). Depends only on λ/μ; tends to log2(e λ/μ) as λ/μ grows (within 0.01
 * bits from λ/μ = 5 with the default length, see the tests).
 */
export function exponentialMixExpectedEntropyBits(
  arrivalRate: number,
  departureRate: number,
  random: UniformSource,
  meanDelays = 20_000,
): number {
  requirePositive('arrival rate (λ)', arrivalRate);
  requirePositive('departure rate (μ)', departureRate);
  requirePositive('mean delays', meanDelays);
  const ratio = arrivalRate / departureRate;
  // About ratio departures per mean delay, and at least one per mean delay.
  const warmup = Math.ceil(20 * Math.max(ratio, 1));
  const departures = warmup + Math.ceil(meanDelays * Math.max(ratio, 1));
  let shared = 0; // pooled packets that share one distribution over the inputs, of entropy `bits`
  let bits = 0;
  let fresh = 0; // arrivals since the last departure, each certainly itself
  let sum = 0;
  for (let departed = 0; departed < departures; ) {
    const pooled = shared + fresh;
    // Rates: an arrival λ, a departure μ per pooled packet (μ = 1, time in mean delays).
    if (random.float() * (ratio + pooled) < ratio) {
      fresh += 1;
      continue;
    }
    const sharedWeight = shared / pooled;
    const out =
      (shared > 0 ? sharedWeight * (bits - Math.log2(sharedWeight)) : 0) + (fresh / pooled) * Math.log2(pooled);
    departed += 1;
    if (departed > warmup) sum += out;
    shared = pooled - 1;
    bits = out;
    fresh = 0;
  }
  return sum / (departures - warmup);
}

/**
 * Steady-state pool of the same mix: an M/M/∞ queue, so the number pooled is Poisson with mean
 * λ/μ (Little's law for the mean; the Poisson law is the M/M/∞ stationary distribution, e.g.
 * Kleinrock, Queueing Systems vol. 1, 1975).
 */
export function exponentialMixPoolSize(
  arrivalRate: number,
  departureRate: number,
): { readonly mean: number; probability(pooled: number): number } {
  requirePositive('arrival rate (λ)', arrivalRate);
  requirePositive('departure rate (μ)', departureRate);
  const mean = arrivalRate / departureRate;
  return {
    mean,
    probability(pooled) {
      if (!(Number.isSafeInteger(pooled) && pooled >= 0)) return 0;
      // In logs, so that e^−mean does not underflow for large pools.
      let log = pooled * Math.log(mean) - mean;
      for (let i = 2; i <= pooled; i++) log -= Math.log(i);
      return Math.exp(log);
    },
  };
}
