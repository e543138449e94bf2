/**
 * The n − 1 (blending) attack at the entrance of a threshold mix (Serjantov, Dingledine &
 * Syverson, IH 2002), as an adversary on the wire in front of the node runs it: it sees
 * every request entering the node, can hold it back or pass it on, and can send its own
 * packets. Links between services are link boxes it cannot read or forge, so it sends its
 * own as a client does, through the gateway, and knows them on the wire only: the next
 * request of that many packets (body size) after its own submission. It counts the packets
 * it let in, so against `threshold:n` it knows how many are pooled (loop cover of the node's
 * own would spoil the count: it then over-fills).
 *   flush:   from `start()`, hold every request; fill the pool up to n with its own packets.
 *   target:  `target()` says the next request is the target's (the adversary saw the target's
 *            connection submit; what the wire shows, nothing inside the packets); it passes
 *            that request on and n − 1 own packets after it: the batch is the target's and n − 1
 *            of its own, so the target leaves in one round.
 *   stop:    release every request held, in order.
 * Rounds (`start({ perRound, roundMs })`), against pool, binomial and timed mixes, which
 * release on a clock and keep some of what they hold: from `start`, hold every honest request
 * and send `perRound` own packets every `roundMs` (the node's period), for as long as the
 * attack lasts, so the pool holds nothing but its own. `target()` holds the next request and
 * passes it in the next round, right after that round's own request (`perRound − 1` packets,
 * so N enter per round then too), and follows it (`follow`: its eyes on the wire) until it
 * has left; `rounds` lists the rounds each target needed, as the watch counted them.
 */
import { type Clock, sleep } from '@mixlab/runtime';
export interface N1AttackDeps {
  /** The node's threshold n (public configuration). */
  readonly threshold: number;
  /** Passes a request on to the node unchanged. */
  readonly pass: (path: string, body: Uint8Array) => Promise<void>;
  /**
   * Submits `count` of the attacker's own packets (routed back to itself) through the gateway,
   * which passes them to the node in a request of its own: that request comes through `request`.
   */
  readonly inject: (count: number) => Promise<void>;
  /** The attacker's clock: rounds are paced by it (needed for rounds only). */
  readonly clock?: Clock;
  /** Starts watching the wire for a target about to be passed (needed for rounds only). */
  readonly follow?: () => Promise<TargetWatch>;
}

/** The attacker's eyes on the wire after a target was passed. */
export interface TargetWatch {
  /** The rounds the target spent at the node once it has left; undefined while it has not. */
  check(): Promise<number | undefined>;
}

/** The flood of the round-based attack: N own packets into the node every round. */
export interface RoundPlan {
  readonly perRound: number;
  readonly roundMs: number;
}

interface Held {
  readonly path: string;
  readonly body: Uint8Array;
  readonly packets: number;
}

/** An own submission whose request into the node has not come by yet; `target`: the one to pass right after it. */
interface OwnExpected {
  readonly packets: number;
  target: Held | undefined;
}

export type N1Phase = 'idle' | 'holding' | 'armed';

export interface N1Status {
  readonly phase: N1Phase;
  /** Packets (frames) let into the node since the proxy started, its own included. */
  readonly passed: number;
  /** Packets pooled at the node, as the attacker counts them: passed mod n. */
  readonly pooled: number;
  readonly held: number;
  readonly injected: number;
  /** Requests passed as the target's. */
  readonly targets: number;
  /**
   * Held requests the node refused when released: a link box is good for 30 s either way, so
   * what the attacker holds longer is lost (to its sender, too).
   */
  readonly refused: number;
  /** The round plan while the round-based attack runs. */
  readonly plan: RoundPlan | undefined;
  /** Rounds each followed target needed, in order (round-based attack). */
  readonly rounds: readonly number[];
  /** A target is held for the next round or followed and has not left yet. */
  readonly following: boolean;
  /** Rounds that failed (an injection or the watch), and the last such error. */
  readonly failedRounds: number;
  readonly lastError: string | undefined;
}

export class N1Attack {
  readonly #deps: N1AttackDeps;
  readonly #held: Held[] = [];
  #phase: N1Phase = 'idle';
  #passed = 0;
  #injected = 0;
  #targets = 0;
  #refused = 0;
  /** Own submissions whose request into the node has not come by yet, oldest first. */
  readonly #ownExpected: OwnExpected[] = [];
  #plan: RoundPlan | undefined;
  #flood: { readonly stop: AbortController; readonly done: Promise<void> } | undefined;
  #pendingTarget: Held | undefined;
  #watch: TargetWatch | undefined;
  readonly #rounds: number[] = [];
  #failedRounds = 0;
  #lastError: string | undefined;

  constructor(deps: N1AttackDeps) {
    if (!(Number.isSafeInteger(deps.threshold) && deps.threshold >= 1)) {
      throw new RangeError(`threshold must be a whole number >= 1, got ${deps.threshold}`);
    }
    this.#deps = deps;
  }

  get status(): N1Status {
    return {
      phase: this.#phase,
      passed: this.#passed,
      pooled: this.#passed % this.#deps.threshold,
      held: this.#held.length,
      injected: this.#injected,
      targets: this.#targets,
      refused: this.#refused,
      plan: this.#plan,
      rounds: [...this.#rounds],
      following: this.#pendingTarget !== undefined || this.#watch !== undefined,
      failedRounds: this.#failedRounds,
      lastError: this.#lastError,
    };
  }

  /** A request to the node with `packets` frames: passed on, held, or passed as the target's. */
  async request(path: string, body: Uint8Array, packets: number): Promise<void> {
    // Deliveries (the node's loops coming home) are not pooled: held while attacking, never counted.
    const pooled = path === '/v1/packets';
    const own = this.#ownExpected[0];
    if (pooled && own?.packets === packets) {
      // Its own, as the gateway passes them on: counted when submitted, passed whatever the phase.
      this.#ownExpected.shift();
      await this.#deps.pass(path, body);
      return this.#passTarget(own);
    }
    if (this.#phase === 'idle') {
      if (pooled) this.#passed += packets;
      return this.#deps.pass(path, body);
    }
    if (this.#phase === 'armed' && pooled && this.#plan) {
      // Held for the next round, which passes it with its own.
      this.#phase = 'holding';
      this.#pendingTarget = { path, body, packets };
      return;
    }
    if (this.#phase === 'armed' && pooled) {
      this.#phase = 'holding';
      this.#targets++;
      this.#passed += packets;
      await this.#deps.pass(path, body);
      return this.#fill();
    }
    this.#held.push({ path, body, packets });
  }

  /**
   * Starts holding everything back. Without a plan: flushes the honest packets pooled at a
   * threshold node. With one: floods the node with `perRound` own packets every `roundMs`.
   */
  async start(plan?: RoundPlan): Promise<void> {
    if (plan) return this.#startRounds(plan);
    if (this.#plan) throw new Error('the round-based attack is running: stop it first');
    if (this.#phase === 'idle') this.#phase = 'holding';
    await this.#fill();
  }

  /** The next request entering the node is the target's. */
  target(): void {
    if (this.#phase === 'idle') throw new Error('start the attack first');
    if (this.#pendingTarget || this.#watch) throw new Error('the last target has not left yet');
    this.#phase = 'armed';
  }

  /** Stops the attack and releases every request held, in arrival order. */
  async stop(): Promise<void> {
    this.#phase = 'idle';
    const flood = this.#flood;
    this.#flood = undefined;
    this.#plan = undefined;
    flood?.stop.abort();
    await flood?.done;
    // A target not passed yet goes with the rest; one followed is followed no more.
    if (this.#pendingTarget) this.#held.push(this.#pendingTarget);
    this.#pendingTarget = undefined;
    this.#watch = undefined;
    for (const { path, body, packets } of this.#held.splice(0)) {
      try {
        await this.#deps.pass(path, body);
        if (path === '/v1/packets') this.#passed += packets;
      } catch {
        this.#refused++; // e.g. 401 stale: the rest are released all the same
      }
    }
  }

  /** Own packets up to the threshold, so that whatever is pooled leaves now. */
  async #fill(): Promise<void> {
    const pooled = this.#passed % this.#deps.threshold;
    if (pooled === 0) return;
    await this.#send(this.#deps.threshold - pooled, undefined);
  }

  async #startRounds(plan: RoundPlan): Promise<void> {
    if (!(Number.isSafeInteger(plan.perRound) && plan.perRound >= 1 && plan.perRound <= 10_000)) {
      throw new RangeError(`perRound must be a whole number in [1, 10000], got ${plan.perRound}`);
    }
    if (!(Number.isFinite(plan.roundMs) && plan.roundMs >= 10)) {
      throw new RangeError(`roundMs must be at least 10, got ${plan.roundMs}`);
    }
    const { clock, follow } = this.#deps;
    if (!(clock && follow)) throw new Error('the round-based attack needs a clock and a watch on the wire');
    if (this.#phase !== 'idle') throw new Error('the attack is running: stop it first');
    this.#phase = 'holding';
    this.#plan = plan;
    const stop = new AbortController();
    this.#flood = { stop, done: this.#floodRounds(clock, plan, stop.signal) };
  }

  /** One round every roundMs on a fixed schedule (a slow round does not shift the next). */
  async #floodRounds(clock: Clock, plan: RoundPlan, signal: AbortSignal): Promise<void> {
    const startMs = clock.now();
    for (let round = 0; ; round++) {
      await sleep(clock, startMs + round * plan.roundMs - clock.now(), signal);
      if (signal.aborted) return;
      try {
        await this.#round(plan);
      } catch (error) {
        this.#failedRounds++;
        this.#lastError = (error as Error).message;
      }
    }
  }

  /** N own packets, the target's request among them when one waits; then a look at the wire. */
  async #round(plan: RoundPlan): Promise<void> {
    const target = this.#pendingTarget;
    this.#pendingTarget = undefined;
    if (target) {
      try {
        this.#watch = await (this.#deps.follow as () => Promise<TargetWatch>)();
      } catch (error) {
        this.#pendingTarget = target; // passed in a later round, once the wire can be watched
        throw error;
      }
    }
    await this.#send(target ? plan.perRound - 1 : plan.perRound, target);
    const watch = this.#watch;
    const rounds = await watch?.check();
    if (rounds !== undefined && this.#watch === watch) {
      this.#rounds.push(rounds);
      this.#watch = undefined;
    }
  }

  /** Submits `count` own packets through the gateway; `target` passes right after their request. */
  async #send(count: number, target: Held | undefined): Promise<void> {
    const own: OwnExpected = { packets: count, target };
    try {
      if (count > 0) {
        this.#passed += count;
        this.#injected += count;
        this.#ownExpected.push(own);
        await this.#deps.inject(count);
      }
    } finally {
      // The gateway answers once layer 1 (through this proxy) took them: by now it came by, or never will.
      const left = this.#ownExpected.indexOf(own);
      if (left >= 0) this.#ownExpected.splice(left, 1);
      await this.#passTarget(own); // if its own request never came (or there was none)
    }
  }

  async #passTarget(own: OwnExpected): Promise<void> {
    const target = own.target;
    if (!target) return;
    own.target = undefined;
    this.#targets++;
    this.#passed += target.packets;
    await this.#deps.pass(target.path, target.body);
  }
}
