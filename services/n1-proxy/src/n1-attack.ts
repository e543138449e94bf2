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
 */
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
}

export class N1Attack {
  readonly #deps: N1AttackDeps;
  readonly #held: { path: string; body: Uint8Array; packets: number }[] = [];
  #phase: N1Phase = 'idle';
  #passed = 0;
  #injected = 0;
  #targets = 0;
  #refused = 0;
  /** Packet counts of own submissions whose request into the node has not come by yet, oldest first. */
  readonly #ownExpected: number[] = [];

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
    };
  }

  /** A request to the node with `packets` frames: passed on, held, or passed as the target's. */
  async request(path: string, body: Uint8Array, packets: number): Promise<void> {
    // Deliveries (the node's loops coming home) are not pooled: held while attacking, never counted.
    const pooled = path === '/v1/packets';
    if (pooled && this.#ownExpected[0] === packets) {
      // Its own, as the gateway passes them on: counted when submitted, passed whatever the phase.
      this.#ownExpected.shift();
      return this.#deps.pass(path, body);
    }
    if (this.#phase === 'idle') {
      if (pooled) this.#passed += packets;
      return this.#deps.pass(path, body);
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

  /** Starts holding everything back and flushes the honest packets pooled at the node. */
  async start(): Promise<void> {
    if (this.#phase === 'idle') this.#phase = 'holding';
    await this.#fill();
  }

  /** The next request entering the node is the target's. */
  target(): void {
    if (this.#phase === 'idle') throw new Error('start the attack first');
    this.#phase = 'armed';
  }

  /** Stops the attack and releases every request held, in arrival order. */
  async stop(): Promise<void> {
    this.#phase = 'idle';
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
    const count = this.#deps.threshold - pooled;
    this.#passed += count;
    this.#injected += count;
    this.#ownExpected.push(count);
    try {
      await this.#deps.inject(count);
    } finally {
      // The gateway answers once layer 1 (through this proxy) took them: by now it came by, or never will.
      const left = this.#ownExpected.indexOf(count);
      if (left >= 0) this.#ownExpected.splice(left, 1);
    }
  }
}
