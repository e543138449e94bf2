/**
 * The n − 1 (blending) attack (active; Serjantov, Dingledine & Syverson, "From a trickle to
 * a flood", IH 2002): the attacker holds back every packet entering a node except the
 * target's, fills the node with its own packets until none of the honest ones is left
 * (flush), lets the target in, and keeps sending its own until the target comes out. It
 * recognises its own packets when they leave (it routes them to itself), so the one packet
 * that is not its own is the target's.
 *
 * Here: the closed forms for how long the target stays, a simulation of the attack against
 * the real strategies of @mixlab/mixing (ManualClock, seeded Random), and the analysis of a
 * recorded trace (which delivery is the target's).
 */
import type { Roles, WireEvent } from '@mixlab/anonymity';
import { createStrategy, poolReleaseCount, type StrategyConfig } from '@mixlab/mixing';
import { ManualClock, type SeededRandom } from '@mixlab/runtime';
import { type Push, timeOrdered, traceEnds } from './trace.ts';

export interface FloodOptions {
  /** Packets the attacker puts into the node per round, the target's included in its round (pool, binomial, timed, exponential; default 10). */
  readonly attackerPerRound?: number;
  /** Length of a round for `exponential`, in ms (default: its mean delay); periodic strategies use their interval. */
  readonly roundMs?: number;
}

/** How many packets enter per round, and how long a round lasts, for a strategy. */
function roundPlan(config: StrategyConfig, options: FloodOptions): { perRound: number; roundMs: number } {
  const perRound = options.attackerPerRound ?? 10;
  if (!(Number.isSafeInteger(perRound) && perRound >= 1)) {
    throw new RangeError(`attackerPerRound must be a whole number >= 1, got ${perRound}`);
  }
  switch (config.name) {
    case 'threshold':
      return { perRound: config.threshold, roundMs: 1 };
    case 'threshold-or-timed':
    case 'threshold-and-timed':
      return { perRound: config.threshold, roundMs: config.intervalMs };
    case 'timed':
    case 'pool':
    case 'binomial':
      return { perRound, roundMs: config.intervalMs };
    case 'exponential': {
      if (config.delay === 'sender')
        throw new RangeError('the flood needs drawn delays: delay=sender leaves them to senders');
      const roundMs = options.roundMs ?? config.meanDelayMs;
      if (!(roundMs !== undefined && roundMs > 0)) throw new RangeError('exponential needs roundMs or a mean delay');
      return { perRound, roundMs };
    }
  }
}

/**
 * The chance that the target is still in the flushed node after `rounds` rounds, by the
 * strategy's rule: 0 after one round for the batch strategies (the attacker fills the batch
 * to n, or the tick takes everything); (1 − p)^r for binomial (Díaz & Serjantov, PET 2003);
 * e^(−r t/mean) for exponential; for pool, (P/(P + N))^r with P the pool it keeps in steady
 * state under N arrivals per round; P = n (min) with fraction 1, so (n/(N + n))^r
 * (Serjantov, Dingledine & Syverson 2002).
 */
export function targetRetention(config: StrategyConfig, rounds: number, options: FloodOptions = {}): number {
  if (!(Number.isSafeInteger(rounds) && rounds >= 0))
    throw new RangeError(`rounds must be a whole number >= 0, got ${rounds}`);
  const { perRound, roundMs } = roundPlan(config, options);
  switch (config.name) {
    case 'threshold':
    case 'timed':
    case 'threshold-or-timed':
    case 'threshold-and-timed':
      return rounds === 0 ? 1 : 0;
    case 'binomial':
      return (1 - config.probability) ** rounds;
    case 'exponential':
      return Math.exp((-rounds * roundMs) / (config.meanDelayMs ?? roundMs));
    case 'pool': {
      const kept = steadyPool(config.minPool, config.fraction, perRound);
      return (kept / (kept + perRound)) ** rounds;
    }
  }
}

/** The pool a pool mix keeps after each tick when N arrive per round, once it settles. */
export function steadyPool(minPool: number, fraction: number, arrivalsPerRound: number): number {
  let kept = minPool;
  for (let i = 0; i < 100_000; i++) {
    const next = kept + arrivalsPerRound - poolReleaseCount(kept + arrivalsPerRound, minPool, fraction);
    if (next === kept) return kept;
    kept = next;
  }
  throw new RangeError(
    `the pool (min ${minPool}, fraction ${fraction}) does not settle under ${arrivalsPerRound} per round`,
  );
}

type Packet = 'honest' | 'attacker' | 'target';

export interface FloodTrial {
  /** Rounds the flush took (until no honest packet was pooled), or undefined if it did not finish. */
  readonly flushRounds: number | undefined;
  /** Rounds from the target's entry to its release (1: the round it entered), or undefined. */
  readonly targetRounds: number | undefined;
  /** The target left in a release holding no honest packet, so the attacker named it. */
  readonly identified: boolean;
}

export interface FloodSimulation {
  readonly trials: readonly FloodTrial[];
  /** Share of trials in which the target was identified within maxRounds of the flush. */
  readonly successRate: number;
  /** Mean rounds to flush and to release the target, over the successful trials. */
  readonly meanFlushRounds: number;
  readonly meanTargetRounds: number;
  /** retained[r]: share of flushed trials with the target still pooled after r rounds (r = 0..maxRounds). */
  readonly retained: readonly number[];
}

/**
 * Runs the attack `trials` times against a fresh node of `config` holding `honestPooled`
 * honest packets, each trial on its own ManualClock and `random.fork('trial-i')`.
 */
export function simulateFlood(
  config: StrategyConfig,
  random: SeededRandom,
  options: FloodOptions & {
    readonly trials?: number;
    readonly maxRounds?: number;
    readonly honestPooled?: number;
  } = {},
): FloodSimulation {
  const { perRound, roundMs } = roundPlan(config, options);
  const trials = options.trials ?? 1000;
  const maxRounds = options.maxRounds ?? 100;
  const honestPooled = options.honestPooled ?? (config.name === 'pool' ? config.minPool : 5);
  const results: FloodTrial[] = [];
  const retainedCounts = new Array<number>(maxRounds + 1).fill(0);
  let flushed = 0;
  for (let trial = 0; trial < trials; trial++) {
    const clock = new ManualClock();
    let honestIn = 0;
    let targetReleased = false;
    let identified = false;
    const node = createStrategy<Packet>(config, {
      clock,
      random: random.fork(`trial-${trial}`),
      release(batch) {
        // The attacker recognises its own packets: what is left is honest or the target.
        const honest = batch.filter((p) => p === 'honest').length;
        honestIn -= honest;
        if (batch.includes('target')) {
          targetReleased = true;
          identified = honest === 0;
        }
      },
    });
    // Only threshold-type nodes need filling to n; the rest take perRound whatever is pooled.
    const fill = config.name.startsWith('threshold');
    const round = (target: boolean) => {
      const own = (fill ? Math.max(perRound - node.queued, 1) : perRound) - (target ? 1 : 0);
      if (target) node.add('target');
      for (let i = 0; i < own; i++) node.add('attacker');
      clock.advance(roundMs);
    };
    const honest = fill ? Math.min(honestPooled, perRound - 1) : honestPooled;
    for (let i = 0; i < honest; i++) node.add('honest');
    honestIn = honest;
    let flushRounds = honest === 0 ? 0 : undefined;
    for (let r = 1; r <= maxRounds && flushRounds === undefined; r++) {
      round(false);
      if (honestIn === 0) flushRounds = r;
    }
    let targetRounds: number | undefined;
    if (flushRounds !== undefined) {
      flushed++;
      retainedCounts[0] = (retainedCounts[0] as number) + 1;
      for (let r = 1; r <= maxRounds && targetRounds === undefined; r++) {
        round(r === 1);
        if (targetReleased) targetRounds = r;
        else retainedCounts[r] = (retainedCounts[r] as number) + 1;
      }
    }
    node.stop();
    results.push({ flushRounds, targetRounds, identified: targetReleased && identified });
  }
  const successes = results.filter((t) => t.identified);
  const mean = (pick: (t: FloodTrial) => number) =>
    successes.length === 0 ? Number.NaN : successes.reduce((sum, t) => sum + pick(t), 0) / successes.length;
  return {
    trials: results,
    successRate: successes.length / trials,
    meanFlushRounds: mean((t) => t.flushRounds as number),
    meanTargetRounds: mean((t) => t.targetRounds as number),
    retained: retainedCounts.map((count) => (flushed === 0 ? Number.NaN : count / flushed)),
  };
}

/**
 * The analysis at the flooded node: from `sinceMs` on, its output events that carried more
 * packets than the attacker's own (`ownPackets`, the attacker's bookkeeping of where its
 * packets went: after a whole-batch release, every pooled packet of its own that it routed
 * over that link). Identified when exactly one event carries exactly one packet more;
 * `releases` counts the node's releases (distinct ms) up to and including that one.
 */
export function floodedNodeOutput(
  events: Iterable<WireEvent>,
  attack: { readonly node: string; readonly sinceMs: number; readonly ownPackets: (event: WireEvent) => number },
): {
  readonly candidates: readonly WireEvent[];
  readonly identified: WireEvent | undefined;
  readonly releases: number;
} {
  const outputs = timeOrdered(events).filter((e) => e.from === attack.node && e.atMs >= attack.sinceMs);
  const candidates = outputs.filter((e) => e.packets > attack.ownPackets(e));
  const identified =
    candidates.length === 1 &&
    (candidates[0] as WireEvent).packets - attack.ownPackets(candidates[0] as WireEvent) === 1
      ? candidates[0]
      : undefined;
  const releases = identified
    ? new Set(outputs.filter((e) => e.atMs <= identified.atMs).map((e) => Math.floor(e.atMs))).size
    : 0;
  return { candidates, identified, releases };
}

/**
 * The analysis of a trace recorded during the attack: every honest submission but the
 * target's was held back since `sinceMs`, so a push after it to a recipient that is neither
 * one of the attacker's endpoints nor the target (its own loop cover and acknowledgements
 * come back to it) is the target's message. Identified when all such pushes go to one recipient.
 */
export function followTarget(
  events: Iterable<WireEvent>,
  roles: Roles,
  attack: { readonly target: string; readonly attackers: Iterable<string>; readonly sinceMs: number },
): {
  readonly targetSubmissions: number;
  readonly candidates: readonly Push[];
  readonly recipient: string | undefined;
} {
  const attackers = new Set(attack.attackers);
  const { submissions, pushes } = traceEnds(events, roles);
  const targetSubmissions = submissions.filter((s) => s.sender === attack.target && s.atMs >= attack.sinceMs).length;
  const candidates = pushes.filter(
    (p) => p.atMs >= attack.sinceMs && p.recipient !== attack.target && !attackers.has(p.recipient),
  );
  const recipients = new Set(candidates.map((p) => p.recipient));
  return {
    targetSubmissions,
    candidates,
    recipient: recipients.size === 1 ? (candidates[0] as Push).recipient : undefined,
  };
}

/**
 * The rounds a followed target spent at the flooded first layer, from the wire after the
 * attacker passed it (`events`: the trace from just before that on): the first layer's
 * releases (distinct ms of its output events to the second layer) up to and including the
 * first push to a client. That push is the target's: every other honest request is held, and
 * the attacker's own packets end in a mailbox it never opens. It times the release only when
 * the later layers pass packets straight on (`threshold:n=1`). undefined while no push came.
 */
export function entryRoundsUntilPush(events: Iterable<WireEvent>, roles: Roles): number | undefined {
  const ordered = timeOrdered(events);
  const push = traceEnds(ordered, roles).pushes[0];
  if (!push) return undefined;
  const layer = (wanted: number) => new Set(roles.nodes.filter((node) => node.layer === wanted).map((n) => n.name));
  const [entry, second] = [layer(1), layer(2)];
  const releases = new Set<number>();
  for (const event of ordered) {
    if (event.atMs > push.atMs) break;
    if (entry.has(event.from) && second.has(event.to)) releases.add(Math.floor(event.atMs));
  }
  return releases.size;
}
