import type { Random } from '@mixlab/runtime';
import type { NodeDescriptor, Topology } from './topology.ts';

/** A layer with no live node: no route exists until one registers (a restart, say); retry later. */
export class EmptyLayerError extends Error {
  readonly layer: number;

  constructor(layer: number) {
    super(`layer ${layer} has no node: the network cannot carry traffic yet`);
    this.name = 'EmptyLayerError';
    this.layer = layer;
  }
}

/**
 * One node per layer, each drawn uniformly and independently (stratified topology).
 * Give `secureRandom` in production; a seeded Random only to reproduce an experiment.
 */
export function pickRoute(topology: Topology, random: Random): NodeDescriptor[] {
  return topology.layers.map((nodes, index) => {
    if (nodes.length === 0) throw new EmptyLayerError(index + 1);
    return nodes[random.int(nodes.length)] as NodeDescriptor;
  });
}
