import {
  descriptorProblems,
  type GatewayDescriptor,
  gatewayProblems,
  type NodeDescriptor,
  type Topology,
} from '@mixlab/topology';

export type RegistrationResult = { ok: true; replaced: boolean } | { ok: false; problems: string[] };

/** The directory's state: the latest descriptor of every node and gateway, by id. */
export class NodeRegistry {
  readonly layerCount: number;
  readonly #nodes = new Map<string, NodeDescriptor>();
  readonly #gateways = new Map<string, GatewayDescriptor>();

  constructor(layerCount: number) {
    this.layerCount = layerCount;
  }

  /** Validates and stores a descriptor; a node registering again replaces its old descriptor. */
  register(descriptor: NodeDescriptor): RegistrationResult {
    const problems = descriptorProblems(descriptor, this.layerCount);
    if (problems.length > 0) return { ok: false, problems };
    const replaced = this.#nodes.has(descriptor.id);
    const { id, layer, url, publicKey } = descriptor;
    this.#nodes.set(id, { id, layer, url, publicKey });
    return { ok: true, replaced };
  }

  /** Validates and stores a gateway; registering again replaces it. */
  registerGateway(descriptor: GatewayDescriptor): RegistrationResult {
    const problems = gatewayProblems(descriptor);
    if (problems.length > 0) return { ok: false, problems };
    const replaced = this.#gateways.has(descriptor.id);
    this.#gateways.set(descriptor.id, { id: descriptor.id, url: descriptor.url });
    return { ok: true, replaced };
  }

  topology(): Topology {
    const layers: NodeDescriptor[][] = Array.from({ length: this.layerCount }, () => []);
    for (const node of this.#nodes.values()) layers[node.layer - 1]?.push(node);
    for (const nodes of layers) nodes.sort((a, b) => a.id.localeCompare(b.id));
    const gateways = [...this.#gateways.values()].sort((a, b) => a.id.localeCompare(b.id));
    return { layers, gateways };
  }

  countByLayer(): number[] {
    return this.topology().layers.map((nodes) => nodes.length);
  }
}
