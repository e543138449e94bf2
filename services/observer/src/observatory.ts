/**
 * The live observer: tap datagrams in, in any order within `slackMs`; the anonymity engine fed
 * in time order; its observations out as metrics and as recent per-message estimates. It knows
 * only the datagrams (what a tap shows), the public topology and the public mixing rule.
 */
import {
  AnonymityObserver,
  type DeliveryObservation,
  type Observation,
  type PushObservation,
  type SenderDistribution,
  type WireEvent,
} from '@mixlab/anonymity';
import type { AnonymityMetrics, TapOutcome } from '@mixlab/metrics';
import { MODEL_PACKET_KINDS } from '@mixlab/metrics';
import type { StrategyConfig } from '@mixlab/mixing';
import { decodeTapEvents } from '@mixlab/service-kit';
import type { TopologyDocument } from '@mixlab/topology';
import { ClientSlots, clientSlot, type Directory, directoryOf, rolesOf } from './endpoints.ts';
import type { TraceRecorder } from './trace-recorder.ts';

export interface ObservatoryOptions {
  readonly strategy: StrategyConfig;
  readonly maxClients: number;
  readonly slackMs: number;
  readonly releaseLagMs: number;
  readonly recentMessages: number;
  readonly metrics: AnonymityMetrics;
  /** Keeps every event fed to the model, named, for GET /v1/trace (the passive attacks' input). */
  readonly trace?: TraceRecorder;
  readonly logger: { info(details: object, message: string): void };
}

/** A delivered message as /v1/estimates shows it: senders with a probability above 0, by client slot. */
export interface MessageEstimate {
  readonly kind: 'delivery' | 'push';
  readonly atMs: number;
  /** The exit node (delivery) or the gateway (push). */
  readonly from: string;
  /** The gateway (delivery) or the recipient's client slot (push). */
  readonly to: string;
  /** 1-based per recipient (pushes only). */
  readonly order?: number;
  readonly entropyBits: number;
  readonly effectiveSetSize: number;
  readonly degree: number;
  readonly clientsSeen: number;
  readonly senders: Readonly<Record<string, number>>;
  readonly unattributed: number;
}

export interface Estimates {
  /** Client slots in use, with the endpoint (connection) each stands for. */
  readonly clients: readonly { readonly name: string; readonly endpoint: string }[];
  readonly nodes: readonly { readonly name: string; readonly layer: number }[];
  readonly gateways: readonly string[];
  readonly stats: AnonymityObserver['stats'] | undefined;
  /** Oldest first, at most `recentMessages` of each kind. */
  readonly deliveries: readonly MessageEstimate[];
  readonly pushes: readonly MessageEstimate[];
}

export class Observatory {
  readonly #options: ObservatoryOptions;
  readonly #clients: ClientSlots;
  #directory: Directory | undefined;
  #engine: AnonymityObserver | undefined;
  /** Events waiting for the watermark, unsorted. */
  #buffer: WireEvent[] = [];
  /** Every event before it has been given to the engine; later datagrams older than it are late. */
  #watermark = Number.NEGATIVE_INFINITY;
  /** The engine's cumulative counts already added to the counters. */
  #counted = { unattributed: 0, sunk: 0, evicted: 0 };
  #deliveries: MessageEstimate[] = [];
  #pushes: MessageEstimate[] = [];

  constructor(options: ObservatoryOptions) {
    this.#options = options;
    this.#clients = new ClientSlots(options.maxClients);
  }

  /**
   * A topology from the directory; the model starts afresh only when nodes or gateways moved.
   * Returns whether the model follows a topology (none has a gateway yet: nothing to watch).
   */
  setTopology(document: TopologyDocument): boolean {
    if (document.gateways.length === 0) return this.#engine !== undefined;
    const directory = directoryOf(document, this.#options.strategy);
    if (directory.key === this.#directory?.key) return true;
    const first = this.#directory === undefined;
    this.#directory = directory;
    this.#engine = new AnonymityObserver(rolesOf(directory, this.#clients), {
      releaseLagMs: this.#options.releaseLagMs,
    });
    this.#counted = { unattributed: 0, sunk: 0, evicted: 0 };
    if (!first) this.#options.metrics.modelResets.inc();
    this.#options.logger.info(
      { nodes: directory.nodes.map((node) => node.name), gateways: directory.gateways, reset: !first },
      'observer model follows the topology',
    );
    return true;
  }

  /**
   * One tap datagram (its events, a line each); never throws. A bad datagram is counted once and
   * dropped whole; each late event is counted and dropped. Says what became of each event.
   */
  ingest(datagram: Uint8Array): TapOutcome[] {
    let events: WireEvent[];
    try {
      events = decodeTapEvents(datagram);
    } catch {
      return [this.#count('malformed')];
    }
    return events.map((event) => {
      if (event.atMs < this.#watermark) return this.#count('late');
      this.#buffer.push(event);
      return 'accepted';
    });
  }

  /** Gives the engine every event older than `nowMs - slackMs`, in time order, and records what it learns. */
  advance(nowMs: number): void {
    const watermark = nowMs - this.#options.slackMs;
    if (watermark <= this.#watermark) return;
    this.#watermark = watermark;
    const ready: WireEvent[] = [];
    const waiting: WireEvent[] = [];
    for (const event of this.#buffer) (event.atMs < watermark ? ready : waiting).push(event);
    this.#buffer = waiting;
    ready.sort((a, b) => a.atMs - b.atMs);
    const engine = this.#engine;
    const directory = this.#directory;
    for (const event of ready) {
      const named = directory && this.#name(event, directory);
      if (!engine || !named) {
        this.#count('unmapped');
        continue;
      }
      this.#options.trace?.record(named);
      try {
        this.#record(engine.observe(named));
        this.#count('accepted');
      } catch {
        this.#count('malformed'); // checked at decoding already; the engine's own check is the last word
      }
    }
    if (engine) {
      this.#record(engine.advanceTo(watermark));
      this.#updateGauges(engine);
    }
  }

  /** The public mixing rule the model applies. */
  get strategy(): StrategyConfig {
    return this.#options.strategy;
  }

  estimates(): Estimates {
    return {
      clients: this.#clients.endpoints.map((endpoint, i) => ({
        name: this.#clients.names[i] as string,
        endpoint,
      })),
      nodes: (this.#directory?.nodes ?? []).map(({ name, layer }) => ({ name, layer })),
      gateways: this.#directory?.gateways ?? [],
      stats: this.#engine?.stats,
      deliveries: this.#deliveries,
      pushes: this.#pushes,
    };
  }

  /** The event with its endpoints named; undefined when one of them is no one the model knows. */
  #name(event: WireEvent, directory: Directory): WireEvent | undefined {
    let from = directory.names.get(event.from);
    let to = directory.names.get(event.to);
    // Only a gateway's peers can be clients: a node's unknown peer is a node the topology lacks.
    const gateways = directory.gateways;
    if (from === undefined && to !== undefined && gateways.includes(to)) from = this.#clients.slotOf(event.from);
    if (to === undefined && from !== undefined && gateways.includes(from)) to = this.#clients.slotOf(event.to);
    if (from === undefined || to === undefined) return undefined;
    return { atMs: event.atMs, from, to, bytes: event.bytes, packets: event.packets };
  }

  #record(observations: readonly Observation[]): void {
    const { metrics } = this.#options;
    for (const observation of observations) {
      if (observation.kind === 'node-output') {
        const labels = { scope: 'node', layer: String(observation.layer), mix_node: observation.node };
        const set = 2 ** observation.inputEntropyBits;
        for (let i = 0; i < observation.packets; i++) {
          metrics.entropy.observe(labels, observation.inputEntropyBits);
          metrics.effectiveSetSize.observe(labels, set);
        }
      } else if (observation.kind === 'delivery') {
        metrics.entropy.observe({ scope: 'route' }, observation.entropyBits);
        metrics.effectiveSetSize.observe({ scope: 'route' }, observation.effectiveSetSize);
        metrics.degree.observe({ scope: 'route' }, observation.degree);
        this.#keep(this.#deliveries, estimate(observation, observation.exit, observation.gateway));
      } else {
        this.#keep(this.#pushes, estimate(observation, observation.gateway, observation.recipient, observation.order));
      }
    }
  }

  #keep(list: MessageEstimate[], entry: MessageEstimate): void {
    list.push(entry);
    if (list.length > this.#options.recentMessages) list.splice(0, list.length - this.#options.recentMessages);
  }

  #updateGauges(engine: AnonymityObserver): void {
    const { metrics } = this.#options;
    const stats = engine.stats;
    const now = { unattributed: stats.unattributedPackets, sunk: stats.sunkPackets, evicted: stats.evictedPackets };
    for (const kind of MODEL_PACKET_KINDS) {
      metrics.modelPackets.inc({ kind }, now[kind] - this.#counted[kind]);
    }
    this.#counted = now;
    metrics.clientsSeen.set(stats.clientsSeen);
    metrics.retainedRuns.set(stats.retainedRuns);
  }

  #count(outcome: TapOutcome): TapOutcome {
    this.#options.metrics.tapEvents.inc({ outcome });
    return outcome;
  }
}

function estimate(
  observation: DeliveryObservation | PushObservation,
  from: string,
  to: string,
  order?: number,
): MessageEstimate {
  return {
    kind: observation.kind,
    atMs: observation.atMs,
    from,
    to,
    ...(order === undefined ? {} : { order }),
    entropyBits: observation.entropyBits,
    effectiveSetSize: observation.effectiveSetSize,
    degree: observation.degree,
    clientsSeen: observation.clientsSeen,
    ...sparse(observation.senders),
  };
}

/** The senders with a probability above 0, by client slot. */
function sparse(senders: SenderDistribution): { senders: Record<string, number>; unattributed: number } {
  const named: Record<string, number> = {};
  senders.probabilities.forEach((p, i) => {
    if (p > 0) named[clientSlot(i)] = p;
  });
  return { senders: named, unattributed: senders.unattributed };
}
