/**
 * What a global passive adversary records: one WireEvent per message on a link, no more than
 * a tap on every link would see. No packet ids, no routing headers, no keys, nothing about
 * pool contents or deliveries beyond the fact that a message passed.
 */
import type { StrategyConfig } from '@mixlab/mixing';

/** One message seen on one link: when, from which endpoint to which, how big, how many packets. */
export interface WireEvent {
  /** When the tap saw it, in ms on the observer's clock. */
  readonly atMs: number;
  /** Sending endpoint: a client, the gateway or a mix node, by service or client name. */
  readonly from: string;
  /** Receiving endpoint, named the same way. */
  readonly to: string;
  /** Bytes on the wire. Kept for the service; the engine does not use sizes (Sphinx packets are all one size). */
  readonly bytes: number;
  /** Packets (frames) in the message; a tap infers it from the size of fixed-size packets. */
  readonly packets: number;
}

/** A mix node as the public directory describes it. */
export interface MixNodeRole {
  readonly name: string;
  /** 1-based layer. */
  readonly layer: number;
  /** The node's public mixing rule (the `strategy` of its descriptor and metrics). */
  readonly strategy: StrategyConfig;
}

/** Who is who on the wire: public knowledge, not secrets. */
export interface Roles {
  /** Client endpoints, in a fixed order: sender distributions are indexed by it. */
  readonly clients: readonly string[];
  /** Client gateway endpoints: they relay submissions to layer 1 and deliveries to recipients. */
  readonly gateways: readonly string[];
  readonly nodes: readonly MixNodeRole[];
}

/** A wire event or a role list the observer cannot use; the message says what is wrong. */
export class WireTraceError extends Error {
  override readonly name = 'WireTraceError';
}

/** Throws WireTraceError unless the event is well formed; the caller's state is untouched. */
export function checkWireEvent(event: WireEvent): void {
  const problem =
    typeof event !== 'object' || event === null
      ? 'it is not an object'
      : !(Number.isFinite(event.atMs) && event.atMs >= 0)
        ? `atMs must be a finite number of ms >= 0, got ${event.atMs}`
        : typeof event.from !== 'string' || event.from === ''
          ? 'from must be a non-empty endpoint name'
          : typeof event.to !== 'string' || event.to === ''
            ? 'to must be a non-empty endpoint name'
            : !(Number.isSafeInteger(event.packets) && event.packets >= 0)
              ? `packets must be a whole number >= 0, got ${event.packets}`
              : !(Number.isSafeInteger(event.bytes) && event.bytes >= 0)
                ? `bytes must be a whole number >= 0, got ${event.bytes}`
                : undefined;
  if (problem) throw new WireTraceError(`invalid wire event: ${problem}`);
}

export type EndpointRole = 'client' | 'gateway' | 'node';

/** Roles checked once and indexed by endpoint name. */
export interface RoleIndex {
  readonly roles: Roles;
  /** Endpoint name → its role and its index in its own list. */
  readonly endpoints: ReadonlyMap<string, { readonly role: EndpointRole; readonly index: number }>;
}

export function indexRoles(roles: Roles): RoleIndex {
  const endpoints = new Map<string, { role: EndpointRole; index: number }>();
  const add = (name: string, role: EndpointRole, index: number) => {
    if (typeof name !== 'string' || name === '') throw new WireTraceError(`a ${role} has an empty name`);
    const known = endpoints.get(name);
    if (known) throw new WireTraceError(`endpoint "${name}" is listed as both ${known.role} and ${role}`);
    endpoints.set(name, { role, index });
  };
  roles.clients.forEach((name, index) => {
    add(name, 'client', index);
  });
  roles.gateways.forEach((name, index) => {
    add(name, 'gateway', index);
  });
  roles.nodes.forEach((node, index) => {
    if (!(Number.isSafeInteger(node.layer) && node.layer >= 1)) {
      throw new WireTraceError(`node "${node.name}" needs a layer >= 1, got ${node.layer}`);
    }
    add(node.name, 'node', index);
  });
  if (roles.gateways.length === 0) throw new WireTraceError('roles name no gateway');
  return { roles, endpoints };
}
