/**
 * Sending what a service passes on, once: look each distinct hop up, group frames by target
 * URL (given order kept within each), one request per target, and say what became of each item.
 */

/** A node takes packets at `/v1/packets`; a delivery destination takes deliveries at `/v1/deliveries`. */
export type HopKind = 'node' | 'destination';

/** Who a link goes to: its id and Ed25519 identity key (hex) in the signed topology. */
export interface LinkPeer {
  readonly id: string;
  readonly identityKey: string;
}

/** What the directory said about a hop: its base URL and who is there, or that it does not know it. */
export type HopResolution =
  | { readonly status: 'found'; readonly url: string; readonly receiver?: LinkPeer }
  | { readonly status: 'unknown' };

/** Looks a hop up; throws when the directory cannot be asked (then the hop is `unreachable`). */
export type ResolveHop = (kind: HopKind, id: string) => Promise<HopResolution>;

export const hopFound = (url: string, receiver?: LinkPeer): HopResolution =>
  receiver ? { status: 'found', url, receiver } : { status: 'found', url };
export const HOP_UNKNOWN: HopResolution = { status: 'unknown' };

/**
 * sent: the target accepted it; unknown: the directory answered and does not know the hop;
 * unreachable: the directory could not be asked; failed: the send to the target failed;
 * queue_full: not sent, as the target's queue was at its bound (QueueFullError).
 */
export type ForwardOutcome = 'sent' | 'unknown' | 'unreachable' | 'failed' | 'queue_full';

/** What `send` rejects with when the target's queue is at its bound: nothing was sent, nothing will be. */
export class QueueFullError extends Error {
  readonly pending: number;

  constructor(url: string, pending: number) {
    super(`${pending} frames already pending for ${url}; dropped rather than queued without bound`);
    this.name = 'QueueFullError';
    this.pending = pending;
  }
}

export interface Outgoing {
  readonly kind: HopKind;
  /** A node id, or a delivery destination. */
  readonly hop: string;
  /** A packet for a node, an encoded delivery for a destination. */
  readonly frame: Uint8Array;
}

export interface ForwardGroup {
  readonly url: string;
  readonly kind: HopKind;
  /** Indices of the items sent in this request, in the order given. */
  readonly items: number[];
  readonly outcome: 'sent' | 'failed' | 'queue_full';
  /** Why the send failed. */
  readonly reason?: string;
}

export interface ForwardReport {
  /** One outcome per item, in the order given. */
  readonly outcomes: ForwardOutcome[];
  /** One per request made. */
  readonly groups: ForwardGroup[];
}

export interface ForwarderLogger {
  warn(details: object, message: string): void;
}

export interface ForwarderDeps {
  readonly resolve: ResolveHop;
  /** POSTs frames to a URL (sealed to `receiver`); rejects when they were not accepted (e.g. FrameSender.send). */
  readonly send: (url: string, frames: Uint8Array[], receiver?: LinkPeer) => Promise<void>;
  /** Called once per hop or group with how many items of a kind ended with an outcome. */
  readonly count: (outcome: ForwardOutcome, kind: HopKind, items: number) => void;
  readonly logger: ForwarderLogger;
  /** How log lines name a hop of each kind; by default "next hop" and "gateway". */
  readonly hopNames?: Readonly<Record<HopKind, string>>;
}

const PATHS: Record<HopKind, string> = { node: '/v1/packets', destination: '/v1/deliveries' };
/** How log lines name a hop of each kind: a destination is looked up as the gateway that holds it. */
const LOG_FIELDS: Record<HopKind, string> = { node: 'nextHop', destination: 'gateway' };
const HOP_NAMES: Readonly<Record<HopKind, string>> = { node: 'next hop', destination: 'gateway' };

/** One distinct hop of a call: its look-up, then the group its items join or why they cannot. */
interface Hop {
  readonly kind: HopKind;
  readonly id: string;
  readonly lookUp: Promise<HopResolution>;
  group?: Group;
  dropped?: { readonly outcome: 'unknown' | 'unreachable'; readonly reason?: string; items: number };
}

interface Group extends ForwardGroup {
  readonly frames: Uint8Array[];
  readonly receiver?: LinkPeer;
  outcome: 'sent' | 'failed' | 'queue_full';
  reason?: string;
}

export class Forwarder {
  readonly #deps: ForwarderDeps;
  readonly #hopNames: Readonly<Record<HopKind, string>>;

  constructor(deps: ForwarderDeps) {
    this.#deps = deps;
    this.#hopNames = deps.hopNames ?? HOP_NAMES;
  }

  /** Forwards `items`; never rejects. `logger` replaces the default for this call (e.g. a request's). */
  async forward(items: readonly Outgoing[], logger: ForwarderLogger = this.#deps.logger): Promise<ForwardReport> {
    const { resolve, send, count } = this.#deps;
    // The one Map of a call: distinct hops by kind and id, all looked up at once.
    const hops = new Map<string, Hop>();
    const hopOf = new Array<Hop>(items.length);
    for (let index = 0; index < items.length; index++) {
      const { kind, hop: id } = items[index] as Outgoing;
      const key = kind === 'node' ? `n:${id}` : `d:${id}`;
      let hop = hops.get(key);
      if (!hop) {
        hop = { kind, id, lookUp: resolve(kind, id) };
        hop.lookUp.catch(() => {}); // awaited below; no unhandled rejection meanwhile
        hops.set(key, hop);
      }
      hopOf[index] = hop;
    }

    // Hops resolving to the same URL share one request (there are few targets, so a scan finds it).
    const groups: Group[] = [];
    for (const hop of hops.values()) {
      let resolution: HopResolution;
      try {
        resolution = await hop.lookUp;
      } catch (error) {
        hop.dropped = { outcome: 'unreachable', reason: String(error), items: 0 };
        continue;
      }
      if (resolution.status === 'unknown') {
        hop.dropped = { outcome: 'unknown', items: 0 };
        continue;
      }
      const url = resolution.url + PATHS[hop.kind];
      hop.group = groups.find((group) => group.url === url);
      if (!hop.group) {
        hop.group = { url, kind: hop.kind, items: [], frames: [], outcome: 'sent', receiver: resolution.receiver };
        groups.push(hop.group);
      }
    }

    const outcomes = new Array<ForwardOutcome>(items.length);
    for (let index = 0; index < items.length; index++) {
      const hop = hopOf[index] as Hop;
      if (hop.group) {
        hop.group.items.push(index);
        hop.group.frames.push((items[index] as Outgoing).frame);
      } else if (hop.dropped) {
        outcomes[index] = hop.dropped.outcome;
        hop.dropped.items++;
        const details = { [LOG_FIELDS[hop.kind]]: hop.id };
        if (hop.dropped.outcome === 'unknown') {
          logger.warn(details, `${this.#hopNames[hop.kind]} unknown to the directory; packet dropped`);
        } else {
          logger.warn(
            { ...details, reason: hop.dropped.reason },
            `directory unreachable, ${this.#hopNames[hop.kind]} not looked up; packet dropped`,
          );
        }
      }
    }
    for (const { kind, dropped } of hops.values()) if (dropped) count(dropped.outcome, kind, dropped.items);

    await Promise.all(
      groups.map(async (group) => {
        try {
          await send(group.url, group.frames, group.receiver);
        } catch (error) {
          group.outcome = error instanceof QueueFullError ? 'queue_full' : 'failed';
          group.reason = String(error);
          const message = group.outcome === 'queue_full' ? 'queue full; packets dropped' : 'forward failed';
          logger.warn({ url: group.url, packets: group.frames.length, reason: group.reason }, message);
        }
        for (const index of group.items) outcomes[index] = group.outcome;
        count(group.outcome, group.kind, group.items.length);
      }),
    );
    return { outcomes, groups };
  }
}
