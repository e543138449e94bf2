import type { KeyPair } from '@mixlab/crypto';

export type PacketFormatName = 'onion' | 'sphinx';

/** One mix node on a route: who it is and the key its layer is encrypted to. */
export interface RouteHop {
  readonly id: string;
  readonly publicKey: Uint8Array;
  /**
   * How long this hop should hold the packet before sending it on (continuous-time mixing,
   * Loopix/Nym: the sender draws every hop's delay). Integer milliseconds 0..2^32-1; absent
   * means 0, "the node decides". Sphinx carries it in the hop's routing slot (wrap and
   * createReplyBlock throw RangeError for anything else); onion ignores it.
   */
  readonly delayMs?: number;
}

/**
 * The longest `Destination.gateway` id, in UTF-8 bytes, in every packet format. A gateway id
 * is at most 30 characters (GATEWAY_ID_PATTERN), but a mix node's own id (up to 64, as
 * NODE_ID_PATTERN) is the destination of its loop cover, so the bound is the node-id bound.
 */
export const MAX_GATEWAY_ID_BYTES = 64;

/** Where the exit node hands the payload over: a gateway's mailbox for a recipient. */
export interface Destination {
  /**
   * Id (not URL) of the gateway that holds the recipient's mailbox, as registered in the
   * directory (a mix node's own id for its loop cover): 1..MAX_GATEWAY_ID_BYTES UTF-8 bytes.
   * Exit nodes look its URL up in the topology.
   */
  readonly gateway: string;
  /** The recipient's address: its X25519 public key, or DROP_RECIPIENT. */
  readonly recipient: Uint8Array;
}

/**
 * The sink: a packet addressed to it is drop cover (Loopix), discarded by the exit node,
 * which alone learns that it was cover. Every link before looks the same as for a message.
 */
export const DROP_RECIPIENT: Uint8Array = new Uint8Array(32);

export function isDropRecipient(recipient: Uint8Array): boolean {
  return recipient.length === 32 && recipient.every((byte) => byte === 0);
}

/** What a node learns by removing its layer. */
export type Peeled =
  | {
      readonly kind: 'forward';
      readonly nextHop: string;
      readonly packet: Uint8Array;
      /** Same for every copy of one packet at one node (Sphinx: derived from the shared secret); for replay detection. */
      readonly replayTag?: Uint8Array;
      /**
       * The delay the sender asked this node to hold the packet for, in milliseconds (RouteHop.delayMs).
       * Sphinx always sets it (0 when the sender chose none: the node decides); onion never does.
       */
      readonly delayMs?: number;
    }
  | {
      readonly kind: 'deliver';
      readonly destination: Destination;
      readonly payload: Uint8Array;
      /** As for forward. */
      readonly replayTag?: Uint8Array;
      /** As for forward: how long the exit should hold the delivery. */
      readonly delayMs?: number;
    };

/** `replay`: authentic, but the node's ReplayCheck has seen its tag (only `peel` with a check throws it). */
export type PacketErrorReason = 'malformed' | 'undecryptable' | 'replay';

/** A node's memory of the replay tags it has let through (one per key). */
export interface ReplayCheck {
  /** True when `tag` was seen before; otherwise remembers it and returns false. */
  seen(tag: Uint8Array): boolean;
}

/** A packet a node must drop; `reason` is the outcome it is counted under. */
export class PacketError extends Error {
  readonly reason: PacketErrorReason;
  constructor(reason: PacketErrorReason, message: string) {
    super(message);
    this.name = 'PacketError';
    this.reason = reason;
  }
}

/** What a sender keeps to read the reply to one of its reply blocks. Plain bytes, so it can be stored. */
export interface ReplySecret {
  /** 16 bytes; the exit prepends it to the delivered reply (see `ReplyFormat.replyId`). */
  readonly id: Uint8Array;
  /** Format-specific key material (Sphinx: the replier's payload key, then every hop's). */
  readonly keys: Uint8Array;
}

/** Single-use reply blocks: a recipient answers a sender it cannot identify. */
export interface ReplyFormat {
  /** Size of a serialized reply block. */
  readonly replyBlockBytes: number;
  /** Most message bytes a reply can carry. */
  readonly replyCapacity: number;
  /** The sender: a block routing a reply over `route` to `destination` (normally the sender's own address and gateway). */
  createReplyBlock(route: readonly RouteHop[], destination: Destination): { block: Uint8Array; secret: ReplySecret };
  /** The replier: the packet for a block and a message, and the layer-1 node to hand it to. */
  wrapReply(block: Uint8Array, message: Uint8Array): { firstHop: string; packet: Uint8Array };
  /**
   * The sender: the reply id a delivered payload carries if it is a reply (Sphinx: its first 16
   * bytes), or undefined when it cannot be one. Every delivery is padded to one size, so only
   * the sender, looking the id up among its own outstanding reply blocks, tells a reply apart.
   */
  replyId(delivered: Uint8Array): Uint8Array | undefined;
  /** The sender: the message; throws PacketError('malformed') when the reply was altered. */
  openReply(secret: ReplySecret, delivered: Uint8Array): Uint8Array;
}

/** A way of layering a message for a route, and of removing one layer at a node. */
export interface PacketFormat {
  readonly name: PacketFormatName;
  /**
   * The sizes a packet for a first hop can have: one size for Sphinx (every packet on every
   * link), a least size for onion (one sealed deliver layer; it grows with route and payload,
   * so `max` is Infinity and a gateway caps it by its own limit).
   */
  readonly packetBytes: { readonly min: number; readonly max: number };
  /** Builds the packet the first hop of `route` receives. */
  wrap(route: readonly RouteHop[], destination: Destination, payload: Uint8Array): Uint8Array;
  /**
   * Removes this node's layer; throws PacketError when the packet must be dropped. With
   * `replay`, the packet's replay tag is checked as soon as the packet is known to be
   * authentic for `keys` and before the rest of the work: a tag seen before throws
   * PacketError('replay'), so a replay costs the authentication and nothing more.
   */
  peel(packet: Uint8Array, keys: KeyPair, replay?: ReplayCheck): Peeled;
  /**
   * The most payload bytes one packet to `destination` carries, for formats whose packets are
   * all one size (Sphinx). A sender that pads every payload to it hides message lengths past
   * the exit too: every delivery to one gateway is then the same size. Absent when a packet
   * grows with its payload (onion).
   */
  payloadCapacity?(destination: Destination): number;
  /**
   * The one size of every delivery payload, for formats that have one (Sphinx: reply id +
   * payload block, what a delivered reply is). The exit pads every delivery to it with random bytes
   * (`encodeDelivery`), so past the exit a message, an acknowledgement and loop cover are one
   * size too; a recipient reads its sealed message from the first `payloadCapacity` bytes.
   * Absent when a delivery grows with its payload (onion).
   */
  readonly deliveryPayloadBytes?: number;
  /** Reply blocks, when the format has them (Sphinx does, onion does not). */
  readonly replies?: ReplyFormat;
}
