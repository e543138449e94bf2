import { type Dispatcher, request } from 'undici';
import type { Topology } from './topology.ts';
import { type SignedTopology, topologyShapeProblems, toTopology, verifyTopology } from './topology-signing.ts';

/**
 * GETs `${baseUrl}/v1/topology`: the directory's signed document (the gateway passes it
 * on unchanged). Checks only that it has the shape of one; whoever routes through it
 * verifies the signature (`fetchVerifiedTopology`).
 */
export async function fetchSignedTopology(baseUrl: string, dispatcher?: Dispatcher): Promise<SignedTopology> {
  const response = await request(`${baseUrl}/v1/topology`, dispatcher ? { dispatcher } : {});
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`topology request to ${baseUrl} answered ${response.statusCode}`);
  }
  const signed = (await response.body.json()) as SignedTopology;
  const problems = topologyShapeProblems(signed?.document);
  if (problems.length > 0) throw new Error(`topology from ${baseUrl} is unusable: ${problems.join('; ')}`);
  return signed;
}

/**
 * The topology a node uses to look next hops and gateways up. Not verified: a forged
 * one could only misdirect packets that are encrypted to the keys their senders chose.
 */
export async function fetchTopology(baseUrl: string, dispatcher?: Dispatcher): Promise<Topology> {
  return toTopology((await fetchSignedTopology(baseUrl, dispatcher)).document);
}

/** What a client routes through: fetched, then verified against the pinned directory key. */
export async function fetchVerifiedTopology(
  baseUrl: string,
  options: { pinnedDirectoryKey: string; now?: () => number; maxSkewMs?: number; dispatcher?: Dispatcher },
): Promise<{ topology: Topology; validUntil: number; epoch: number }> {
  const signed = await fetchSignedTopology(baseUrl, options.dispatcher);
  const document = verifyTopology(signed, {
    pinnedDirectoryKey: options.pinnedDirectoryKey,
    nowMs: (options.now ?? Date.now)(),
    maxSkewMs: options.maxSkewMs ?? 5_000,
  });
  return { topology: toTopology(document), validUntil: document.validUntil, epoch: document.epoch };
}
