/**
 * The receiving end of links (link-box.ts): who may send what by the signed topology's layers,
 * and one check per request that opens the box, refuses with a counted reason and the shared
 * error body, or hands the route its body.
 *
 * With L layers: packets to a node of layer k come from nodes of layer ((k-2) mod L)+1 (loops
 * wrap from L to 1), and from gateways when k = 1; deliveries to a node of layer k (its loops
 * coming home) from nodes of layer ((k-2) mod L)+1; deliveries to a gateway from layer L.
 */
import { findGateway, findNode, type TopologyCache, type TopologyDocument } from '@mixlab/topology';
import type { FastifyReply } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { sendError } from './errors.ts';
import {
  LINK_REJECTIONS,
  type LinkIdentity,
  LinkNonces,
  type LinkRejection,
  type LinkVerdict,
  linkBoxSender,
  openLinkBox,
} from './link-box.ts';

/** Who may send on one route: nodes of one layer, and gateways or not. */
export interface LinkSenders {
  readonly layer: number;
  readonly gateways: boolean;
}

/** The layer before `layer` on a route of `layers` (L before 1: loops wrap). */
export function previousLayer(layer: number, layers: number): number {
  return ((((layer - 2) % layers) + layers) % layers) + 1;
}

/** Who may send packets to a node of `layer`. */
export function packetSenders(layer: number, layers: number): LinkSenders {
  return { layer: previousLayer(layer, layers), gateways: layer === 1 };
}

/** Who may deliver to a node of `layer` (its own loops, from the layer before). */
export function nodeDeliverySenders(layer: number, layers: number): LinkSenders {
  return { layer: previousLayer(layer, layers), gateways: false };
}

/** Who may deliver to a gateway: the exit layer. */
export function gatewayDeliverySenders(layers: number): LinkSenders {
  return { layer: layers, gateways: false };
}

export type SenderCheck =
  | { readonly ok: true; readonly identityKey: string }
  | {
      readonly ok: false;
      readonly reason: Extract<LinkRejection, 'unknown_sender' | 'wrong_layer'>;
      readonly message: string;
    };

/** `senderId` in `document`: its identity key when `allowed` may send, else why it may not. */
export function checkSender(document: TopologyDocument, senderId: string, allowed: LinkSenders): SenderCheck {
  const node = findNode(document, senderId);
  if (node) {
    if (node.layer === allowed.layer) return { ok: true, identityKey: node.identityKey };
    return {
      ok: false,
      reason: 'wrong_layer',
      message: `${senderId} is a node of layer ${node.layer}; only layer ${allowed.layer}${allowed.gateways ? ' and gateways' : ''} may send here`,
    };
  }
  const gateway = findGateway(document, senderId);
  if (gateway?.identityKey !== undefined) {
    if (allowed.gateways) return { ok: true, identityKey: gateway.identityKey };
    return {
      ok: false,
      reason: 'wrong_layer',
      message: `${senderId} is a gateway; only nodes of layer ${allowed.layer} may send here`,
    };
  }
  return unknownSender(senderId);
}

function unknownSender(senderId: string): SenderCheck {
  return { ok: false, reason: 'unknown_sender', message: `${senderId} has no identity key in the current topology` };
}

/** Who may send on a route, given how many layers the topology has. */
export type LinkRoute = (layers: number) => LinkSenders;

/** Finds a box's sender and judges it for a route; throws when the topology cannot be had. */
export type FindSender = (senderId: string, route: LinkRoute) => Promise<SenderCheck>;

/**
 * Senders as the topology cache has them: one look-up for a node or a gateway, so that a
 * listed sender costs no refetch; an id listed nowhere refetches (at most every refetchAfterMs).
 */
export function topologySenders(topology: Pick<TopologyCache, 'lookUp'>): FindSender {
  return async (senderId, route) => {
    const known = await topology.lookUp((document) => {
      const check = checkSender(document, senderId, route(document.layers.length));
      return check.ok || check.reason !== 'unknown_sender' ? check : undefined;
    });
    return known ?? unknownSender(senderId);
  };
}

export interface LinkReceiverDeps {
  readonly identity: LinkIdentity;
  readonly findSender: FindSender;
  /** Wall-clock ms. */
  readonly now: () => number;
  /** mixlab_link_rejected_total{reason}. */
  readonly rejected: (reason: LinkRejection) => void;
  readonly nonces?: LinkNonces;
}

/** Opens the link boxes a service receives, once per request. */
export class LinkReceiver {
  readonly #deps: LinkReceiverDeps;
  readonly #nonces: LinkNonces;

  constructor(deps: LinkReceiverDeps) {
    this.#deps = deps;
    this.#nonces = deps.nonces ?? new LinkNonces();
  }

  /** The verdict on one request body for `route`; refusals counted. Throws when the topology cannot be had. */
  async open(box: Uint8Array, route: LinkRoute): Promise<LinkVerdict> {
    const verdict = await this.#open(box, route);
    if (!verdict.ok) this.#deps.rejected(verdict.reason);
    return verdict;
  }

  async #open(box: Uint8Array, route: LinkRoute): Promise<LinkVerdict> {
    const senderId = linkBoxSender(box);
    if (senderId === null) {
      return { ok: false, reason: 'malformed', message: 'the body is not a link box: services send theirs sealed' };
    }
    const sender = await this.#deps.findSender(senderId, route);
    if (!sender.ok) return sender;
    const { identity, now } = this.#deps;
    return openLinkBox({
      receiver: identity,
      box,
      senderIdentityKey: sender.identityKey,
      now: now(),
      nonces: this.#nonces,
    });
  }
}

/**
 * The frames inside a request's link box, or undefined once `reply` has refused it: 401 or 403
 * with the reason as the error code (logged), 503 when the topology cannot be had. Without a
 * receiver (unit tests of a route) the body is taken as it is.
 */
export async function openLinkRequest(
  receiver: LinkReceiver | undefined,
  route: LinkRoute,
  body: Uint8Array,
  reply: FastifyReply,
): Promise<Uint8Array | undefined> {
  if (!receiver) return body;
  let verdict: LinkVerdict;
  try {
    verdict = await receiver.open(body, route);
  } catch (error) {
    reply.request.log.warn({ reason: String(error) }, 'directory unreachable; link sender not checked');
    sendError(reply, 'directory_unreachable', 'the sender cannot be checked against the topology now; retry');
    return undefined;
  }
  if (verdict.ok) return verdict.body;
  reply.request.log.warn({ reason: verdict.reason, detail: verdict.message }, 'link box refused');
  sendError(reply, verdict.reason, verdict.message);
  return undefined;
}

/** mixlab_link_rejected_total{reason}, every reason at 0 from the start; the function counts one. */
export function linkRejectedCounter(registry: Registry): (reason: LinkRejection) => void {
  const counter = new Counter({
    name: 'mixlab_link_rejected_total',
    help: 'Requests from other services refused at the link: malformed, unknown_sender, wrong_layer, wrong_receiver, stale, replayed, forged.',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of LINK_REJECTIONS) counter.inc({ reason }, 0);
  return (reason) => counter.inc({ reason });
}
