/**
 * The two ends of a recorded wire trace that the linking attacks compare: what clients hand
 * the gateway (submissions) and what the gateway pushes to recipients (pushes, numbered per
 * recipient as the truth records are). Built from WireEvents and public Roles only.
 */
import { checkWireEvent, type Roles, type WireEvent, WireTraceError } from '@mixlab/anonymity';

/** A client → gateway message: a send, real or cover; the attacker sees no more than this. */
export interface Submission {
  readonly atMs: number;
  readonly sender: string;
  readonly bytes: number;
  readonly packets: number;
}

/** A gateway → client message: one delivery, the `order`-th to its recipient (cover included). */
export interface Push {
  readonly atMs: number;
  /** The gateway that pushed it. */
  readonly gateway: string;
  readonly recipient: string;
  /** 1-based position among the pushes to `recipient`, like TruthRecord.order. */
  readonly order: number;
  readonly bytes: number;
}

export interface TraceEnds {
  readonly submissions: Submission[];
  readonly pushes: Push[];
}

/** The events in time order (stable: the tap's order stands within a millisecond), each checked. */
export function timeOrdered(events: Iterable<WireEvent>): WireEvent[] {
  const ordered = [...events];
  for (const event of ordered) checkWireEvent(event);
  return ordered.sort((a, b) => a.atMs - b.atMs);
}

/** Splits a trace into submissions and pushes, both in time order; other links are left out. */
export function traceEnds(events: Iterable<WireEvent>, roles: Roles): TraceEnds {
  const clients = new Set(roles.clients);
  const gateways = new Set(roles.gateways);
  if (gateways.size === 0) throw new WireTraceError('roles name no gateway');
  const submissions: Submission[] = [];
  const pushes: Push[] = [];
  const delivered = new Map<string, number>();
  for (const event of timeOrdered(events)) {
    if (clients.has(event.from) && gateways.has(event.to)) {
      submissions.push({ atMs: event.atMs, sender: event.from, bytes: event.bytes, packets: event.packets });
    } else if (gateways.has(event.from) && clients.has(event.to)) {
      const order = (delivered.get(event.to) ?? 0) + 1;
      delivered.set(event.to, order);
      pushes.push({ atMs: event.atMs, gateway: event.from, recipient: event.to, order, bytes: event.bytes });
    }
  }
  return { submissions, pushes };
}

/** The events on links from a last-layer node to a gateway (the exit → gateway link). */
export function exitLinkEvents(events: Iterable<WireEvent>, roles: Roles): WireEvent[] {
  const lastLayer = Math.max(...roles.nodes.map((node) => node.layer));
  const exits = new Set(roles.nodes.filter((node) => node.layer === lastLayer).map((node) => node.name));
  const gateways = new Set(roles.gateways);
  return timeOrdered(events).filter((event) => exits.has(event.from) && gateways.has(event.to));
}
