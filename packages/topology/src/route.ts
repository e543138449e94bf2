import type { NodeDescriptor, Topology } from './topology.ts';

/** Picks a uniform random integer in [0, maxExclusive); inject a CSPRNG in production. */
export type PickIndex = (maxExclusive: number) => number;

/** One node per layer, each drawn uniformly and independently (stratified topology). */
export function pickRoute(topology: Topology, pickIndex: PickIndex): NodeDescriptor[] {
  return topology.layers.map((nodes, index) => {
    if (nodes.length === 0) throw new Error(`layer ${index + 1} has no node: the network cannot carry traffic yet`);
    return nodes[pickIndex(nodes.length)] as NodeDescriptor;
  });
}
