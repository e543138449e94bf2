import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { stageMetrics } from './stage-metrics.ts';

/** How a packet's stay at a mix node ended (bounded label set). */
export const PACKET_OUTCOMES = [
  'accepted',
  'malformed',
  'undecryptable',
  'replay',
  'forwarded',
  'delivered',
  'sunk',
  'forward_failed',
  'queue_full',
] as const;
export type PacketOutcome = (typeof PACKET_OUTCOMES)[number];

/** Why a mix node refused a whole request before reading its packets (bounded label set: shared error codes). */
export const REQUEST_REJECTION_REASONS = ['body_too_large', 'unsupported_media_type', 'invalid_request'] as const;
export type RequestRejectionReason = (typeof REQUEST_REJECTION_REASONS)[number];

/** Which of a mix node's mixing keys opened a packet, relative to its current epoch (bounded label set). */
export const PEEL_KEYS = ['current', 'previous', 'next'] as const;
export type PeelKey = (typeof PEEL_KEYS)[number];

/** Batch sizes: every size up to 10 exactly (so "all batches were 10" is checkable), then coarser. */
export const BATCH_SIZE_BUCKETS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 50, 100, 200, 500, 1000];
/** Mixing delays from 1 ms to about 65 s. */
export const MIXING_DELAY_BUCKETS = Array.from({ length: 17 }, (_, i) => 0.001 * 2 ** i);

export interface MixNodeMetrics {
  readonly batchSize: Histogram<'strategy'>;
  readonly mixingDelay: Histogram<'strategy'>;
  readonly queueDepth: Gauge<'strategy'>;
  readonly packets: Counter<'outcome'>;
  /** Requests refused whole: too large (413), not octet-stream (415), not a sequence of frames (400). */
  readonly requestsRejected: Counter<'reason'>;
  readonly replayCacheEntries: Gauge;
  readonly replayCacheBytes: Gauge;
  /** The false-positive rate each epoch's replay filter is sized for (at its planned entries). */
  readonly replayCacheFalsePositiveRate: Gauge;
  /** Packets opened, by the key that opened them: previous (in flight across a rotation) or next (clock ahead). */
  readonly peeled: Counter<'key'>;
  /** The epoch of the node's current mixing key. */
  readonly mixingKeyEpoch: Gauge;
  /** hop_peel, hop_queue, hop_forward, exit_delivery. */
  readonly stage: Histogram<'stage'>;
}

export function mixNodeMetrics(registry: Registry): MixNodeMetrics {
  const registers = [registry];
  const packets = new Counter({
    name: 'mixlab_packets_total',
    help: 'Packets seen by this mix node, by how their stay ended.',
    labelNames: ['outcome'],
    registers,
  });
  // Start every outcome at zero so rate() and absent-series checks behave.
  for (const outcome of PACKET_OUTCOMES) packets.inc({ outcome }, 0);
  const requestsRejected = new Counter({
    name: 'mixlab_requests_rejected_total',
    help: 'Requests this mix node refused whole, by reason: body_too_large (413), unsupported_media_type (415), invalid_request (not a sequence of frames).',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of REQUEST_REJECTION_REASONS) requestsRejected.inc({ reason }, 0);
  const peeled = new Counter({
    name: 'mixlab_packets_peeled_total',
    help: "Packets this mix node opened, replays not counted, by which of its mixing keys opened them (the current epoch's, the previous or the next).",
    labelNames: ['key'],
    registers,
  });
  for (const key of PEEL_KEYS) peeled.inc({ key }, 0);
  return {
    requestsRejected,
    batchSize: new Histogram({
      name: 'mixlab_batch_size',
      help: 'Packets per batch released by the mixing strategy.',
      labelNames: ['strategy'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    mixingDelay: new Histogram({
      name: 'mixlab_mixing_delay_seconds',
      help: 'Per packet, time from arrival at this node to its forward.',
      labelNames: ['strategy'],
      buckets: MIXING_DELAY_BUCKETS,
      registers,
    }),
    queueDepth: new Gauge({
      name: 'mixlab_queue_depth',
      help: 'Packets waiting in the mixing pool.',
      labelNames: ['strategy'],
      registers,
    }),
    packets,
    replayCacheEntries: new Gauge({
      name: 'mixlab_replay_cache_entries',
      help: 'Replay tags remembered, over the epochs whose keys still peel.',
      registers,
    }),
    replayCacheBytes: new Gauge({
      name: 'mixlab_replay_cache_bytes',
      help: 'Memory held by the replay filters (exact: one preallocated Bloom filter per epoch).',
      registers,
    }),
    replayCacheFalsePositiveRate: new Gauge({
      name: 'mixlab_replay_cache_false_positive_rate',
      help: 'The chance that a new packet is taken for a replay, that each Bloom filter is sized for once it holds its planned entries.',
      registers,
    }),
    peeled,
    mixingKeyEpoch: new Gauge({
      name: 'mixlab_mixing_key_epoch',
      help: "The epoch of this mix node's current mixing key.",
      registers,
    }),
    stage: stageMetrics(registry),
  };
}
