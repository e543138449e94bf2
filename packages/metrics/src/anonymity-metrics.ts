import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Entropies in bits: fine near 0 (no mixing), then up to 2^12 equally likely senders. */
export const ENTROPY_BUCKETS = [0, 0.01, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 10, 12];
/** 2^H, as powers of two (the buckets above, exponentiated where they are whole). */
export const EFFECTIVE_SET_BUCKETS = Array.from({ length: 13 }, (_, i) => 2 ** i);
/** H / log2 N, from 0 to 1. */
export const DEGREE_BUCKETS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];

/** What the tap said of a datagram: taken, unreadable, too late for the model, or naming no endpoint it knows. */
export const TAP_OUTCOMES = ['accepted', 'malformed', 'late', 'unmapped'] as const;
export type TapOutcome = (typeof TAP_OUTCOMES)[number];
/** Packets the model could not follow: see ObserverStats in @mixlab/anonymity. */
export const MODEL_PACKET_KINDS = ['unattributed', 'sunk', 'evicted'] as const;

/**
 * The anonymity observer's metrics. scope="node": a mix node's own mixing, the entropy of each
 * output packet over that node's inputs (labels layer, mix_node); scope="route": each delivered
 * message's entropy over the senders, end to end.
 */
export interface AnonymityMetrics {
  readonly entropy: Histogram<'scope' | 'layer' | 'mix_node'>;
  readonly effectiveSetSize: Histogram<'scope' | 'layer' | 'mix_node'>;
  readonly degree: Histogram<'scope'>;
  readonly tapEvents: Counter<'outcome'>;
  readonly modelPackets: Counter<'kind'>;
  readonly modelResets: Counter;
  readonly clientsSeen: Gauge;
  readonly retainedRuns: Gauge;
}

export function anonymityMetrics(registry: Registry): AnonymityMetrics {
  const registers = [registry];
  const tapEvents = new Counter({
    name: 'mixlab_observer_tap_events_total',
    help: 'Tap datagrams by outcome: accepted, malformed, late (behind the model), unmapped (unknown endpoint).',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of TAP_OUTCOMES) tapEvents.inc({ outcome }, 0);
  const modelPackets = new Counter({
    name: 'mixlab_observer_model_packets_total',
    help: 'Packets the model could not follow: unattributed (left a node holding none: loop cover), sunk, evicted.',
    labelNames: ['kind'],
    registers,
  });
  for (const kind of MODEL_PACKET_KINDS) modelPackets.inc({ kind }, 0);
  return {
    entropy: new Histogram({
      name: 'mixlab_anonymity_entropy_bits',
      help: 'Entropy per packet as a passive observer of every link sees it: scope="node" over a node\'s inputs, scope="route" over the senders.',
      labelNames: ['scope', 'layer', 'mix_node'],
      buckets: ENTROPY_BUCKETS,
      registers,
    }),
    effectiveSetSize: new Histogram({
      name: 'mixlab_anonymity_effective_set_size',
      help: 'Effective anonymity set 2^H, with scopes as mixlab_anonymity_entropy_bits.',
      labelNames: ['scope', 'layer', 'mix_node'],
      buckets: EFFECTIVE_SET_BUCKETS,
      registers,
    }),
    degree: new Histogram({
      name: 'mixlab_anonymity_degree',
      help: 'Degree of anonymity H / log2 N of each delivered message, N the clients seen so far.',
      labelNames: ['scope'],
      buckets: DEGREE_BUCKETS,
      registers,
    }),
    tapEvents,
    modelPackets,
    modelResets: new Counter({
      name: 'mixlab_observer_model_resets_total',
      help: 'Times the observer started its model afresh because the topology changed.',
      registers,
    }),
    clientsSeen: new Gauge({
      name: 'mixlab_observer_clients',
      help: 'Client connections the observer has seen submit packets.',
      registers,
    }),
    retainedRuns: new Gauge({
      name: 'mixlab_observer_retained_runs',
      help: "Runs the observer's model holds over every pool and relay: its memory, in entries.",
      registers,
    }),
  };
}
