/**
 * Node loop cover (Loopix): at Poisson times the node sends a packet through every
 * other layer and back to itself. It looks like any other packet on the wire; only
 * this node knows it is cover. A loop that does not come back within `timeoutMs` is
 * counted lost: a live signal that something on the way drops packets.
 */
import { type KeyPair, openSealed, randomBytes, SEAL_OVERHEAD_BYTES, seal, toHex } from '@mixlab/crypto';
import type { LoopMetrics } from '@mixlab/metrics';
import type { PacketFormat, RouteHop } from '@mixlab/packet';
import { type Clock, exponentialDelay, type Random } from '@mixlab/runtime';
import { type Topology, type TopologyDocument, toTopology } from '@mixlab/topology';

const LOOP_ID_BYTES = 16;
/** A loop's sealed id; the exit pads deliveries past it (deliveryPayloadBytes). */
const SEALED_LOOP_BYTES = LOOP_ID_BYTES + SEAL_OVERHEAD_BYTES;

export interface LoopCoverDeps {
  readonly nodeId: string;
  readonly layer: number;
  /**
   * The key loops are addressed and their ids sealed to. Kept for the cover's lifetime,
   * apart from the per-epoch mixing keys, so that a loop still opens after a rotation.
   */
  readonly keys: KeyPair;
  readonly format: PacketFormat;
  /** Loops per second, on average; 0 sends none. */
  readonly rate: number;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly random: Random;
  /** The network with the other nodes' mixing keys of the current epoch. */
  readonly topology: () => Promise<Topology>;
  readonly send: (url: string, frames: Uint8Array[]) => Promise<void>;
  readonly metrics: LoopMetrics;
  readonly logger: { warn(details: object, message: string): void };
}

/** The other layers in cyclic order after `layer`: a loop from layer 2 of 3 goes 3, 1, then home. */
export function loopLayers(layer: number, layerCount: number): number[] {
  return Array.from({ length: layerCount - 1 }, (_, i) => ((layer + i) % layerCount) + 1);
}

export class LoopCover {
  readonly #deps: LoopCoverDeps;
  readonly #outstanding = new Map<string, { sentAt: number; cancel: () => void }>();
  #cancelNext: (() => void) | undefined;

  constructor(deps: LoopCoverDeps) {
    this.#deps = deps;
  }

  start(): void {
    if (this.#deps.rate > 0) this.#scheduleNext();
  }

  stop(): void {
    this.#cancelNext?.();
    this.#cancelNext = undefined;
    for (const { cancel } of this.#outstanding.values()) cancel();
    this.#outstanding.clear();
  }

  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** A delivery addressed to this node: returns true when it was one of its loops coming home. */
  returned(payload: Uint8Array): boolean {
    const opened = openSealed(payload.subarray(0, SEALED_LOOP_BYTES), this.#deps.keys);
    if (opened?.length !== LOOP_ID_BYTES) return false;
    const id = toHex(opened);
    const loop = this.#outstanding.get(id);
    if (!loop) return false; // already counted lost, or a copy
    loop.cancel();
    this.#outstanding.delete(id);
    this.#deps.metrics.loops.inc({ origin: 'node', event: 'returned' });
    this.#deps.metrics.roundTrip.observe({ origin: 'node' }, (this.#deps.clock.now() - loop.sentAt) / 1000);
    return true;
  }

  #scheduleNext(): void {
    const delay = exponentialDelay(1000 / this.#deps.rate, this.#deps.random);
    this.#cancelNext = this.#deps.clock.schedule(delay, () => {
      this.#scheduleNext();
      this.sendLoop().catch((error) => this.#deps.logger.warn({ reason: String(error) }, 'loop cover not sent'));
    });
  }

  /** Builds and sends one loop; exported for tests. */
  async sendLoop(): Promise<void> {
    const topology = await this.#deps.topology();
    const route: RouteHop[] = [];
    let firstUrl: string | undefined;
    for (const layer of loopLayers(this.#deps.layer, topology.layers.length)) {
      const nodes = topology.layers[layer - 1] ?? [];
      if (nodes.length === 0) throw new Error(`layer ${layer} has no node yet`);
      const node = nodes[this.#deps.random.int(nodes.length)] as (typeof nodes)[number];
      route.push({ id: node.id, publicKey: Buffer.from(node.publicKey, 'hex') });
      firstUrl ??= node.url;
    }
    if (!firstUrl) return; // a one-layer network has nowhere to loop through
    const loopId = randomBytes(LOOP_ID_BYTES);
    const packet = this.#deps.format.wrap(
      route,
      { gateway: this.#deps.nodeId, recipient: this.#deps.keys.publicKey },
      seal(loopId, this.#deps.keys.publicKey),
    );
    const id = toHex(loopId);
    const sentAt = this.#deps.clock.now();
    const cancel = this.#deps.clock.schedule(this.#deps.timeoutMs, () => {
      this.#outstanding.delete(id);
      this.#deps.metrics.loops.inc({ origin: 'node', event: 'lost' });
    });
    this.#outstanding.set(id, { sentAt, cancel });
    this.#deps.metrics.loops.inc({ origin: 'node', event: 'sent' });
    this.#deps.metrics.originated.inc({ kind: 'cover', type: 'loop' });
    await this.#deps.send(`${firstUrl}/v1/packets`, [packet]);
  }
}

/**
 * The route view of a topology document for `epoch`: its current keys, or its next
 * keys when the document is one epoch behind (fetched before a boundary), so that
 * loops are wrapped to the keys the other nodes peel with now.
 */
export function topologyForEpoch(document: TopologyDocument, epoch: number): Topology {
  return toTopology(document, document.epoch === epoch - 1 ? 'next' : 'current');
}
