/**
 * Who is who on the wire, from public knowledge only: the directory's topology names the
 * endpoint (host:port of its URL) of every mix node and gateway; any other endpoint that
 * talks to a gateway is a client's connection, given the next free client slot.
 */
import type { MixNodeRole, Roles } from '@mixlab/anonymity';
import type { StrategyConfig } from '@mixlab/mixing';
import { endpointOf } from '@mixlab/service-kit';
import type { TopologyDocument } from '@mixlab/topology';

export const clientSlot = (index: number) => `client-${index + 1}`;

/** The public part of a topology the model depends on: nodes and gateways by endpoint. */
export interface Directory {
  /** Endpoint → node or gateway name. */
  readonly names: ReadonlyMap<string, string>;
  readonly nodes: readonly MixNodeRole[];
  readonly gateways: readonly string[];
  /** Equal for two topologies the model can follow across (epochs and keys do not matter). */
  readonly key: string;
}

export function directoryOf(document: TopologyDocument, strategy: StrategyConfig): Directory {
  const names = new Map<string, string>();
  const nodes: MixNodeRole[] = [];
  for (const layer of document.layers) {
    for (const node of layer) {
      names.set(endpointOf(node.url), node.id);
      nodes.push({ name: node.id, layer: node.layer, strategy });
    }
  }
  const gateways = document.gateways.map((gateway) => {
    names.set(endpointOf(gateway.url), gateway.id);
    return gateway.id;
  });
  const key = JSON.stringify([...names].sort(([a], [b]) => (a < b ? -1 : 1)));
  return { names, nodes, gateways, key };
}

/** Client connections, each in its own slot for as long as the observer runs. */
export class ClientSlots {
  readonly #slots = new Map<string, string>();
  readonly #endpoints: string[] = [];
  readonly names: readonly string[];

  constructor(capacity: number) {
    this.names = Array.from({ length: capacity }, (_, i) => clientSlot(i));
  }

  /** The slot of a client's endpoint, given one at first sight; undefined when all are taken. */
  slotOf(endpoint: string): string | undefined {
    let slot = this.#slots.get(endpoint);
    if (slot === undefined && this.#endpoints.length < this.names.length) {
      slot = this.names[this.#endpoints.length] as string;
      this.#endpoints.push(endpoint);
      this.#slots.set(endpoint, slot);
    }
    return slot;
  }

  /** The endpoints given slots so far, in slot order. */
  get endpoints(): readonly string[] {
    return this.#endpoints;
  }
}

/** Roles for the engine: every client slot (taken or not), the gateways and nodes. */
export function rolesOf(directory: Directory, clients: ClientSlots): Roles {
  return { clients: clients.names, gateways: directory.gateways, nodes: directory.nodes };
}
