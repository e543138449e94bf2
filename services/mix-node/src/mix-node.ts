/**
 * The path of a packet through one mix node, top to bottom:
 * receive → peel → pool → release → forward.
 */
import type { KeyPair } from '@mixlab/crypto';
import type { MixNodeMetrics } from '@mixlab/metrics';
import type { Clock, MixStrategy, StrategyContext } from '@mixlab/mixing';
import { encodeDelivery, PacketError, type PacketFormat, type Peeled } from '@mixlab/packet';

/** A peeled packet waiting in the pool. */
export interface PooledPacket {
  readonly peeled: Peeled;
  /** Clock time of arrival, for the mixing delay. */
  readonly arrivedAt: number;
}

export interface Rejection {
  readonly index: number;
  readonly outcome: PacketError['reason'];
  readonly reason: string;
}

export interface MixNodeLogger {
  warn(details: object, message: string): void;
}

export interface MixNodeDeps {
  readonly keys: KeyPair;
  readonly format: PacketFormat;
  readonly clock: Clock;
  readonly metrics: MixNodeMetrics;
  readonly logger: MixNodeLogger;
  /** Builds the pool; the node supplies where released batches go. */
  readonly createStrategy: (context: Pick<StrategyContext<PooledPacket>, 'release'>) => MixStrategy<PooledPacket>;
  /** Base URL of a next-hop node, or undefined when the directory does not know it. */
  readonly resolveNode: (id: string) => Promise<string | undefined>;
  /** POSTs frames to a URL; rejects when they were not accepted. */
  readonly send: (url: string, frames: Uint8Array[]) => Promise<void>;
  /** Maximum accepted packet size in bytes. */
  readonly maxPacketBytes: number;
}

export class MixNode {
  readonly #deps: MixNodeDeps;
  readonly #pool: MixStrategy<PooledPacket>;
  readonly #inflight = new Set<Promise<void>>();

  constructor(deps: MixNodeDeps) {
    this.#deps = deps;
    this.#pool = deps.createStrategy({ release: (batch) => this.#release(batch) });
  }

  get strategy(): string {
    return this.#pool.name;
  }

  get queued(): number {
    return this.#pool.queued;
  }

  /** Takes the packets of one request; a bad packet is dropped alone, never its neighbours. */
  receive(packets: readonly Uint8Array[]): { accepted: number; rejected: Rejection[] } {
    const rejected: Rejection[] = [];
    let accepted = 0;
    packets.forEach((packet, index) => {
      try {
        const peeled = this.#peel(packet);
        this.#deps.metrics.packets.inc({ outcome: 'accepted' });
        this.#pool.add({ peeled, arrivedAt: this.#deps.clock.now() });
        accepted++;
      } catch (error) {
        if (!(error instanceof PacketError)) throw error;
        this.#deps.metrics.packets.inc({ outcome: error.reason });
        this.#deps.logger.warn({ index, outcome: error.reason, reason: error.message }, 'packet dropped');
        rejected.push({ index, outcome: error.reason, reason: error.message });
      }
    });
    this.#updateQueueDepth();
    return { accepted, rejected };
  }

  /** A request body that could not even be split into packets counts as one malformed packet. */
  countMalformedRequest(reason: string): void {
    this.#deps.metrics.packets.inc({ outcome: 'malformed' });
    this.#deps.logger.warn({ outcome: 'malformed', reason }, 'request dropped');
  }

  #peel(packet: Uint8Array): Peeled {
    if (packet.length > this.#deps.maxPacketBytes) {
      throw new PacketError('malformed', `packet of ${packet.length} bytes exceeds ${this.#deps.maxPacketBytes}`);
    }
    return this.#deps.format.peel(packet, this.#deps.keys);
  }

  /** Called by the strategy with a shuffled batch. */
  #release(batch: PooledPacket[]): void {
    const strategy = this.#pool.name;
    this.#deps.metrics.batchSize.observe({ strategy }, batch.length);
    const now = this.#deps.clock.now();
    for (const packet of batch) this.#deps.metrics.mixingDelay.observe({ strategy }, (now - packet.arrivedAt) / 1000);
    this.#updateQueueDepth();
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
    for (const { peeled } of batch) {
      if (peeled.kind === 'deliver') {
        const { gateway, recipient } = peeled.destination;
        addTo(`${gateway}/v1/deliveries`, encodeDelivery({ recipient, payload: peeled.payload }), 'delivered');
        continue;
      }
      const base = await this.#deps.resolveNode(peeled.nextHop).catch(() => undefined);
      if (base === undefined) {
        this.#deps.metrics.packets.inc({ outcome: 'forward_failed' });
        this.#deps.logger.warn({ nextHop: peeled.nextHop }, 'next hop unknown to the directory; packet dropped');
        continue;
      }
      addTo(`${base}/v1/packets`, peeled.packet, 'forwarded');
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

  #updateQueueDepth(): void {
    this.#deps.metrics.queueDepth.set({ strategy: this.#pool.name }, this.#pool.queued);
  }

  /** Stops the pool and waits for batches already on their way. */
  async stop(): Promise<number> {
    const dropped = this.#pool.stop().length;
    this.#updateQueueDepth();
    await Promise.allSettled(this.#inflight);
    return dropped;
  }

  /** Resolves when every batch released so far has been sent or has failed (for tests). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#inflight);
  }
}
