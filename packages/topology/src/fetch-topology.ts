import { type Dispatcher, request } from 'undici';
import { descriptorProblems, gatewayProblems, type Topology } from './topology.ts';

/**
 * GETs `${baseUrl}/v1/topology` and checks every descriptor in it; throws with the
 * reason when it is unusable. Empty layers are allowed here (nodes may still be
 * starting); route selection refuses them.
 */
export async function fetchTopology(baseUrl: string, dispatcher?: Dispatcher): Promise<Topology> {
  const response = await request(`${baseUrl}/v1/topology`, dispatcher ? { dispatcher } : {});
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`topology request to ${baseUrl} answered ${response.statusCode}`);
  }
  const topology = (await response.body.json()) as Topology;
  if (!Array.isArray(topology?.layers) || !topology.layers.every(Array.isArray) || !Array.isArray(topology.gateways)) {
    throw new Error(`topology from ${baseUrl} has no layers or no gateways`);
  }
  const problems = [
    ...topology.layers.flatMap((nodes) =>
      nodes.flatMap((node) => descriptorProblems(node, topology.layers.length).map((p) => `node ${node.id}: ${p}`)),
    ),
    ...topology.gateways.flatMap((gateway) => gatewayProblems(gateway).map((p) => `gateway ${gateway.id}: ${p}`)),
  ];
  if (problems.length > 0) throw new Error(`topology from ${baseUrl} is unusable: ${problems.join('; ')}`);
  return topology;
}
