/**
 * The path of a packet through one mix node, in stages, top to bottom:
 *   1. incoming  `receive`: the packets of one request
 *   2. crypto    `#peel` → Peeler: remove this node's layer with the key of the packet's epoch
 *   3. replay    inside the peel, right after the MAC: a tag already in that epoch's replay
 *                filter drops the packet before the blinding and payload work; `#checkOpened`
 *                drops what opened with a key that expired meanwhile
 *   4. pool      `#enqueue` → the mixing strategy, which releases shuffled batches
 *   5. outgoing  `#release` → Forwarder: one request per next hop or gateway per batch (the
 *                batches one request's packets release as they arrive go on together)
 * Keys rotate per epoch through `setKeys`. Why a packet was dropped goes to the log and the
 * metrics only: the sender of a request learns that it arrived, nothing per packet.
 */
import type { MixNodeMetrics, PacketOutcome } from '@mixlab/metrics';
import type { MixStrategy, StrategyContext } from '@mixlab/mixing';
import { encodeDelivery, isDropRecipient, type Peeled } from '@mixlab/packet';
import type { Clock } from '@mixlab/runtime';
import {
  Forwarder,
  type ForwarderDeps,
  type ForwardOutcome,
  type HopKind,
  type Outgoing,
  type ResolveHop,
} from '@mixlab/service-kit';
import type { MixingKeySet } from './mixing-keys.ts';
import type { Peeler, PeelResult } from './peeler.ts';

/** A packet this node's key opened, with that key's epoch. */
type Opened = Extract<PeelResult, { ok: true }>;

/** A peeled packet waiting in the pool. */
export interface PooledPacket {
  readonly peeled: Peeled;
  /** Clock time of arrival, for the mixing delay. */
  readonly arrivedAt: number;
}

export interface Rejection {
  readonly index: number;
  readonly outcome: Extract<PacketOutcome, 'malformed' | 'undecryptable' | 'replay'>;
  readonly reason: string;
}

export interface MixNodeLogger {
  warn(details: object, message: string): void;
}

export interface MixNodeDeps {
  /**
   * Removes this node's layer (on worker threads, or inline) with the keys given to
   * `setKeys`, and drops replays with the replay filter of each key's epoch.
   */
  readonly peeler: Peeler;
  /** The mixing keys to start with (handed to the peeler); later ones come through `setKeys`. */
  readonly keys: MixingKeySet;
  readonly clock: Clock;
  readonly metrics: MixNodeMetrics;
  readonly logger: MixNodeLogger;
  /** Builds the pool; the node supplies where released batches go. */
  readonly createStrategy: (context: Pick<StrategyContext<PooledPacket>, 'release'>) => MixStrategy<PooledPacket>;
  /** Base URL of a next hop or delivery destination (`nextHops` in next-hop.ts); throws when the directory is unreachable. */
  readonly resolve: ResolveHop;
  /** POSTs frames to a URL, sealed to the hop's receiver; rejects when they were not accepted. */
  readonly send: ForwarderDeps['send'];
  /**
   * The packet format's deliveryPayloadBytes: every delivery's payload is padded to it (random bytes), so
   * messages, acknowledgements and cover are one size past the exit. Absent: sent as peeled (onion).
   */
  readonly deliveryPayloadBytes?: number;
}

/**
 * mixlab_packets_total counts a packet sent on as forwarded or delivered, one dropped at the
 * bound of its target's queue as queue_full, and every other end as forward_failed.
 */
function packetOutcome(outcome: ForwardOutcome, kind: HopKind): PacketOutcome {
  if (outcome === 'queue_full') return 'queue_full';
  if (outcome !== 'sent') return 'forward_failed';
  return kind === 'node' ? 'forwarded' : 'delivered';
}

export class MixNode {
  readonly #deps: MixNodeDeps;
  readonly #pool: MixStrategy<PooledPacket>;
  readonly #forwarder: Forwarder;
  readonly #inflight = new Set<Promise<void>>();
  /**
   * While a request's packets go into the pool: the batches they release (a strategy without
   * batches releases each on arrival), forwarded together once the last is in. So k packets that
   * came in one request leave in one request per next hop, not k, and a batch formed upstream
   * (coalesced under load) stays one along the route: at once, nothing waits for it.
   */
  #releasedNow: PooledPacket[][] | undefined;
  #keys: MixingKeySet;

  constructor(deps: MixNodeDeps) {
    this.#deps = deps;
    this.#pool = deps.createStrategy({ release: (batch) => this.#release(batch) });
    this.#forwarder = new Forwarder({
      resolve: deps.resolve,
      send: deps.send,
      count: (outcome, kind, packets) => deps.metrics.packets.inc({ outcome: packetOutcome(outcome, kind) }, packets),
      logger: deps.logger,
    });
    this.#keys = deps.keys;
    deps.metrics.replayCacheFalsePositiveRate.set(deps.peeler.replayFilters.size.falsePositiveRate);
    this.setKeys(deps.keys);
  }

  /**
   * Rotates to a new key set (from MixingKeys): the peeler gets it, with an empty replay
   * filter for a new epoch; the filters of epochs whose key is gone are freed, since no
   * packet can open with it again.
   */
  setKeys(keys: MixingKeySet): void {
    this.#keys = keys;
    this.#deps.peeler.setKeys(keys);
    this.#deps.metrics.mixingKeyEpoch.set(keys.current);
    this.#updateGauges();
  }

  get strategy(): string {
    return this.#pool.name;
  }

  get queued(): number {
    return this.#pool.queued;
  }

  // 1. incoming

  /**
   * Takes the packets of one request; a bad packet is dropped alone, never its neighbours.
   * What was dropped and why is for the log, the metrics and tests: never send it back to
   * the peer (a tagged packet's fate at the exit would tell a tagging attacker everything).
   */
  async receive(packets: readonly Uint8Array[]): Promise<{ accepted: number; rejected: Rejection[] }> {
    const peelStarted = this.#deps.clock.now();
    const results = await this.#peel(packets);
    this.#deps.metrics.stage.observe({ stage: 'hop_peel' }, (this.#deps.clock.now() - peelStarted) / 1000);
    const rejected: Rejection[] = [];
    const released: PooledPacket[][] = [];
    this.#releasedNow = released;
    let accepted: number;
    try {
      accepted = this.#admit(results, rejected);
    } finally {
      this.#releasedNow = undefined;
      if (released.length > 0) this.#sendOn(released.flat());
    }
    this.#updateGauges();
    return { accepted, rejected };
  }

  /** Hands each opened packet to the pool; notes why each other one was dropped. Returns how many went in. */
  #admit(results: readonly PeelResult[], rejected: Rejection[]): number {
    let accepted = 0;
    for (const [index, result] of results.entries()) {
      const refusal = result.ok ? this.#checkOpened(result) : { outcome: result.reason, reason: result.message };
      if (refusal) {
        this.#deps.metrics.packets.inc({ outcome: refusal.outcome });
        this.#deps.logger.warn({ index, ...refusal }, 'packet dropped');
        rejected.push({ index, ...refusal });
      } else if (result.ok) {
        this.#enqueue(result.peeled);
        accepted++;
      }
    }
    return accepted;
  }

  /** A request body that could not even be split into packets counts as one malformed packet. */
  countMalformedRequest(reason: string): void {
    this.#deps.metrics.packets.inc({ outcome: 'malformed' });
    this.#deps.logger.warn({ outcome: 'malformed', reason }, 'request dropped');
  }

  // 2. crypto

  /** Removes this node's layer from each packet with the key of its epoch (on worker threads, or inline). */
  #peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
    return this.#deps.peeler.peel(packets);
  }

  // 3. replay (tags were checked in the peel)

  /** Says why an opened packet must still be dropped, or undefined when it goes on to the pool. */
  #checkOpened({ epoch, key }: Opened): Omit<Rejection, 'index'> | undefined {
    if (!this.#keys.byEpoch.has(epoch)) {
      // Its key was dropped while it was being peeled, and with it the epoch's replay filter.
      return {
        outcome: 'undecryptable',
        reason: `the key of epoch ${epoch} expired while the packet was being peeled`,
      };
    }
    this.#deps.metrics.peeled.inc({ key });
    return undefined;
  }

  // 4. pool

  /**
   * Hands an accepted packet to the strategy, which releases it in a shuffled batch. Throws
   * StrategyStoppedError once stop() began: the server answers 503, and nothing is counted.
   */
  #enqueue(peeled: Peeled): void {
    this.#pool.add({ peeled, arrivedAt: this.#deps.clock.now() });
    this.#deps.metrics.packets.inc({ outcome: 'accepted' });
  }

  /**
   * Puts a packet this node made itself (its loop cover, already wrapped past this node) into
   * its own pool, so it leaves in a batch like any packet. Not counted as accepted: it never
   * arrived. Throws StrategyStoppedError once stop() began.
   */
  inject(peeled: Extract<Peeled, { kind: 'forward' }>): void {
    this.#pool.add({ peeled, arrivedAt: this.#deps.clock.now() });
    this.#updateGauges();
  }

  // 5. outgoing

  /** Called by the strategy with a shuffled batch. */
  #release(batch: PooledPacket[]): void {
    const strategy = this.#pool.name;
    this.#deps.metrics.batchSize.observe({ strategy }, batch.length);
    const now = this.#deps.clock.now();
    for (const packet of batch) {
      const waited = (now - packet.arrivedAt) / 1000;
      this.#deps.metrics.mixingDelay.observe({ strategy }, waited);
      this.#deps.metrics.stage.observe({ stage: 'hop_queue' }, waited);
    }
    this.#updateGauges();
    if (this.#releasedNow) this.#releasedNow.push(batch);
    else this.#sendOn(batch);
  }

  #sendOn(packets: PooledPacket[]): void {
    const sending = this.#forward(packets).finally(() => this.#inflight.delete(sending));
    this.#inflight.add(sending);
  }

  /** Drop cover ends here, mixed like the rest; everything else goes on in the batch's shuffled order. */
  async #forward(batch: PooledPacket[]): Promise<void> {
    const outgoing: Outgoing[] = [];
    for (const { peeled } of batch) {
      if (peeled.kind === 'forward') {
        outgoing.push({ kind: 'node', hop: peeled.nextHop, frame: peeled.packet });
      } else if (isDropRecipient(peeled.destination.recipient)) {
        this.#deps.metrics.packets.inc({ outcome: 'sunk' });
      } else {
        const { gateway, recipient } = peeled.destination;
        outgoing.push({
          kind: 'destination',
          hop: gateway,
          frame: encodeDelivery({ recipient, payload: peeled.payload }, this.#deps.deliveryPayloadBytes),
        });
      }
    }
    if (outgoing.length === 0) return;
    const started = this.#deps.clock.now();
    await this.#forwarder.forward(outgoing);
    // A batch goes on to the next layer, or (at an exit) out to gateways, with the exit's own loops.
    const stage = outgoing.some((out) => out.kind === 'destination') ? 'exit_delivery' : 'hop_forward';
    this.#deps.metrics.stage.observe({ stage }, (this.#deps.clock.now() - started) / 1000);
  }

  #updateGauges(): void {
    this.#deps.metrics.queueDepth.set({ strategy: this.#pool.name }, this.#pool.queued);
    this.#deps.metrics.replayCacheEntries.set(this.#deps.peeler.replayFilters.entries);
    this.#deps.metrics.replayCacheBytes.set(this.#deps.peeler.replayFilters.bytes);
  }

  /** Stops the pool and waits for batches already on their way. */
  async stop(): Promise<number> {
    const dropped = this.#pool.stop().length;
    this.#updateGauges();
    await Promise.allSettled(this.#inflight);
    return dropped;
  }

  /** Resolves when every batch released so far has been sent or has failed (for tests). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#inflight);
  }
}
