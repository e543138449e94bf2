import type { Random } from '@mixlab/runtime';
import type { NodeDescriptor, Topology } from './topology.ts';

/**
 * One node per layer, each drawn uniformly and independently (stratified topology).
 * Give `secureRandom` in production; a seeded Random only to reproduce an experiment.
 */
export function pickRoute(topology: Topology, random: Random): NodeDescriptor[] {
  return topology.layers.map((nodes, index) => {
    if (nodes.length === 0) throw new Error(`layer ${index + 1} has no node: the network cannot carry traffic yet`);
    return nodes[random.int(nodes.length)] as NodeDescriptor;
  });
}
