/**
 * The statistical disclosure attack (passive, long-term; Danezis, "Statistical disclosure
 * attacks", SEC 2003): the target sends to m friends chosen uniformly, everyone else to
 * uniform recipients among N; over many rounds (batches) the attacker sees which senders were
 * active and which recipients received. Averaging the recipients of the rounds the target
 * was in, and subtracting what the others send (learned from the rounds without the target,
 * or uniform), leaves the target's friends on top.
 */
import type { Roles, WireEvent } from '@mixlab/anonymity';
import type { SeededRandom } from '@mixlab/runtime';
import { traceEnds } from './trace.ts';

/** What the attacker sees of one round: who sent and who received (names, repeats allowed). */
export interface DisclosureRound {
  readonly senders: readonly string[];
  readonly recipients: readonly string[];
}

/**
 * Cuts a wire trace into rounds of `roundMs` (from `startMs`, default 0): a round's senders
 * are the clients that submitted in [start + k R, start + (k + 1) R), its recipients those
 * pushed to in the same window shifted by `lagMs` (the mixing delay; for a timed mix of
 * period R with its ticks on the round boundaries, any lag in (0, R]). Exact for batches that
 * line up with the windows; otherwise the windowed variant of the attack (Mathewson &
 * Dingledine, PET 2004).
 */
export function disclosureRoundsFromTrace(
  events: Iterable<WireEvent>,
  roles: Roles,
  windows: { readonly roundMs: number; readonly lagMs: number; readonly startMs?: number },
): DisclosureRound[] {
  const { roundMs, lagMs } = windows;
  const startMs = windows.startMs ?? 0;
  if (!(roundMs > 0 && Number.isFinite(roundMs))) throw new RangeError(`roundMs must be a number > 0, got ${roundMs}`);
  if (!(lagMs >= 0 && Number.isFinite(lagMs))) throw new RangeError(`lagMs must be a number >= 0, got ${lagMs}`);
  const { submissions, pushes } = traceEnds(events, roles);
  const rounds: { senders: string[]; recipients: string[] }[] = [];
  const round = (atMs: number) => {
    const k = Math.floor((atMs - startMs) / roundMs);
    if (k < 0) return undefined;
    while (rounds.length <= k) rounds.push({ senders: [], recipients: [] });
    return rounds[k];
  };
  for (const submission of submissions) round(submission.atMs)?.senders.push(submission.sender);
  for (const push of pushes) round(push.atMs - lagMs)?.recipients.push(push.recipient);
  return rounds;
}

/** Accumulates rounds and estimates the target's contact profile; never sees who sent to whom. */
export class StatisticalDisclosure {
  readonly target: string;
  readonly recipients: readonly string[];
  readonly #index: Map<string, number>;
  /** Deliveries per recipient in rounds with and without the target. */
  readonly #withTarget: Float64Array;
  readonly #without: Float64Array;
  #targetRounds = 0;
  #targetDeliveries = 0;
  #otherDeliveries = 0;

  constructor(target: string, recipients: readonly string[]) {
    if (recipients.length === 0) throw new RangeError('the attack needs the list of possible recipients');
    this.target = target;
    this.recipients = recipients;
    this.#index = new Map(recipients.map((name, i) => [name, i]));
    if (this.#index.size !== recipients.length) throw new RangeError('recipients are listed twice');
    this.#withTarget = new Float64Array(recipients.length);
    this.#without = new Float64Array(recipients.length);
  }

  /** Rounds observed in which the target sent. */
  get targetRounds(): number {
    return this.#targetRounds;
  }

  observe(round: DisclosureRound): void {
    const indices = round.recipients.map((name) => {
      const index = this.#index.get(name);
      if (index === undefined) throw new RangeError(`recipient "${name}" is not in the attack's recipient list`);
      return index;
    });
    const active = round.senders.includes(this.target);
    const counts = active ? this.#withTarget : this.#without;
    for (const index of indices) counts[index] = (counts[index] as number) + 1;
    if (active) {
      this.#targetRounds++;
      this.#targetDeliveries += indices.length;
    } else this.#otherDeliveries += indices.length;
  }

  /**
   * The estimated share of the target's messages per recipient (Danezis' v): per target
   * round, what the recipients received less the others' share of it (the background u,
   * from the rounds without the target, uniform when there are none), i.e.
   * v = (Σ O − (D − t) u) / t for t target rounds holding D deliveries.
   */
  profile(): Float64Array {
    const n = this.recipients.length;
    const t = this.#targetRounds;
    const v = new Float64Array(n);
    if (t === 0) return v;
    const others = this.#targetDeliveries - t;
    for (let i = 0; i < n; i++) {
      const background = this.#otherDeliveries > 0 ? (this.#without[i] as number) / this.#otherDeliveries : 1 / n;
      v[i] = ((this.#withTarget[i] as number) - others * background) / t;
    }
    return v;
  }

  /** The `m` recipients with the highest estimate, best first (ties: list order). */
  top(m: number): string[] {
    const v = this.profile();
    return this.recipients
      .map((name, i) => ({ name, value: v[i] as number, i }))
      .sort((a, b) => b.value - a.value || a.i - b.i)
      .slice(0, m)
      .map((entry) => entry.name);
  }
}

/**
 * Scores the attack against the true friends (a set, from the truth): how many are in its
 * top m, each one's 1-based rank by the estimate, and whether every friend scores strictly
 * above every other recipient (disclosed; ties count against the attacker).
 */
export function scoreDisclosure(
  attack: StatisticalDisclosure,
  friends: readonly string[],
): { readonly inTop: number; readonly ranks: readonly number[]; readonly disclosed: boolean } {
  const friendSet = new Set(friends);
  for (const friend of friendSet) {
    if (!attack.recipients.includes(friend)) throw new RangeError(`friend "${friend}" is not a recipient`);
  }
  const top = new Set(attack.top(friendSet.size));
  const order = attack.top(attack.recipients.length);
  return {
    inTop: [...friendSet].filter((friend) => top.has(friend)).length,
    ranks: [...friendSet].map((friend) => order.indexOf(friend) + 1),
    disclosed: separates(attack.profile(), attack.recipients, friendSet),
  };
}

/** Parameters of Danezis' model: N recipients, batches of b, m friends, confidence l. */
export interface DisclosureModel {
  readonly recipients: number;
  readonly batchSize: number;
  readonly friends: number;
}

/**
 * Rounds (with the target in) needed to tell the friends apart at confidence l (Danezis 2003,
 * §3): t > [m l (√((N − 1)(b − 1)/N²) + √((N − 1)(b − 1)/N² + (m − 1)/m²))]².
 */
export function disclosureRoundsNeeded(model: DisclosureModel, confidence: number): number {
  const { recipients: N, batchSize: b, friends: m } = model;
  if (!(Number.isSafeInteger(N) && N >= 2)) throw new RangeError(`N must be a whole number >= 2, got ${N}`);
  if (!(Number.isSafeInteger(b) && b >= 1)) throw new RangeError(`b must be a whole number >= 1, got ${b}`);
  if (!(Number.isSafeInteger(m) && m >= 1 && m <= N))
    throw new RangeError(`m must be a whole number in [1, N], got ${m}`);
  if (!(confidence > 0)) throw new RangeError(`the confidence l must be > 0, got ${confidence}`);
  const noise = ((N - 1) * (b - 1)) / N ** 2;
  const signal = (m - 1) / m ** 2;
  return (m * confidence * (Math.sqrt(noise) + Math.sqrt(noise + signal))) ** 2;
}

/** Every friend strictly above every other recipient: the top m are the friends, ties counting against the attacker. */
function separates(profile: Float64Array, names: readonly string[], friends: ReadonlySet<string>): boolean {
  let lowestFriend = Number.POSITIVE_INFINITY;
  let highestOther = Number.NEGATIVE_INFINITY;
  names.forEach((name, i) => {
    const value = profile[i] as number;
    if (friends.has(name)) lowestFriend = Math.min(lowestFriend, value);
    else highestOther = Math.max(highestOther, value);
  });
  return lowestFriend > highestOther;
}

export interface DisclosureSimulation {
  /** The planted friends, as recipient names. */
  readonly friends: readonly string[];
  /** Target rounds until every friend first scored strictly above every other recipient, or undefined within maxRounds. */
  readonly roundsToDisclose: number | undefined;
  /** The attacker's top m after maxRounds. */
  readonly guess: readonly string[];
}

/**
 * One run of Danezis' model: every round holds b packets, the target's and b − 1 from other
 * senders to uniform recipients; each packet is drop cover (sent, never delivered) with
 * probability `coverShare`, the target's too. Recipients are `r-0` … `r-(N−1)`, the friends
 * m of them drawn at random; the attacker sees only the rounds. Runs all `maxRounds` (default 2000).
 */
export function simulateDisclosure(
  random: SeededRandom,
  model: DisclosureModel & { readonly coverShare?: number; readonly maxRounds?: number },
): DisclosureSimulation {
  const { recipients: N, batchSize: b, friends: m } = model;
  const coverShare = model.coverShare ?? 0;
  const maxRounds = model.maxRounds ?? 2000;
  if (!(coverShare >= 0 && coverShare < 1)) throw new RangeError(`coverShare must be in [0, 1), got ${coverShare}`);
  disclosureRoundsNeeded(model, 1); // checks N, b, m
  const names = Array.from({ length: N }, (_, i) => `r-${i}`);
  const draw = random.fork('friends');
  const pool = [...names];
  const friends: string[] = [];
  for (let i = 0; i < m; i++) friends.push(pool.splice(draw.int(pool.length), 1)[0] as string);
  const friendSet = new Set(friends);
  const traffic = random.fork('rounds');
  const attack = new StatisticalDisclosure('target', names);
  const senders = ['target', ...Array.from({ length: b - 1 }, (_, i) => `s-${i}`)];
  let roundsToDisclose: number | undefined;
  for (let round = 1; round <= maxRounds; round++) {
    const recipients: string[] = [];
    if (traffic.float() >= coverShare) recipients.push(friends[traffic.int(m)] as string);
    for (let i = 1; i < b; i++) if (traffic.float() >= coverShare) recipients.push(names[traffic.int(N)] as string);
    attack.observe({ senders, recipients });
    if (roundsToDisclose === undefined && separates(attack.profile(), names, friendSet)) roundsToDisclose = round;
  }
  return { friends, roundsToDisclose, guess: attack.top(m) };
}
