/**
 * A wire trace as the observer records it (GET /v1/trace): the events with their endpoints
 * named from public knowledge (node ids, gateway ids, client slots), plus who is who. This is
 * everything a passive attack gets; the truth is kept elsewhere.
 */
import type { DeliveryEstimate, Roles, WireEvent } from '@mixlab/anonymity';
import { parseStrategyConfig } from '@mixlab/mixing';
import { traceEnds } from './trace.ts';

export interface RecordedTrace {
  /** Client slots in slot order, each with the connection (address:port) it stands for. */
  readonly clients: readonly { readonly name: string; readonly endpoint: string }[];
  readonly nodes: readonly { readonly name: string; readonly layer: number }[];
  readonly gateways: readonly string[];
  /** Every node's public mixing rule, as `formatStrategyConfig` writes it. */
  readonly strategy: string;
  /** In the order the observer fed them to its model (time order). */
  readonly events: readonly WireEvent[];
}

/** The public roles of a recorded trace: every client slot in use, the gateways, the nodes. */
export function rolesOfTrace(trace: RecordedTrace): Roles {
  const strategy = parseStrategyConfig(trace.strategy);
  return {
    clients: trace.clients.map((client) => client.name),
    gateways: trace.gateways,
    nodes: trace.nodes.map(({ name, layer }) => ({ name, layer, strategy })),
  };
}

/**
 * The clients that submitted at least once: the candidate senders an attacker guesses among
 * (the wire shows which connections only receive). In roles order.
 */
export function sendersOf(events: Iterable<WireEvent>, roles: Roles): string[] {
  const seen = new Set(traceEnds(events, roles).submissions.map((submission) => submission.sender));
  return roles.clients.filter((client) => seen.has(client));
}

/** Estimates over `clients` re-indexed over `candidates` (a subset): what is scored among senders only. */
export function overCandidates(
  estimates: readonly DeliveryEstimate[],
  clients: readonly string[],
  candidates: readonly string[],
): DeliveryEstimate[] {
  const index = new Map(clients.map((name, i) => [name, i]));
  const at = candidates.map((name) => {
    const i = index.get(name);
    if (i === undefined) throw new RangeError(`candidate "${name}" is not a client`);
    return i;
  });
  return estimates.map(({ recipient, order, senders }) => ({
    recipient,
    order,
    senders: {
      probabilities: Float64Array.from(at, (i) => senders.probabilities[i] as number),
      unattributed: senders.unattributed,
    },
  }));
}
