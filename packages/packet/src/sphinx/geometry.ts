import { MAX_GATEWAY_ID_BYTES } from '../packet-format.ts';

/**
 * Every size of a Sphinx packet, computed from two parameters (the most hops a
 * route may have, the payload block size). Code that needs a size asks the
 * geometry; nothing else hard-codes one. See docs/sphinx.md for the layout.
 */

/** X25519 group element (u-coordinate). */
export const GROUP_ELEMENT_BYTES = 32;
/** Keyed BLAKE2b-256 over group element and routing information. */
export const MAC_BYTES = 32;
/** A node id is at most this many bytes (ASCII, ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$). */
export const NODE_ID_BYTES = 64;
/** The delay a hop is asked to hold the packet for: u32 big-endian milliseconds, right after the flag in every slot. */
export const DELAY_BYTES = 4;
/** Largest delay a routing slot carries (ms). */
export const MAX_DELAY_MS = 2 ** 32 - 1;
/**
 * Per-hop routing slot: flag (1) | delay (4) | command body. Forward body: id length (1) |
 * next node id (64, zero padded) | next MAC (32); the deliver and reply bodies fit the same 97 bytes.
 */
export const PER_HOP_ROUTING_INFO_BYTES = 1 + DELAY_BYTES + 1 + NODE_ID_BYTES + MAC_BYTES;
/** Zero bytes at the start of the exit plaintext; a tagged payload fails this check with probability 1 - 2^-128. */
export const PAYLOAD_TAG_BYTES = 16;
/** Exit plaintext before the gateway id: zeros (16) | recipient (32) | gateway length (1) | message length (4). */
export const DELIVERY_HEADER_BYTES = PAYLOAD_TAG_BYTES + 32 + 1 + 4;
/** A reply id: what the exit prepends to a reply's payload so the sender finds the secret for it. */
export const REPLY_ID_BYTES = 16;
/** A reply's gateway id rides in the exit's routing slot, so it is short. */
export const MAX_REPLY_GATEWAY_BYTES = 30;
/** Reply plaintext before the message: zeros (16) | message length (4). */
export const REPLY_PAYLOAD_HEADER_BYTES = PAYLOAD_TAG_BYTES + 4;
/** A reply block starts with the first hop: id length (1) | node id (64, zero padded). */
export const FIRST_HOP_BYTES = 1 + NODE_ID_BYTES;
/** The LIONESS left block is one BLAKE2b-256 output / ChaCha20 key wide. */
export const LIONESS_LEFT_BYTES = 32;

export const DEFAULT_MAX_HOPS = 5;
export const DEFAULT_PAYLOAD_BYTES = 2048;

export interface GeometryParameters {
  /** The most hops a route may have (1..32); every header has room for this many. */
  readonly maxHops?: number;
  /** Bytes of the LIONESS-encrypted payload block, delivery fields included. */
  readonly payloadBytes?: number;
}

export interface Geometry {
  readonly maxHops: number;
  readonly perHopRoutingInfoBytes: number;
  /** maxHops × perHopRoutingInfoBytes. */
  readonly routingInfoBytes: number;
  /** group element | routing info | MAC. */
  readonly headerBytes: number;
  readonly payloadBytes: number;
  /** headerBytes + payloadBytes: the size of every packet on every link. */
  readonly packetBytes: number;
  /** Offsets of the header fields and the payload within a packet. */
  readonly routingInfoOffset: number;
  readonly macOffset: number;
  readonly payloadOffset: number;
  /** A serialized reply block: first hop (65) | header | the replier's LIONESS key (128). */
  readonly replyBlockBytes: number;
  /** The largest message a reply carries: payloadBytes − 20. */
  readonly replyCapacity: number;
  /** The largest message that fits with a gateway id of the longest allowed length (MAX_GATEWAY_ID_BYTES). */
  readonly maxMessageBytes: number;
  /** The largest message that fits with a gateway id of `gatewayIdBytes` UTF-8 bytes. */
  messageCapacity(gatewayIdBytes: number): number;
}

export function createGeometry(parameters: GeometryParameters = {}): Geometry {
  const maxHops = parameters.maxHops ?? DEFAULT_MAX_HOPS;
  const payloadBytes = parameters.payloadBytes ?? DEFAULT_PAYLOAD_BYTES;
  if (!Number.isInteger(maxHops) || maxHops < 1 || maxHops > 32) {
    throw new RangeError(`maxHops must be an integer 1..32, got ${maxHops}`);
  }
  const minPayload = DELIVERY_HEADER_BYTES + MAX_GATEWAY_ID_BYTES + 1;
  if (!Number.isInteger(payloadBytes) || payloadBytes < minPayload || payloadBytes > 2 ** 24) {
    throw new RangeError(`payloadBytes must be an integer ${minPayload}..${2 ** 24}, got ${payloadBytes}`);
  }
  const routingInfoBytes = maxHops * PER_HOP_ROUTING_INFO_BYTES;
  const headerBytes = GROUP_ELEMENT_BYTES + routingInfoBytes + MAC_BYTES;
  const messageCapacity = (gatewayIdBytes: number): number => payloadBytes - DELIVERY_HEADER_BYTES - gatewayIdBytes;
  return Object.freeze({
    maxHops,
    perHopRoutingInfoBytes: PER_HOP_ROUTING_INFO_BYTES,
    routingInfoBytes,
    headerBytes,
    payloadBytes,
    packetBytes: headerBytes + payloadBytes,
    routingInfoOffset: GROUP_ELEMENT_BYTES,
    macOffset: GROUP_ELEMENT_BYTES + routingInfoBytes,
    payloadOffset: headerBytes,
    replyBlockBytes: FIRST_HOP_BYTES + headerBytes + 4 * LIONESS_LEFT_BYTES,
    replyCapacity: payloadBytes - REPLY_PAYLOAD_HEADER_BYTES,
    maxMessageBytes: messageCapacity(MAX_GATEWAY_ID_BYTES),
    messageCapacity,
  });
}

/** 5 hops, 2048-byte payload: 102-byte slots, header 574 bytes, packet 2622 bytes, reply block 767 bytes. */
export const defaultGeometry: Geometry = createGeometry();
