/**
 * Where a mix node sends what it releases: a packet to the node its next hop names, a
 * delivery to the gateway its destination names, or, for the node's own loop cover, whose
 * destination is a mix node's id, to that node. Each with who is there (id and identity key),
 * so that the link box is sealed to it.
 */
import { HOP_UNKNOWN, type HopResolution, hopFound, type ResolveHop } from '@mixlab/service-kit';
import { findGateway, findNode, type TopologyCache } from '@mixlab/topology';

/** Resolves hops in the directory's topology; an outage throws (the Forwarder counts it unreachable). */
export function nextHops(topology: Pick<TopologyCache, 'findListed' | 'lookUp'>): ResolveHop {
  const known = (
    listed: { readonly id: string; readonly url: string; readonly identityKey?: string } | undefined,
  ): HopResolution => {
    if (!listed) return HOP_UNKNOWN;
    const { id, url, identityKey } = listed;
    return identityKey === undefined ? hopFound(url) : hopFound(url, { id, identityKey });
  };
  return async (kind, id) => {
    if (kind === 'node') return known(await topology.findListed(id));
    // A gateway, or a node (its own loops): one look-up, so that either is found without a refetch.
    return known(await topology.lookUp((document) => findGateway(document, id) ?? findNode(document, id)));
  };
}
