/**
 * Runs: packets that entered a pool or relay together and that the observer cannot tell apart,
 * kept oldest first. Mixtures of runs give a release's distribution without storing supports.
 */

/**
 * Packets with one sender distribution. Over the node's inputs they are either `distinct`
 * (fresh arrivals: `count` different input packets, each certain of itself) or share one
 * distribution with entropy `entropyBits` (what stays in a pool after a uniform release).
 */
export interface Run {
  count: number;
  readonly distinct: boolean;
  readonly entropyBits: number;
  /** Probability per client, plus a last entry for mass the observer cannot attribute. Never mutated. */
  readonly senders: Float64Array;
  readonly arrivedAtMs: number;
}

/** A FIFO of runs with a bound on how many it keeps; `take` splits a run when needed. */
export class RunQueue {
  readonly #maxRuns: number;
  #runs: Run[] = [];
  #head = 0;
  #packets = 0;

  constructor(maxRuns: number) {
    this.#maxRuns = maxRuns;
  }

  /** Packets held. */
  get packets(): number {
    return this.#packets;
  }

  /** Runs held: the queue's memory, in entries. */
  get runs(): number {
    return this.#runs.length - this.#head;
  }

  get oldest(): Run | undefined {
    return this.#runs[this.#head];
  }

  /** Appends a run; returns how many packets were evicted from the front to stay within the bound. */
  push(run: Run): number {
    if (run.count <= 0) return 0;
    this.#runs.push(run);
    this.#packets += run.count;
    let evicted = 0;
    while (this.runs > this.#maxRuns) {
      const dropped = this.#runs[this.#head++] as Run;
      this.#packets -= dropped.count;
      evicted += dropped.count;
    }
    this.#compact();
    return evicted;
  }

  /** Removes the `count` oldest packets (or all, if fewer), visiting each run's share in order; returns how many. */
  take(count: number, visit: (run: Run, taken: number) => void): number {
    let taken = 0;
    while (taken < count && this.#head < this.#runs.length) {
      const run = this.#runs[this.#head] as Run;
      const share = Math.min(run.count, count - taken);
      visit(run, share);
      taken += share;
      if (share === run.count) this.#head++;
      else run.count -= share;
    }
    this.#packets -= taken;
    this.#compact();
    return taken;
  }

  /** How many packets, counted from the oldest, arrived at or before `ms` (strictly before when `strict`). */
  countArrivedBy(ms: number, strict: boolean): number {
    let count = 0;
    for (let i = this.#head; i < this.#runs.length; i++) {
      const run = this.#runs[i] as Run;
      if (strict ? run.arrivedAtMs >= ms : run.arrivedAtMs > ms) break;
      count += run.count;
    }
    return count;
  }

  #compact(): void {
    if (this.#head === this.#runs.length) {
      this.#runs.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#runs.length) {
      this.#runs = this.#runs.slice(this.#head);
      this.#head = 0;
    }
  }
}

/**
 * The distribution of a packet drawn uniformly from a set of runs (whole or partial). The runs'
 * supports over the node's inputs are disjoint, so the entropy of the mixture is
 * H = Σ w_i (H_i − log2 w_i) with w_i = t_i / T, written here as log2 T + Σ t_i (H_i − log2 t_i) / T;
 * a distinct run of t packets is a uniform class with H_i = log2 t_i and adds nothing to the sum.
 * Sender distributions mix linearly. A single run, or runs sharing one sender vector, keep that
 * very vector, so results pass through a cascade bit for bit.
 */
export class Mixture {
  readonly #width: number;
  #total = 0;
  #weightedEntropy = 0;
  #common: Float64Array | undefined;
  #sum: Float64Array | undefined;

  constructor(width: number) {
    this.#width = width;
  }

  add(run: Run, taken: number): void {
    if (taken <= 0) return;
    this.#total += taken;
    if (!run.distinct) this.#weightedEntropy += taken * (run.entropyBits - Math.log2(taken));
    if (this.#sum) {
      addScaled(this.#sum, run.senders, taken);
    } else if (this.#common === undefined) {
      this.#common = run.senders;
    } else if (this.#common !== run.senders) {
      this.#sum = new Float64Array(this.#width);
      addScaled(this.#sum, this.#common, this.#total - taken);
      addScaled(this.#sum, run.senders, taken);
    }
  }

  get total(): number {
    return this.#total;
  }

  /** Entropy over the inputs (bits) and the sender vector of the mixture; undefined when empty. */
  result(): { entropyBits: number; senders: Float64Array } | undefined {
    if (this.#total === 0 || this.#common === undefined) return undefined;
    const entropy = Math.log2(this.#total) + this.#weightedEntropy / this.#total;
    let senders = this.#common;
    if (this.#sum) {
      senders = this.#sum;
      for (let i = 0; i < senders.length; i++) senders[i] = (senders[i] as number) / this.#total;
    }
    return { entropyBits: Math.max(entropy, 0), senders };
  }
}

function addScaled(into: Float64Array, vector: Float64Array, scale: number): void {
  for (let i = 0; i < into.length; i++) into[i] = (into[i] as number) + scale * (vector[i] as number);
}
