/**
 * The link box: how one service's request body reaches another, encrypted and authenticated
 * per request (a wire tap sees sizes and timing only; a receiver knows which node or gateway of
 * the signed topology sent it). Each side's Ed25519 identity serves as an X25519 key; the pair
 * shares one key (crypto_box_beforenm, computed once per peer and cached), so a request costs
 * XSalsa20-Poly1305 over its body and no public-key work.
 *
 *   outer (clear):  u8 version | u8 n | sender id (n) | nonce (24) | box
 *   box:            crypto_box_easy_afternm(inner, nonce, shared key)
 *   inner:          u8 version | u8 n | sender id | u8 m | receiver id (m) | u64 time (ms) | body
 *
 * The outer sender id lets the receiver find the key; inside, the ids bind the box to this pair
 * in this direction (a box cannot be reflected to its sender), the time bounds how long it is
 * good for (LINK_FRESHNESS_MS either way) and the random nonce, remembered that long, refuses a
 * replay. Done per request rather than per connection, so that whoever holds a request (the
 * n - 1 proxy on the gateway's path to layer 1) can pass it on whole, unread and unchanged.
 */
import {
  BOX_MAC_BYTES,
  BOX_NONCE_BYTES,
  boxSharedKey,
  boxWithSharedKey,
  fromHex,
  openBoxWithSharedKey,
  randomBytes,
  type SigningKeyPair,
  signPublicKeyToX25519,
  signSecretKeyToX25519,
  toHex,
} from '@mixlab/crypto';

export const LINK_BOX_VERSION = 1;
/** A box dated further than this from the receiver's clock, either way, is stale. */
export const LINK_FRESHNESS_MS = 30_000;

/** Why a receiver refused a box: the label values of mixlab_link_rejected_total. */
export const LINK_REJECTIONS = [
  'malformed',
  'unknown_sender',
  'wrong_layer',
  'wrong_receiver',
  'stale',
  'replayed',
  'forged',
] as const;
export type LinkRejection = (typeof LINK_REJECTIONS)[number];

export type LinkVerdict =
  | { readonly ok: true; readonly senderId: string; readonly body: Uint8Array }
  | { readonly ok: false; readonly reason: LinkRejection; readonly message: string };

const ID_MAX_BYTES = 255;
const TIME_BYTES = 8;
/** The most a link box adds to its body (ids at their longest): receivers raise their body limit by it. */
export const LINK_BOX_MAX_OVERHEAD_BYTES =
  2 + ID_MAX_BYTES + BOX_NONCE_BYTES + BOX_MAC_BYTES + 2 + 2 * ID_MAX_BYTES + 1 + TIME_BYTES;
/** Peers whose shared keys are kept; past it the cache starts over (topologies are far smaller). */
const MAX_SHARED_KEYS = 4096;

const encoder = new TextEncoder();

/** The size of the link box from `senderId` to `receiverId` around a body of `bodyBytes`: what a tap sees. */
export function linkBoxBytes(senderId: string, receiverId: string, bodyBytes: number): number {
  const [from, to] = [encoder.encode(senderId).length, encoder.encode(receiverId).length];
  return 2 + from + BOX_NONCE_BYTES + BOX_MAC_BYTES + 2 + from + 1 + to + TIME_BYTES + bodyBytes;
}
const decoder = new TextDecoder('utf-8', { fatal: true });

function idBytes(id: string): Uint8Array {
  const bytes = encoder.encode(id);
  if (bytes.length === 0 || bytes.length > ID_MAX_BYTES) throw new RangeError(`a link id is 1..${ID_MAX_BYTES} bytes`);
  return bytes;
}

/**
 * A service's end of its links: its id in the topology and its identity as an X25519 key, with
 * the key it shares with each peer computed once (the only public-key work of a link).
 */
export class LinkIdentity {
  readonly id: string;
  readonly idBytes: Uint8Array;
  readonly #privateKey: Uint8Array;
  readonly #shared = new Map<string, Uint8Array>();

  constructor(id: string, identity: SigningKeyPair) {
    this.id = id;
    this.idBytes = idBytes(id);
    this.#privateKey = signSecretKeyToX25519(identity.secretKey);
  }

  /** The key shared with the owner of `peerIdentityKey` (hex Ed25519); throws when it is not a usable key. */
  sharedKey(peerIdentityKey: string): Uint8Array {
    let key = this.#shared.get(peerIdentityKey);
    if (!key) {
      const peer = fromHex(peerIdentityKey);
      if (peer?.length !== 32) throw new RangeError('an identity key is 64 hex characters');
      key = boxSharedKey(signPublicKeyToX25519(peer), this.#privateKey);
      if (this.#shared.size >= MAX_SHARED_KEYS) this.#shared.clear();
      this.#shared.set(peerIdentityKey, key);
    }
    return key;
  }
}

export interface SealLinkBox {
  readonly sender: LinkIdentity;
  readonly receiverId: string;
  /** The receiver's Ed25519 identity key (hex), as the signed topology lists it. */
  readonly receiverIdentityKey: string;
  /** Wall-clock ms. */
  readonly now: number;
  readonly body: Uint8Array;
}

/** The body as a link box for one receiver; a fresh nonce every call (a retry seals again). */
export function sealLinkBox({ sender, receiverId, receiverIdentityKey, now, body }: SealLinkBox): Uint8Array {
  const receiver = idBytes(receiverId);
  const from = sender.idBytes;
  const inner = new Uint8Array(2 + from.length + 1 + receiver.length + TIME_BYTES + body.length);
  let at = 0;
  inner[at++] = LINK_BOX_VERSION;
  inner[at++] = from.length;
  inner.set(from, at);
  at += from.length;
  inner[at++] = receiver.length;
  inner.set(receiver, at);
  at += receiver.length;
  new DataView(inner.buffer).setBigUint64(at, BigInt(Math.floor(now)));
  inner.set(body, at + TIME_BYTES);
  const nonce = randomBytes(BOX_NONCE_BYTES);
  const box = boxWithSharedKey(inner, nonce, sender.sharedKey(receiverIdentityKey));
  const outer = new Uint8Array(2 + from.length + BOX_NONCE_BYTES + box.length);
  outer[0] = LINK_BOX_VERSION;
  outer[1] = from.length;
  outer.set(from, 2);
  outer.set(nonce, 2 + from.length);
  outer.set(box, 2 + from.length + BOX_NONCE_BYTES);
  return outer;
}

/** The sender id a box claims (in clear, to find its key), or null when it is no link box. */
export function linkBoxSender(box: Uint8Array): string | null {
  if (box.length < 2 || box[0] !== LINK_BOX_VERSION) return null;
  const length = box[1] as number;
  if (length === 0 || box.length < 2 + length + BOX_NONCE_BYTES + BOX_MAC_BYTES) return null;
  try {
    return decoder.decode(box.subarray(2, 2 + length));
  } catch {
    return null;
  }
}

/**
 * The nonces of the boxes accepted within the freshness window, so that each opens once. At its
 * bound it forgets the oldest and from then on refuses as stale every box not newer than the
 * newest time it forgot (it could no longer tell a replay of one): bounded memory, never a
 * replay let through.
 */
export class LinkNonces {
  readonly #windowMs: number;
  readonly #maxEntries: number;
  /** Nonce (hex) -> the time its box carried, oldest first. */
  readonly #seen = new Map<string, number>();
  #floor = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number = LINK_FRESHNESS_MS, maxEntries = 100_000) {
    this.#windowMs = windowMs;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** 'fresh' (and now remembered), 'replayed', or 'stale' (older than what was forgotten). */
  check(nonce: string, time: number, now: number): 'fresh' | 'replayed' | 'stale' {
    for (const [oldest, at] of this.#seen) {
      if (at >= now - this.#windowMs) break; // boxes that old are stale anyway
      this.#seen.delete(oldest);
    }
    if (this.#seen.has(nonce)) return 'replayed';
    if (time <= this.#floor) return 'stale';
    if (this.#seen.size >= this.#maxEntries) {
      const [oldest, at] = this.#seen.entries().next().value as [string, number];
      this.#seen.delete(oldest);
      this.#floor = Math.max(this.#floor, at);
      if (time <= this.#floor) return 'stale';
    }
    this.#seen.set(nonce, time);
    return 'fresh';
  }
}

export interface OpenLinkBox {
  readonly receiver: LinkIdentity;
  readonly box: Uint8Array;
  /** The identity key (hex) the topology lists for the box's sender (linkBoxSender). */
  readonly senderIdentityKey: string;
  /** Wall-clock ms. */
  readonly now: number;
  readonly nonces: LinkNonces;
  readonly freshnessMs?: number;
}

const refuse = (reason: LinkRejection, message: string): LinkVerdict => ({ ok: false, reason, message });

/** Opens a box from a sender the caller has found in the topology (unknown_sender and wrong_layer are the caller's). */
export function openLinkBox({
  receiver,
  box,
  senderIdentityKey,
  now,
  nonces,
  freshnessMs = LINK_FRESHNESS_MS,
}: OpenLinkBox): LinkVerdict {
  const senderId = linkBoxSender(box);
  if (senderId === null) return refuse('malformed', 'the body is not a link box');
  const from = box[1] as number;
  const nonce = box.subarray(2 + from, 2 + from + BOX_NONCE_BYTES);
  let sharedKey: Uint8Array;
  try {
    sharedKey = receiver.sharedKey(senderIdentityKey);
  } catch {
    return refuse('forged', `the topology lists no usable identity key for ${senderId}`);
  }
  const inner = openBoxWithSharedKey(box.subarray(2 + from + BOX_NONCE_BYTES), nonce, sharedKey);
  if (!inner) return refuse('forged', `the box does not open with the key of ${senderId}`);
  // Authentic from here on: only the sender's key could have made it.
  const innerFrom = inner[1] ?? 0;
  const receiverAt = 2 + innerFrom;
  const receiverLength = inner[receiverAt] ?? 0;
  const timeAt = receiverAt + 1 + receiverLength;
  if (inner[0] !== LINK_BOX_VERSION || inner.length < timeAt + TIME_BYTES) {
    return refuse('malformed', 'the box opened but its header is cut short');
  }
  if (!equalBytes(inner.subarray(2, receiverAt), box.subarray(2, 2 + from))) {
    return refuse('forged', `the box names another sender inside than ${senderId} outside`);
  }
  if (!equalBytes(inner.subarray(receiverAt + 1, timeAt), receiver.idBytes)) {
    return refuse('wrong_receiver', `the box from ${senderId} is for another receiver than ${receiver.id}`);
  }
  const time = Number(new DataView(inner.buffer, inner.byteOffset).getBigUint64(timeAt));
  if (Math.abs(now - time) > freshnessMs) {
    return refuse('stale', `the box from ${senderId} is dated ${time - now} ms from now (at most ±${freshnessMs})`);
  }
  const seen = nonces.check(toHex(nonce), time, now);
  if (seen === 'replayed') return refuse('replayed', `the box from ${senderId} was already received`);
  if (seen === 'stale') return refuse('stale', `the box from ${senderId} is older than the replay cache still covers`);
  return { ok: true, senderId, body: inner.subarray(timeAt + TIME_BYTES) };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
