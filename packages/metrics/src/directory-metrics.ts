import { Counter, Gauge, type Registry } from 'prom-client';

/** Why the directory refused a registration: the `reason` label of rejected registrations. */
export const DIRECTORY_REJECTION_REASONS = [
  'unsigned',
  'forged',
  'stale',
  'malformed',
  'conflicting',
  'replayed',
  'not_enrolled',
] as const;

/** What registered: the `kind` label of registrations. */
export const DIRECTORY_REGISTRANT_KINDS = ['node', 'gateway'] as const;
export type DirectoryRegistrantKind = (typeof DIRECTORY_REGISTRANT_KINDS)[number];
export type DirectoryRejectionReason = (typeof DIRECTORY_REJECTION_REASONS)[number];

/** A registered node is alive while the directory heard from it within the liveness timeout. */
export const DIRECTORY_NODE_STATES = ['alive', 'dead'] as const;
export type DirectoryNodeState = (typeof DIRECTORY_NODE_STATES)[number];

export interface DirectoryMetrics {
  /** Per kind (node, gateway): `{outcome="accepted", reason="ok"}` or `{outcome="rejected", reason=<DirectoryRejectionReason>}`. */
  readonly registrations: Counter<'kind' | 'outcome' | 'reason'>;
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
    help:
      'Registrations of nodes and gateways (kind): accepted (reason "ok"), or rejected with the reason ' +
      '(unsigned, forged, stale, malformed, conflicting, replayed, not_enrolled).',
    labelNames: ['kind', 'outcome', 'reason'],
    registers,
  });
  for (const kind of DIRECTORY_REGISTRANT_KINDS) {
    registrations.inc({ kind, outcome: 'accepted', reason: 'ok' }, 0);
    for (const reason of DIRECTORY_REJECTION_REASONS) registrations.inc({ kind, outcome: 'rejected', reason }, 0);
  }
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
