/**
 * The network as clients and nodes see it: mix nodes arranged in layers
 * (a cascade when every layer has one node, stratified when layers are wider).
 * Keys travel as lowercase hex.
 */
export interface NodeDescriptor {
  /** Unique, stable name of the node; also how packets name their next hop. */
  readonly id: string;
  /** 1-based position of the node's layer on every route. */
  readonly layer: number;
  /** Base URL at which the node accepts packets. */
  readonly url: string;
  /** X25519 public key, 64 hex characters. */
  readonly publicKey: string;
  /** Its mixing strategy's configuration string, when the node published one (for expected delays). */
  readonly strategy?: string;
}

/** A client gateway: where exit nodes deliver messages for the recipients it serves. */
export interface GatewayDescriptor {
  /** Short, stable name; packets name their gateway by it. */
  readonly id: string;
  /** Base URL at which the gateway accepts deliveries. */
  readonly url: string;
  /** The gateway's long-term Ed25519 identity key, 64 lowercase hex characters: it signs the gateway's descriptor. */
  readonly identityKey: string;
}

export interface Topology {
  /** `layers[i]` holds the nodes of layer i + 1. */
  readonly layers: readonly (readonly NodeDescriptor[])[];
  readonly gateways: readonly GatewayDescriptor[];
}

export const NODE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
export const PUBLIC_KEY_PATTERN = '^[0-9a-f]{64}$';
/** Gateway ids are node ids of at most 30 bytes, so that a reply block's last routing slot can carry one. */
export const GATEWAY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$';
const nodeId = new RegExp(NODE_ID_PATTERN);
const gatewayId = new RegExp(GATEWAY_ID_PATTERN);
const publicKey = new RegExp(PUBLIC_KEY_PATTERN);

/** Reasons a descriptor is refused; empty when it is valid for a network of `layerCount` layers. */
export function descriptorProblems(descriptor: NodeDescriptor, layerCount: number): string[] {
  const problems: string[] = [];
  if (!nodeId.test(descriptor.id)) problems.push(`id must match ${NODE_ID_PATTERN}`);
  if (!Number.isInteger(descriptor.layer) || descriptor.layer < 1 || descriptor.layer > layerCount) {
    problems.push(`layer must be an integer from 1 to ${layerCount}, got ${descriptor.layer}`);
  }
  if (!publicKey.test(descriptor.publicKey)) {
    problems.push('publicKey must be 32 bytes as 64 lowercase hex characters');
  }
  problems.push(...urlProblems(descriptor.url));
  return problems;
}

/** Reasons a gateway descriptor is refused; empty when it is valid. */
export function gatewayProblems(descriptor: GatewayDescriptor): string[] {
  const problems = gatewayId.test(descriptor.id) ? [] : [`id must match ${GATEWAY_ID_PATTERN}`];
  problems.push(...urlProblems(descriptor.url));
  if (!publicKey.test(descriptor.identityKey)) {
    problems.push('identityKey must be 32 bytes as 64 lowercase hex characters');
  }
  return problems;
}

function urlProblems(text: string): string[] {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return [`url is not a URL: ${text}`];
  }
  return url.protocol === 'http:' || url.protocol === 'https:'
    ? []
    : [`url must be http or https, got ${url.protocol}`];
}

/** Reasons `node`, listed at `layers[index]` of a network of `layerCount` layers, is refused there. */
export function listedNodeProblems(node: NodeDescriptor, index: number, layerCount: number): string[] {
  const problems = descriptorProblems(node, layerCount).map((problem) => `node ${node.id}: ${problem}`);
  if (node.layer !== index + 1) problems.push(`node ${node.id} is listed in layer ${index + 1} but says ${node.layer}`);
  return problems;
}

/** Finds a gateway by id (in a topology or a signed document). */
export function findGateway<G extends { readonly id: string }>(
  topology: { readonly gateways: readonly G[] },
  id: string,
): G | undefined {
  return topology.gateways.find((gateway) => gateway.id === id);
}

/** Finds a node by id in any layer (of a topology or a signed document). */
export function findNode<N extends { readonly id: string }>(
  topology: { readonly layers: readonly (readonly N[])[] },
  id: string,
): N | undefined {
  for (const nodes of topology.layers) {
    const node = nodes.find((candidate) => candidate.id === id);
    if (node) return node;
  }
  return undefined;
}
