import { Counter, Gauge, type Registry } from 'prom-client';

/** Why the directory refused a node registration: the `reason` label of rejected registrations. */
export const DIRECTORY_REJECTION_REASONS = [
  'unsigned',
  'forged',
  'stale',
  'malformed',
  'conflicting',
  'replayed',
] as const;
export type DirectoryRejectionReason = (typeof DIRECTORY_REJECTION_REASONS)[number];

/** A registered node is alive while the directory heard from it within the liveness timeout. */
export const DIRECTORY_NODE_STATES = ['alive', 'dead'] as const;
export type DirectoryNodeState = (typeof DIRECTORY_NODE_STATES)[number];

export interface DirectoryMetrics {
  /** `{outcome="accepted", reason="ok"}` or `{outcome="rejected", reason=<DirectoryRejectionReason>}`. */
  readonly registrations: Counter<'outcome' | 'reason'>;
  /** Registered nodes per layer (1..LAYERS) and state. */
  readonly nodes: Gauge<'layer' | 'state'>;
  /** The epoch of the topology the directory publishes now. */
  readonly epoch: Gauge;
}

/**
 * The directory's metrics. Every `nodes` series of the `layerCount` layers and every
 * registration series starts at 0, so that dashboards see empty layers.
 */
export function directoryMetrics(registry: Registry, layerCount: number): DirectoryMetrics {
  const registers = [registry];
  const registrations = new Counter({
    name: 'mixlab_directory_registrations_total',
    help: 'Node registrations: accepted (reason "ok"), or rejected with the reason (unsigned, forged, stale, malformed, conflicting, replayed).',
    labelNames: ['outcome', 'reason'],
    registers,
  });
  registrations.inc({ outcome: 'accepted', reason: 'ok' }, 0);
  for (const reason of DIRECTORY_REJECTION_REASONS) registrations.inc({ outcome: 'rejected', reason }, 0);
  const nodes = new Gauge({
    name: 'mixlab_directory_nodes',
    help: 'Registered nodes per layer: alive (heard from within the liveness timeout, eligible for the topology) or dead (silent for longer).',
    labelNames: ['layer', 'state'],
    registers,
  });
  for (let layer = 1; layer <= layerCount; layer++) {
    for (const state of DIRECTORY_NODE_STATES) nodes.set({ layer: String(layer), state }, 0);
  }
  const epoch = new Gauge({
    name: 'mixlab_directory_epoch',
    help: 'The epoch of the topology the directory publishes now.',
    registers,
  });
  return { registrations, nodes, epoch };
}
