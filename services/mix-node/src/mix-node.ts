/**
 * The path of a packet through one mix node, top to bottom:
 * receive → peel (with the key of its epoch) → check replay (in that epoch) → pool → release → forward.
 * Keys rotate per epoch through `setKeys`.
 */
import type { MixNodeMetrics, PacketOutcome } from '@mixlab/metrics';
import type { MixStrategy, StrategyContext } from '@mixlab/mixing';
import { encodeDelivery, isDropRecipient, type Peeled } from '@mixlab/packet';
import type { Clock } from '@mixlab/runtime';
import type { MixingKeySet } from './mixing-keys.ts';
import type { Peeler } from './peeler.ts';
import type { ReplayCache } from './replay-cache.ts';

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
  /** Base URL of a next-hop node, or undefined when the directory does not know it. */
  readonly resolveNode: (id: string) => Promise<string | undefined>;
  /** Base URL of a gateway, or undefined when the directory does not know it. */
  readonly resolveGateway: (id: string) => Promise<string | undefined>;
  /** POSTs frames to a URL; rejects when they were not accepted. */
  readonly send: (url: string, frames: Uint8Array[]) => Promise<void>;
  /**
   * The packet format's deliveryPayloadBytes: every delivery's payload is padded to it (random bytes), so
   * messages, acknowledgements and cover are one size past the exit. Absent: sent as peeled (onion).
   */
  readonly deliveryPayloadBytes?: number;
}

export class MixNode {
  readonly #deps: MixNodeDeps;
  readonly #pool: MixStrategy<PooledPacket>;
  readonly #inflight = new Set<Promise<void>>();
  #keys: MixingKeySet;

  constructor(deps: MixNodeDeps) {
    this.#deps = deps;
    this.#pool = deps.createStrategy({ release: (batch) => this.#release(batch) });
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

  /** Takes the packets of one request; a bad packet is dropped alone, never its neighbours. */
  async receive(packets: readonly Uint8Array[]): Promise<{ accepted: number; rejected: Rejection[] }> {
    const results = await this.#deps.peeler.peel(packets);
    const rejected: Rejection[] = [];
    const reject = (index: number, outcome: Rejection['outcome'], reason: string) => {
      this.#deps.metrics.packets.inc({ outcome });
      this.#deps.logger.warn({ index, outcome, reason }, 'packet dropped');
      rejected.push({ index, outcome, reason });
    };
    let accepted = 0;
    for (const [index, result] of results.entries()) {
      if (!result.ok) {
        reject(index, result.reason, result.message);
        continue;
      }
      const { peeled, epoch, key } = result;
      if (!this.#keys.byEpoch.has(epoch)) {
        // Its key was dropped while it was being peeled, and with it the epoch's replay table.
        reject(index, 'undecryptable', `the key of epoch ${epoch} expired while the packet was being peeled`);
        continue;
      }
      this.#deps.metrics.peeled.inc({ key });
      const verdict = peeled.replayTag ? this.#deps.replayCache.check(epoch, peeled.replayTag) : 'new';
      if (verdict === 'replay') {
        reject(index, 'replay', 'this packet was seen before in this epoch');
      } else if (verdict === 'full') {
        reject(index, 'replay_cache_full', 'the replay cache for this epoch is full');
      } else {
        this.#deps.metrics.packets.inc({ outcome: 'accepted' });
        this.#pool.add({ peeled, arrivedAt: this.#deps.clock.now() });
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

  /** Called by the strategy with a shuffled batch. */
  #release(batch: PooledPacket[]): void {
    const strategy = this.#pool.name;
    this.#deps.metrics.batchSize.observe({ strategy }, batch.length);
    const now = this.#deps.clock.now();
    for (const packet of batch) this.#deps.metrics.mixingDelay.observe({ strategy }, (now - packet.arrivedAt) / 1000);
    this.#updateGauges();
    const sending = this.#forward(batch).finally(() => this.#inflight.delete(sending));
    this.#inflight.add(sending);
  }

  /** One request per next hop per batch, the batch's shuffled order kept within each. */
  async #forward(batch: PooledPacket[]): Promise<void> {
    const byTarget = new Map<string, { frames: Uint8Array[]; outcome: 'forwarded' | 'delivered' }>();
    const addTo = (url: string, frame: Uint8Array, outcome: 'forwarded' | 'delivered') => {
      const group = byTarget.get(url) ?? { frames: [], outcome };
      group.frames.push(frame);
      byTarget.set(url, group);
    };
    // One look-up per next hop per batch, not per packet: an unknown id waits for a refetch.
    const lookUps = new Map<string, Promise<string | undefined>>();
    const lookUp = (kind: Peeled['kind'], id: string) => {
      const key = `${kind} ${id}`;
      let base = lookUps.get(key);
      if (!base) {
        const resolve = kind === 'deliver' ? this.#deps.resolveGateway : this.#deps.resolveNode;
        base = resolve(id).catch(() => undefined);
        lookUps.set(key, base);
      }
      return base;
    };
    for (const { peeled } of batch) {
      if (peeled.kind === 'deliver' && isDropRecipient(peeled.destination.recipient)) {
        this.#deps.metrics.packets.inc({ outcome: 'sunk' }); // drop cover ends here, mixed like the rest
        continue;
      }
      const [field, what, id] =
        peeled.kind === 'deliver'
          ? ['gateway', 'gateway', peeled.destination.gateway]
          : ['nextHop', 'next hop', peeled.nextHop];
      const base = await lookUp(peeled.kind, id);
      if (base === undefined) {
        this.#deps.metrics.packets.inc({ outcome: 'forward_failed' });
        this.#deps.logger.warn({ [field]: id }, `${what} unknown to the directory; packet dropped`);
        continue;
      }
      if (peeled.kind === 'deliver') {
        const delivery = encodeDelivery(
          { recipient: peeled.destination.recipient, payload: peeled.payload },
          this.#deps.deliveryPayloadBytes,
        );
        addTo(`${base}/v1/deliveries`, delivery, 'delivered');
      } else {
        addTo(`${base}/v1/packets`, peeled.packet, 'forwarded');
      }
    }
    await Promise.all(
      [...byTarget].map(async ([url, { frames, outcome }]) => {
        try {
          await this.#deps.send(url, frames);
          this.#deps.metrics.packets.inc({ outcome }, frames.length);
        } catch (error) {
          this.#deps.metrics.packets.inc({ outcome: 'forward_failed' }, frames.length);
          this.#deps.logger.warn({ url, packets: frames.length, reason: String(error) }, 'forward failed');
        }
      }),
    );
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
