/**
 * Node loop cover (Loopix): at Poisson times the node wraps a packet through every other
 * layer and back to itself, and puts it into its own pool as if it had just peeled it, so
 * the loop leaves in one of its batches, in the same request as real traffic: on the wire
 * it is any packet of a batch; only this node knows it is cover. A loop that does not come
 * back within `timeoutMs` is counted lost; when enough of the recent ones are lost the
 * alarm fires (LoopLossWindow): a live signal that something holds back or drops packets,
 * as an n − 1 attacker in front of this node must.
 */

import { type LoopAlarmOptions, LoopLossWindow } from '@mixlab/attacks';
import { type KeyPair, openSealed, randomBytes, SEAL_OVERHEAD_BYTES, seal, toHex } from '@mixlab/crypto';
import type { LoopAlarmMetrics, LoopMetrics } from '@mixlab/metrics';
import type { PacketFormat, Peeled, RouteHop } from '@mixlab/packet';
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
  /** The alarm: over the last `window` resolved loops, fires at `threshold` of them lost. */
  readonly alarm: Pick<LoopAlarmOptions, 'window' | 'threshold'>;
  readonly clock: Clock;
  readonly random: Random;
  /** The network with the other nodes' mixing keys of the current epoch. */
  readonly topology: () => Promise<Topology>;
  /**
   * Puts the loop, as this node would have peeled it, into this node's own pool (MixNode.inject):
   * it leaves in a batch with the real traffic.
   */
  readonly enqueue: (packet: Extract<Peeled, { kind: 'forward' }>) => void;
  readonly metrics: LoopMetrics & LoopAlarmMetrics;
  readonly logger: { warn(details: object, message: string): void; info(details: object, message: string): void };
}

/** The other layers in cyclic order after `layer`: a loop from layer 2 of 3 goes 3, 1, then home. */
export function loopLayers(layer: number, layerCount: number): number[] {
  return Array.from({ length: layerCount - 1 }, (_, i) => ((layer + i) % layerCount) + 1);
}

export class LoopCover {
  readonly #deps: LoopCoverDeps;
  readonly #outstanding = new Map<string, { sentAt: number; cancel: () => void }>();
  readonly #alarm: LoopLossWindow;
  #cancelNext: (() => void) | undefined;

  constructor(deps: LoopCoverDeps) {
    this.#deps = deps;
    this.#alarm = new LoopLossWindow({ ...deps.alarm, timeoutMs: deps.timeoutMs });
  }

  /** Whether the loop-loss alarm fires now. */
  get alarming(): boolean {
    return this.#alarm.firing;
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
    this.#resolve(false);
    return true;
  }

  /** Feeds one resolved loop to the alarm; logs once when it starts firing and once when it clears. */
  #resolve(lost: boolean): void {
    const was = this.#alarm.firing;
    const firing = this.#alarm.record(lost);
    const lossRatio = this.#alarm.lossRatio;
    this.#deps.metrics.lossRatio.set(lossRatio);
    this.#deps.metrics.alarm.set(firing ? 1 : 0);
    const details = { lossRatio, window: this.#deps.alarm.window, threshold: this.#deps.alarm.threshold };
    if (firing && !was) {
      this.#deps.logger.warn(
        details,
        "loop-loss alarm: this node's loops are not coming back (packets held back or dropped)",
      );
    } else if (was && !firing) {
      this.#deps.logger.info(details, 'loop-loss alarm cleared');
    }
  }

  #scheduleNext(): void {
    const delay = exponentialDelay(1000 / this.#deps.rate, this.#deps.random);
    this.#cancelNext = this.#deps.clock.schedule(delay, () => {
      this.#scheduleNext();
      this.sendLoop().catch((error) => this.#deps.logger.warn({ reason: String(error) }, 'loop cover not sent'));
    });
  }

  /** Builds one loop and puts it into this node's pool; public for tests. */
  async sendLoop(): Promise<void> {
    const topology = await this.#deps.topology();
    const route: RouteHop[] = [];
    for (const layer of loopLayers(this.#deps.layer, topology.layers.length)) {
      const nodes = topology.layers[layer - 1] ?? [];
      if (nodes.length === 0) throw new Error(`layer ${layer} has no node yet`);
      const node = nodes[this.#deps.random.int(nodes.length)] as (typeof nodes)[number];
      route.push({ id: node.id, publicKey: Buffer.from(node.publicKey, 'hex') });
    }
    const first = route[0];
    if (!first) return; // a one-layer network has nowhere to loop through
    const loopId = randomBytes(LOOP_ID_BYTES);
    const packet = this.#deps.format.wrap(
      route,
      { gateway: this.#deps.nodeId, recipient: this.#deps.keys.publicKey },
      seal(loopId, this.#deps.keys.publicKey),
    );
    // No delayMs: the node's own strategy decides how long its loop waits, as for any packet.
    // Pooled first: a stopped pool throws, and nothing is counted. The round trip includes this pool.
    this.#deps.enqueue({ kind: 'forward', nextHop: first.id, packet });
    const id = toHex(loopId);
    const sentAt = this.#deps.clock.now();
    const cancel = this.#deps.clock.schedule(this.#deps.timeoutMs, () => {
      this.#outstanding.delete(id);
      this.#deps.metrics.loops.inc({ origin: 'node', event: 'lost' });
      this.#resolve(true);
    });
    this.#outstanding.set(id, { sentAt, cancel });
    this.#deps.metrics.loops.inc({ origin: 'node', event: 'sent' });
    this.#deps.metrics.originated.inc({ kind: 'cover', type: 'loop' });
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
