/**
 * Where a mix node sends what it releases: a packet to the node its next hop names, a
 * delivery to the gateway its destination names, or, for the node's own loop cover, whose
 * destination is a mix node's id, to that node.
 */
import { HOP_UNKNOWN, type HopResolution, hopFound, type ResolveHop } from '@mixlab/service-kit';
import type { TopologyCache } from '@mixlab/topology';

/** Resolves hops in the directory's topology; an outage throws (the Forwarder counts it unreachable). */
export function nextHops(topology: Pick<TopologyCache, 'find' | 'findGateway'>): ResolveHop {
  const known = (descriptor: { readonly url: string } | undefined): HopResolution =>
    descriptor ? hopFound(descriptor.url) : HOP_UNKNOWN;
  return async (kind, id) => {
    if (kind === 'node') return known(await topology.find(id));
    return known((await topology.findGateway(id)) ?? (await topology.find(id)));
  };
}
