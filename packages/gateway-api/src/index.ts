/** The client gateway's HTTP and WebSocket API: the JSON shapes clients and the gateway exchange. */

/** A packet a client hands to the gateway: the layer-1 node it is wrapped for, and the bytes. */
export interface SubmittedPacket {
  readonly firstHop: string;
  /** Base64. */
  readonly packet: string;
}

export interface SubmitRequest {
  readonly packets: readonly SubmittedPacket[];
}

/**
 * POST /v1/packets: 202 when any packet went on; when none did, the same fields inside the
 * shared error body, 400 packets_rejected (all refused here), 502 upstream_failed, or 503
 * directory_unreachable or overloaded (layer 1's queue full). Refused before any work, without
 * these fields and with Retry-After: 429 rate_limited and 503 overloaded.
 */
export interface SubmitResponse {
  readonly accepted: number;
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
}

export interface GatewayInfo {
  /** The id this gateway registered in the directory; clients name it in their packets. */
  readonly gatewayId: string;
  readonly packetFormat: string;
}

/**
 * POST /v1/sessions {address}: 201 with a random token sealed to the address (a libsodium
 * sealed box, base64), which only the address's private key opens; its hex is the bearer token
 * (`authorization: Bearer <hex>`) for that mailbox (GET, acks, WebSocket) and for reports.
 * Refusals: 401 session_required (no token) or session_expired (over or unknown: open a new
 * one), 403 wrong_mailbox (a session of another address).
 */
export interface SessionResponse {
  readonly sealedToken: string;
  /** ms since the Unix epoch. */
  readonly expiresAt: number;
}

export interface MailboxMessage {
  readonly id: string;
  /** Base64 of the end-to-end sealed message. */
  readonly payload: string;
  readonly receivedAt: number;
}

/** Gateway → client over WebSocket. */
export type ServerFrame =
  | { readonly type: 'message'; readonly message: MailboxMessage }
  | { readonly type: 'error'; readonly reason: string };

/** Client → gateway over WebSocket. */
export interface AckFrame {
  readonly type: 'ack';
  readonly ids: readonly string[];
  /**
   * Optional, for measurement only: each message's end-to-end latency in seconds, in the
   * order of `ids`, as the recipient computed it from the sealed send time. The gateway
   * records them in mixlab_end_to_end_latency_seconds. A privacy-minded client omits them.
   */
  readonly latencies?: readonly number[];
}

/**
 * Optional, for measurement only: counts a client reports about its own traffic, which
 * only it knows (which of its packets were cover, what came of its acknowledgements and
 * loops). No ids, no addresses. The gateway adds them to mixlab_client_deliveries_total,
 * mixlab_originated_packets_total and mixlab_loops_total{origin="client"}.
 */
export interface ClientReport {
  readonly deliveries?: { readonly [event in (typeof REPORTED_DELIVERY_EVENTS)[number]]?: number };
  readonly originated?: { readonly [type in (typeof REPORTED_ORIGINATED_TYPES)[number]]?: number };
  readonly loops?: { readonly [event in (typeof REPORTED_LOOP_EVENTS)[number]]?: number };
}

export const REPORTED_DELIVERY_EVENTS = ['acknowledged', 'retransmitted', 'expired'] as const;
/** `message` is real traffic; `drop` and `loop` are cover. */
export const REPORTED_ORIGINATED_TYPES = ['message', 'drop', 'loop'] as const;
export const REPORTED_LOOP_EVENTS = ['sent', 'returned', 'lost'] as const;

/** Most ids one acknowledgement may carry. */
export const MAX_ACK_IDS = 1000;

/** Recipient addresses are X25519 public keys in lowercase hex. */
export const ADDRESS_PATTERN = '^[0-9a-f]{64}$';
/** Gateway-assigned message ids. */
export const MESSAGE_ID_PATTERN = '^[0-9a-f]{32}$';
export const BASE64_PATTERN = '^[A-Za-z0-9+/]*={0,2}$';
