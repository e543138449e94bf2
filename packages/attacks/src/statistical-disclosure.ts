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
import { timeOrdered, traceEnds } from './trace.ts';

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

/**
 * Cuts a wire trace into the first layer's batches as the wire shows them: each release of a
 * layer-1 node (an event from it to layer 2) closes a round, whose senders are the clients
 * that submitted since the release before it and whose recipients are those pushed to from
 * then until the next release. Exact for a cascade whose later layers keep a batch together
 * (threshold n at every layer, or no mixing after the first) and whose path from layer 1 to
 * the recipient is shorter than the time between releases. Submissions after the last
 * release (a batch still pooled) and pushes before the first are left out.
 */
export function disclosureRoundsFromBatches(events: Iterable<WireEvent>, roles: Roles): DisclosureRound[] {
  const ordered = timeOrdered(events);
  const first = new Set(roles.nodes.filter((node) => node.layer === 1).map((node) => node.name));
  const second = new Set(roles.nodes.filter((node) => node.layer === 2).map((node) => node.name));
  if (first.size === 0) throw new RangeError('roles name no layer-1 node');
  const releases = ordered
    .filter((event) => first.has(event.from) && (second.size === 0 || second.has(event.to)))
    .map((event) => event.atMs);
  const { submissions, pushes } = traceEnds(ordered, roles);
  const rounds = releases.map(() => ({ senders: [] as string[], recipients: [] as string[] }));
  // Round k: submissions in (release k − 1, release k], pushes in [release k, release k + 1) (the last: after it).
  let k = 0;
  for (const submission of submissions) {
    while (k < releases.length && (releases[k] as number) < submission.atMs) k++;
    if (k < rounds.length) rounds[k]?.senders.push(submission.sender);
  }
  k = -1;
  for (const push of pushes) {
    while (k + 1 < releases.length && (releases[k + 1] as number) <= push.atMs) k++;
    if (k >= 0) rounds[k]?.recipients.push(push.recipient);
  }
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
  /** The target's submissions in its rounds (it may send more than once in a round). */
  #targetMessages = 0;
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
    const sent = round.senders.filter((sender) => sender === this.target).length;
    const counts = sent > 0 ? this.#withTarget : this.#without;
    for (const index of indices) counts[index] = (counts[index] as number) + 1;
    if (sent > 0) {
      this.#targetRounds++;
      this.#targetMessages += sent;
      this.#targetDeliveries += indices.length;
    } else this.#otherDeliveries += indices.length;
  }

  /**
   * The estimated share of the target's messages per recipient (Danezis' v): per target
   * round, what the recipients received less the others' share of it (the background u,
   * from the rounds without the target, uniform when there are none), i.e.
   * v = (Σ O − (D − T) u) / t for t target rounds holding D deliveries, T of them the target's
   * submissions (T = t when it sends once per round, as in Danezis' model).
   */
  profile(): Float64Array {
    const n = this.recipients.length;
    const t = this.#targetRounds;
    const v = new Float64Array(n);
    if (t === 0) return v;
    const others = this.#targetDeliveries - this.#targetMessages;
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

/** When the attack first disclosed the friends over a sequence of rounds. */
export interface DisclosureProgress {
  /** Target rounds (rounds the target sent in) until every friend first scored strictly above every other recipient; undefined: never. */
  readonly targetRoundsToDisclose: number | undefined;
  /** All rounds until then. */
  readonly roundsToDisclose: number | undefined;
  /** Rounds and target rounds seen in all. */
  readonly rounds: number;
  readonly targetRounds: number;
  /** The score after the last round. */
  readonly final: ReturnType<typeof scoreDisclosure>;
}

/** Feeds `rounds` to `attack` in order and reports when the true `friends` (the scorer's) were first disclosed. */
export function disclosureProgress(
  attack: StatisticalDisclosure,
  rounds: readonly DisclosureRound[],
  friends: readonly string[],
): DisclosureProgress {
  const friendSet = new Set(friends);
  let targetRoundsToDisclose: number | undefined;
  let roundsToDisclose: number | undefined;
  rounds.forEach((round, i) => {
    const before = attack.targetRounds;
    attack.observe(round);
    if (targetRoundsToDisclose !== undefined || attack.targetRounds === before) return;
    if (separates(attack.profile(), attack.recipients, friendSet)) {
      targetRoundsToDisclose = attack.targetRounds;
      roundsToDisclose = i + 1;
    }
  });
  return {
    targetRoundsToDisclose,
    roundsToDisclose,
    rounds: rounds.length,
    targetRounds: attack.targetRounds,
    final: scoreDisclosure(attack, friends),
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
