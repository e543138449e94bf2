/**
 * The path of a packet through one mix node, in stages, top to bottom:
 *   1. incoming  `receive`: the packets of one request
 *   2. crypto    `#peel` → Peeler: remove this node's layer with the key of the packet's epoch
 *   3. replay    `#checkReplay` → ReplayCache: a tag seen before in that epoch drops the packet
 *   4. pool      `#enqueue` → the mixing strategy, which releases shuffled batches
 *   5. outgoing  `#release` → Forwarder: one request per next hop or gateway per batch
 * Keys rotate per epoch through `setKeys`.
 */
import type { MixNodeMetrics, PacketOutcome } from '@mixlab/metrics';
import type { MixStrategy, StrategyContext } from '@mixlab/mixing';
import { encodeDelivery, isDropRecipient, type Peeled } from '@mixlab/packet';
import type { Clock } from '@mixlab/runtime';
import { Forwarder, type ForwardOutcome, type HopKind, type Outgoing, type ResolveHop } from '@mixlab/service-kit';
import type { MixingKeySet } from './mixing-keys.ts';
import type { Peeler, PeelResult } from './peeler.ts';
import type { ReplayCache } from './replay-cache.ts';

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
  readonly outcome: Extract<PacketOutcome, 'malformed' | 'undecryptable' | 'replay' | 'replay_cache_full'>;
  readonly reason: string;
}

export interface MixNodeLogger {
  warn(details: object, message: string): void;
}

export interface MixNodeDeps {
  /** Removes this node's layer (on worker threads, or inline) with the keys given to `setKeys`. */
  readonly peeler: Peeler;
  /** Replay tags, per key epoch; an epoch's table is freed when its key is dropped. */
  readonly replayCache: ReplayCache;
  /** The mixing keys to start with (handed to the peeler); later ones come through `setKeys`. */
  readonly keys: MixingKeySet;
  readonly clock: Clock;
  readonly metrics: MixNodeMetrics;
  readonly logger: MixNodeLogger;
  /** Builds the pool; the node supplies where released batches go. */
  readonly createStrategy: (context: Pick<StrategyContext<PooledPacket>, 'release'>) => MixStrategy<PooledPacket>;
  /** Base URL of a next hop or delivery destination (`nextHops` in next-hop.ts); throws when the directory is unreachable. */
  readonly resolve: ResolveHop;
  /** POSTs frames to a URL; rejects when they were not accepted. */
  readonly send: (url: string, frames: Uint8Array[]) => Promise<void>;
}

/** mixlab_packets_total counts a packet sent on as forwarded or delivered, and every other end as forward_failed. */
function packetOutcome(outcome: ForwardOutcome, kind: HopKind): PacketOutcome {
  if (outcome !== 'sent') return 'forward_failed';
  return kind === 'node' ? 'forwarded' : 'delivered';
}

export class MixNode {
  readonly #deps: MixNodeDeps;
  readonly #pool: MixStrategy<PooledPacket>;
  readonly #forwarder: Forwarder;
  readonly #inflight = new Set<Promise<void>>();
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
    this.setKeys(deps.keys);
  }

  /**
   * Rotates to a new key set (from MixingKeys): the peeler gets it, and the replay
   * tables of epochs whose key is gone are freed, since no packet can open with it again.
   */
  setKeys(keys: MixingKeySet): void {
    this.#keys = keys;
    this.#deps.peeler.setKeys(keys);
    this.#deps.replayCache.retireBefore(Math.min(...keys.byEpoch.keys()));
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

  /** Takes the packets of one request; a bad packet is dropped alone, never its neighbours. */
  async receive(packets: readonly Uint8Array[]): Promise<{ accepted: number; rejected: Rejection[] }> {
    const peelStarted = this.#deps.clock.now();
    const results = await this.#peel(packets);
    this.#deps.metrics.stage.observe({ stage: 'hop_peel' }, (this.#deps.clock.now() - peelStarted) / 1000);
    const rejected: Rejection[] = [];
    let accepted = 0;
    for (const [index, result] of results.entries()) {
      const refusal = result.ok ? this.#checkReplay(result) : { outcome: result.reason, reason: result.message };
      if (refusal) {
        this.#deps.metrics.packets.inc({ outcome: refusal.outcome });
        this.#deps.logger.warn({ index, ...refusal }, 'packet dropped');
        rejected.push({ index, ...refusal });
      } else if (result.ok) {
        this.#enqueue(result.peeled);
        accepted++;
      }
    }
    this.#updateGauges();
    return { accepted, rejected };
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

  // 3. replay

  /** Says why a peeled packet must be dropped as a replay, or undefined when it is new in its epoch. */
  #checkReplay({ peeled, epoch, key }: Opened): Omit<Rejection, 'index'> | undefined {
    if (!this.#keys.byEpoch.has(epoch)) {
      // Its key was dropped while it was being peeled, and with it the epoch's replay table.
      return {
        outcome: 'undecryptable',
        reason: `the key of epoch ${epoch} expired while the packet was being peeled`,
      };
    }
    this.#deps.metrics.peeled.inc({ key });
    const verdict = peeled.replayTag ? this.#deps.replayCache.check(epoch, peeled.replayTag) : 'new';
    if (verdict === 'replay') return { outcome: 'replay', reason: 'this packet was seen before in this epoch' };
    if (verdict === 'full') return { outcome: 'replay_cache_full', reason: 'the replay cache for this epoch is full' };
    return undefined;
  }

  // 4. pool

  /** Hands an accepted packet to the strategy, which releases it in a shuffled batch. */
  #enqueue(peeled: Peeled): void {
    this.#deps.metrics.packets.inc({ outcome: 'accepted' });
    this.#pool.add({ peeled, arrivedAt: this.#deps.clock.now() });
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
    const sending = this.#forward(batch).finally(() => this.#inflight.delete(sending));
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
          frame: encodeDelivery({ recipient, payload: peeled.payload }),
        });
      }
    }
    if (outgoing.length === 0) return;
    const started = this.#deps.clock.now();
    await this.#forwarder.forward(outgoing);
    // A batch goes one way: on to the next layer, or (at an exit) out to gateways.
    const stage = outgoing[0]?.kind === 'node' ? 'hop_forward' : 'exit_delivery';
    this.#deps.metrics.stage.observe({ stage }, (this.#deps.clock.now() - started) / 1000);
  }

  #updateGauges(): void {
    this.#deps.metrics.queueDepth.set({ strategy: this.#pool.name }, this.#pool.queued);
    this.#deps.metrics.replayCacheEntries.set(this.#deps.replayCache.entries);
    this.#deps.metrics.replayCacheBytes.set(this.#deps.replayCache.bytes);
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
