/**
 * Sphinx (Danezis & Goldberg 2009) as Katzenpost and Nym build it, over X25519,
 * BLAKE2b, ChaCha20 and LIONESS. Every packet on every link is
 * geometry.packetBytes long; a node learns only the previous and next hop.
 * docs/sphinx.md is the specification; test-vectors/sphinx.json pins the bytes.
 *
 * Packet = header | payload; header = group element (32) | routing info | MAC (32).
 * Per hop: s = x25519(nodeKey, alpha); keys from BLAKE2b(alpha | s); MAC checked over
 * alpha | routing info; routing info decrypted with ChaCha20 and shifted by one slot;
 * alpha blinded (alpha' = x25519(b, alpha)); payload LIONESS-decrypted.
 * Every routing slot is flag (1) | delay (u32 BE ms, 4) | command body: the sender chooses how
 * long each hop holds the packet (continuous-time mixing), and peel returns it as `delayMs`.
 */
import {
  blake2b,
  chacha20Xor,
  chacha20XorInto,
  constantTimeEqual,
  type KeyPair,
  kdfInto,
  mergeX25519Scalars,
  randomBytes,
  type X25519Point,
  x25519,
  x25519Base,
  x25519KeyScalar,
  x25519Point,
  x25519Scalar,
} from '@mixlab/crypto';
import {
  type Destination,
  MAX_GATEWAY_ID_BYTES,
  PacketError,
  type PacketFormat,
  type Peeled,
  type ReplayCheck,
  type ReplyFormat,
  type ReplySecret,
  type RouteHop,
} from '../packet-format.ts';
import {
  DELAY_BYTES,
  DELIVERY_HEADER_BYTES,
  defaultGeometry,
  FIRST_HOP_BYTES,
  type Geometry,
  GROUP_ELEMENT_BYTES,
  MAC_BYTES,
  MAX_DELAY_MS,
  MAX_REPLY_GATEWAY_BYTES,
  NODE_ID_BYTES,
  PAYLOAD_TAG_BYTES,
  REPLY_ID_BYTES,
  REPLY_PAYLOAD_HEADER_BYTES,
} from './geometry.ts';
import { LIONESS_KEY_BYTES, lionessDecrypt, lionessEncrypt } from './lioness.ts';

/** Routing command flags (first byte of a hop's routing slot). */
export const FLAG_FORWARD = 0x01;
export const FLAG_DELIVER = 0x02;
/** Deliver a reply: the slot carries the destination and reply id, the payload is opaque to the exit. */
export const FLAG_DELIVER_REPLY = 0x03;

/**
 * Prefix hashed with alpha | s into the per-hop key (domain separation, version). v2 added the
 * delay field to the routing slots; a v1 packet fails a v2 node's header MAC, and vice versa.
 */
const KEY_DOMAIN = new TextEncoder().encode('mixlab-sphinx-v2');
/** libsodium crypto_kdf context (exactly 8 bytes). */
const KDF_CONTEXT = 'mlsphinx';
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Every slot: flag (1) | delay (u32 BE ms) | command body. */
const DELAY_OFFSET = 1;
const BODY_OFFSET = DELAY_OFFSET + DELAY_BYTES;
/** Forward slot body: id length | next node id (64, zero padded) | next MAC (32). */
const ID_LENGTH_OFFSET = BODY_OFFSET;
const ID_OFFSET = ID_LENGTH_OFFSET + 1;
const NEXT_MAC_OFFSET = ID_OFFSET + NODE_ID_BYTES;
/** Reply slot body: gateway length | gateway id (30, zero padded) | recipient (32) | reply id (16) | 0^18. */
const REPLY_GATEWAY_LENGTH_OFFSET = BODY_OFFSET;
const REPLY_GATEWAY_OFFSET = REPLY_GATEWAY_LENGTH_OFFSET + 1;
const REPLY_RECIPIENT_OFFSET = REPLY_GATEWAY_OFFSET + MAX_REPLY_GATEWAY_BYTES;
const REPLY_ID_OFFSET = REPLY_RECIPIENT_OFFSET + 32;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The bytes wrap and createReplyBlock draw (ephemeral secrets, padding, reply keys), fixed
 * for one purpose only: computing the committed test vectors. These bytes are key
 * material, so it is a function of its own, not a `Random` (@mixlab/runtime), which has no
 * bytes: a seeded Random can never be passed here. Everything else uses randomBytes.
 */
export type TestVectorBytes = (length: number) => Uint8Array;

export interface SphinxOptions {
  /**
   * Test vectors only: the bytes to draw instead of @mixlab/crypto randomBytes. wrap draws
   * the ephemeral scalar (32 bytes), then the routing padding; createReplyBlock draws the
   * reply id (16), the replier's payload key (128), then as wrap.
   */
  readonly testVectorBytes?: TestVectorBytes;
  /**
   * Whether wrap and createReplyBlock merge each blinding factor into one scalar (default true);
   * false multiplies by each in turn, as the hops do and as wrap did before: same bytes, for
   * benchmarks and cross-checks.
   */
  readonly mergeScalars?: boolean;
  /**
   * Every variable-base X25519 multiplication wrap and peel do; default @mixlab/crypto's
   * `x25519`. Injectable so that tests and benchmarks can count them (a replay must stop after
   * the shared secret). Fixed-base ones (x25519Base) are not routed through it.
   */
  readonly multiply?: typeof x25519;
}

export interface SphinxFormat extends PacketFormat {
  readonly geometry: Geometry;
  payloadCapacity(destination: Destination): number;
  readonly deliveryPayloadBytes: number;
  readonly replies: ReplyFormat;
}

/** A route checked for wrap: its node ids (ASCII) and delays (ms), in route order. */
interface CheckedRoute {
  readonly ids: readonly Uint8Array[];
  readonly delays: readonly number[];
}

/** The keys one hop derives from its shared secret. */
export interface HopKeys {
  readonly headerMac: Uint8Array;
  readonly routing: Uint8Array;
  readonly blinding: Uint8Array;
  readonly replayTag: Uint8Array;
  /** LIONESS K1 | K2 | K3 | K4. */
  readonly payload: Uint8Array;
}

/**
 * k = BLAKE2b-256("mixlab-sphinx-v2" | alpha | s); then crypto_kdf(64, id, "mlsphinx", k) for
 * id 1 (header MAC key | routing key), 2 (blinding factor | replay tag), 3 and 4 (LIONESS key).
 */
export function deriveHopKeys(alpha: Uint8Array, sharedSecret: Uint8Array): HopKeys {
  const input = new Uint8Array(KEY_DOMAIN.length + GROUP_ELEMENT_BYTES + sharedSecret.length);
  input.set(KEY_DOMAIN, 0);
  input.set(alpha, KEY_DOMAIN.length);
  input.set(sharedSecret, KEY_DOMAIN.length + GROUP_ELEMENT_BYTES);
  const master = blake2b(32, input);
  // Header MAC key | routing key | blinding | replay tag | LIONESS key, derived in place.
  const derived = new Uint8Array(4 * 64);
  for (let id = 1; id <= 4; id++) kdfInto(derived.subarray((id - 1) * 64, id * 64), id, KDF_CONTEXT, master);
  return {
    headerMac: derived.subarray(0, 32),
    routing: derived.subarray(32, 64),
    blinding: derived.subarray(64, 96),
    // A copy: peel hands the tag out (to the replay cache, across threads), never the keys beside it.
    replayTag: derived.slice(96, 128),
    payload: derived.subarray(128, 256),
  };
}

function xorInto(target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) ^ (source[i] as number);
}

function encodeNodeId(id: string): Uint8Array {
  if (!NODE_ID.test(id)) throw new RangeError(`invalid node id (want ${NODE_ID.source}): ${JSON.stringify(id)}`);
  return utf8.encode(id);
}

function encodeDeliveryBlock(geometry: Geometry, destination: Destination, message: Uint8Array): Uint8Array {
  const gateway = utf8.encode(destination.gateway);
  if (gateway.length === 0 || gateway.length > MAX_GATEWAY_ID_BYTES) {
    throw new RangeError(`gateway id must be 1..${MAX_GATEWAY_ID_BYTES} UTF-8 bytes`);
  }
  if (destination.recipient.length !== 32) throw new RangeError('recipient must be a 32-byte X25519 public key');
  const capacity = geometry.messageCapacity(gateway.length);
  if (message.length > capacity) {
    throw new RangeError(`payload of ${message.length} bytes exceeds the ${capacity} bytes this geometry carries`);
  }
  const block = new Uint8Array(geometry.payloadBytes);
  block.set(destination.recipient, PAYLOAD_TAG_BYTES);
  block[PAYLOAD_TAG_BYTES + 32] = gateway.length;
  dataView(block).setUint32(PAYLOAD_TAG_BYTES + 33, message.length);
  block.set(gateway, DELIVERY_HEADER_BYTES);
  block.set(message, DELIVERY_HEADER_BYTES + gateway.length);
  return block;
}

/** `bytes` as UTF-8; PacketError('malformed') naming `what` when they are not. */
function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return fromUtf8.decode(bytes);
  } catch {
    throw new PacketError('malformed', `${what} is not valid UTF-8`);
  }
}

function decodeDeliveryBlock(block: Uint8Array): { destination: Destination; payload: Uint8Array } {
  for (let i = 0; i < PAYLOAD_TAG_BYTES; i++) {
    if (block[i] !== 0) {
      throw new PacketError('malformed', 'payload authenticator mismatch: the payload was altered (tagged) in transit');
    }
  }
  const gatewayLength = block[PAYLOAD_TAG_BYTES + 32] as number;
  const messageLength = dataView(block).getUint32(PAYLOAD_TAG_BYTES + 33);
  const messageStart = DELIVERY_HEADER_BYTES + gatewayLength;
  if (gatewayLength === 0 || gatewayLength > MAX_GATEWAY_ID_BYTES || messageStart + messageLength > block.length) {
    throw new PacketError('malformed', 'delivery fields do not fit the payload');
  }
  const gateway = decodeUtf8(block.subarray(DELIVERY_HEADER_BYTES, messageStart), 'gateway id');
  return {
    destination: { gateway, recipient: block.subarray(PAYLOAD_TAG_BYTES, PAYLOAD_TAG_BYTES + 32) },
    payload: block.subarray(messageStart, messageStart + messageLength),
  };
}

/** A node id stored as length (1 byte at `at`) | id (64 bytes, zero padded). */
function decodeNodeId(bytes: Uint8Array, at: number, what = 'next-hop'): string {
  const length = bytes[at] as number;
  if (length === 0 || length > NODE_ID_BYTES) throw new PacketError('malformed', `${what} id length out of range`);
  const id = String.fromCharCode(...bytes.subarray(at + 1, at + 1 + length));
  if (!NODE_ID.test(id)) throw new PacketError('malformed', `${what} id has characters a node id cannot have`);
  return id;
}

/** The exit's slot for a reply: everything it needs, since the payload is opaque to it. */
function encodeReplySlot(P: number, destination: Destination, replyId: Uint8Array): Uint8Array {
  const gateway = utf8.encode(destination.gateway);
  if (gateway.length === 0 || gateway.length > MAX_REPLY_GATEWAY_BYTES) {
    throw new RangeError(`a reply's gateway id must be 1..${MAX_REPLY_GATEWAY_BYTES} UTF-8 bytes`);
  }
  if (destination.recipient.length !== 32) throw new RangeError('recipient must be a 32-byte X25519 public key');
  const slot = new Uint8Array(P);
  slot[0] = FLAG_DELIVER_REPLY;
  slot[REPLY_GATEWAY_LENGTH_OFFSET] = gateway.length;
  slot.set(gateway, REPLY_GATEWAY_OFFSET);
  slot.set(destination.recipient, REPLY_RECIPIENT_OFFSET);
  slot.set(replyId, REPLY_ID_OFFSET);
  return slot;
}

function decodeReplySlot(slot: Uint8Array): { destination: Destination; replyId: Uint8Array } {
  const gatewayLength = slot[REPLY_GATEWAY_LENGTH_OFFSET] as number;
  if (gatewayLength === 0 || gatewayLength > MAX_REPLY_GATEWAY_BYTES) {
    throw new PacketError('malformed', 'reply gateway id length out of range');
  }
  const gateway = decodeUtf8(
    slot.subarray(REPLY_GATEWAY_OFFSET, REPLY_GATEWAY_OFFSET + gatewayLength),
    'reply gateway id',
  );
  return {
    destination: { gateway, recipient: slot.slice(REPLY_RECIPIENT_OFFSET, REPLY_RECIPIENT_OFFSET + 32) },
    replyId: slot.slice(REPLY_ID_OFFSET, REPLY_ID_OFFSET + REPLY_ID_BYTES),
  };
}

/** A hop's delay as a slot carries it; absent is 0 (the node decides). */
function checkDelay(hop: RouteHop): number {
  const delayMs = hop.delayMs ?? 0;
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
    throw new RangeError(`delay of ${hop.id} must be an integer 0..${MAX_DELAY_MS} ms, got ${delayMs}`);
  }
  return delayMs;
}

/** A DataView over exactly `bytes` (which may be a view into a larger buffer). */
function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function draw(source: TestVectorBytes, length: number): Uint8Array {
  const bytes = source(length);
  if (bytes.length !== length) throw new RangeError('the byte source returned the wrong number of bytes');
  return bytes;
}

/** A Sphinx packet format for one geometry. */
export function createSphinx(geometry: Geometry = defaultGeometry, options: SphinxOptions = {}): SphinxFormat {
  const byteSource = options.testVectorBytes ?? randomBytes;
  const mergeScalars = options.mergeScalars ?? true;
  const multiply = options.multiply ?? x25519;
  const { routingInfoBytes: R, perHopRoutingInfoBytes: P, macOffset, payloadOffset, packetBytes } = geometry;
  const zeroStream = new Uint8Array(R + P);

  /** The route's encoded node ids and delays; RangeError for anything a slot cannot carry. */
  function checkRoute(route: readonly RouteHop[]): CheckedRoute {
    const n = route.length;
    if (n === 0) throw new RangeError('a route needs at least one hop');
    if (n > geometry.maxHops) throw new RangeError(`route of ${n} hops exceeds this geometry's ${geometry.maxHops}`);
    const ids = route.map((hop) => encodeNodeId(hop.id));
    for (const hop of route) {
      if (hop.publicKey.length !== 32) throw new RangeError(`public key of ${hop.id} is not 32 bytes`);
    }
    return { ids, delays: route.map(checkDelay) };
  }

  /**
   * The header the first hop of `route` receives (alpha | beta | gamma, headerBytes), with the
   * last hop's plaintext routing slot `lastSlot` (P bytes; its delay field is filled in here),
   * and every hop's keys. Draws the ephemeral scalar (32 bytes), then the routing padding
   * (R − n·P bytes).
   */
  function buildHeader(
    route: readonly RouteHop[],
    { ids, delays }: CheckedRoute,
    lastSlot: Uint8Array,
  ): { header: Uint8Array; keys: HopKeys[] } {
    const n = route.length;
    // Group elements and shared secrets: alpha_i = g^(x b_0 .. b_{i-1}), s_i = y_i^(x b_0 .. b_{i-1}).
    // The scalars multiply in turn (x, b_0, ...); each blinding merges into the last of them when
    // it can, so a hop costs one fixed-base and one variable-base multiplication, not i + 2.
    const secret = draw(byteSource, 32);
    const scalars = [x25519Scalar(secret)];
    let lastScalar = secret;
    const alphas: Uint8Array[] = [x25519Base(secret)];
    const keys: HopKeys[] = [];
    for (let i = 0; i < n; i++) {
      let shared = (route[i] as RouteHop).publicKey;
      for (const scalar of scalars) shared = multiply(scalar, shared);
      const alpha = alphas[i] as Uint8Array;
      const hopKeys = deriveHopKeys(alpha, shared);
      keys.push(hopKeys);
      if (i < n - 1) {
        const merged = mergeScalars ? mergeX25519Scalars(lastScalar, hopKeys.blinding) : undefined;
        if (merged) {
          scalars[scalars.length - 1] = x25519Scalar(merged);
          alphas.push(scalars.length === 1 ? x25519Base(merged) : multiply(hopKeys.blinding, alpha));
          lastScalar = merged;
        } else {
          const blinding = x25519Scalar(hopKeys.blinding);
          scalars.push(blinding);
          alphas.push(multiply(blinding, alpha));
          lastScalar = hopKeys.blinding;
        }
      }
    }
    const streams = keys.map((k) => chacha20Xor(zeroStream, k.routing));

    // Filler: what the routing info of hop n-1 ends with after n-1 shifts.
    let filler = new Uint8Array(0);
    for (let i = 0; i < n - 1; i++) {
      const next = new Uint8Array(filler.length + P);
      next.set(filler);
      xorInto(next, (streams[i] as Uint8Array).subarray(R - i * P, R + P));
      filler = next;
    }

    // Last hop: its command, random padding (so the exit cannot count the hops), filler.
    const padding = draw(byteSource, R - n * P);
    let beta = new Uint8Array(R);
    beta.set(lastSlot, 0);
    dataView(beta).setUint32(DELAY_OFFSET, delays[n - 1] as number);
    beta.set(padding, P);
    xorInto(beta.subarray(0, R - (n - 1) * P), streams[n - 1] as Uint8Array);
    beta.set(filler, R - (n - 1) * P);
    let gamma = headerMac(keys[n - 1] as HopKeys, alphas[n - 1] as Uint8Array, beta);

    for (let i = n - 2; i >= 0; i--) {
      const id = ids[i + 1] as Uint8Array;
      const next = new Uint8Array(R);
      next[0] = FLAG_FORWARD;
      dataView(next).setUint32(DELAY_OFFSET, delays[i] as number);
      next[ID_LENGTH_OFFSET] = id.length;
      next.set(id, ID_OFFSET);
      next.set(gamma, NEXT_MAC_OFFSET);
      next.set(beta.subarray(0, R - P), P);
      xorInto(next, streams[i] as Uint8Array);
      beta = next;
      gamma = headerMac(keys[i] as HopKeys, alphas[i] as Uint8Array, beta);
    }

    const header = new Uint8Array(geometry.headerBytes);
    header.set(alphas[0] as Uint8Array, 0);
    header.set(beta, GROUP_ELEMENT_BYTES);
    header.set(gamma, macOffset);
    return { header, keys };
  }

  function wrap(route: readonly RouteHop[], destination: Destination, payload: Uint8Array): Uint8Array {
    const checked = checkRoute(route);
    const block = encodeDeliveryBlock(geometry, destination, payload);
    const lastSlot = new Uint8Array(P);
    lastSlot[0] = FLAG_DELIVER;
    const { header, keys } = buildHeader(route, checked, lastSlot);
    for (let i = keys.length - 1; i >= 0; i--) lionessEncrypt((keys[i] as HopKeys).payload, block, block);
    const packet = new Uint8Array(packetBytes);
    packet.set(header, 0);
    packet.set(block, payloadOffset);
    return packet;
  }

  function headerMac(keys: HopKeys, alpha: Uint8Array, beta: Uint8Array): Uint8Array {
    const covered = new Uint8Array(macOffset);
    covered.set(alpha, 0);
    covered.set(beta, GROUP_ELEMENT_BYTES);
    return blake2b(MAC_BYTES, covered, keys.headerMac);
  }

  function peel(packet: Uint8Array, nodeKeys: KeyPair, replay?: ReplayCheck): Peeled {
    if (packet.length !== packetBytes) {
      throw new PacketError('malformed', `packet of ${packet.length} bytes; a Sphinx packet is ${packetBytes} bytes`);
    }
    const alpha = packet.subarray(0, GROUP_ELEMENT_BYTES);
    let alphaPoint: X25519Point;
    let shared: Uint8Array;
    try {
      alphaPoint = x25519Point(alpha);
      shared = multiply(x25519KeyScalar(nodeKeys.privateKey), alphaPoint);
    } catch {
      throw new PacketError('undecryptable', 'group element is a low-order point: the header was altered');
    }
    const keys = deriveHopKeys(alpha, shared);
    const mac = blake2b(MAC_BYTES, packet.subarray(0, macOffset), keys.headerMac);
    if (!constantTimeEqual(mac, packet.subarray(macOffset, payloadOffset))) {
      throw new PacketError(
        'undecryptable',
        'header MAC mismatch: packet is for another node key, or its header was altered',
      );
    }
    // Authentic: a replay stops here, before the blinding and LIONESS, at the cost of one X25519 and the MAC.
    if (replay?.seen(keys.replayTag)) throw new PacketError('replay', 'this packet was seen before with this key');

    // Routing info | one zero slot, decrypted: this hop's command, then the next hop's routing info.
    const opened = new Uint8Array(R + P);
    opened.set(packet.subarray(GROUP_ELEMENT_BYTES, macOffset));
    chacha20XorInto(opened, opened, keys.routing);
    const flag = opened[0];
    const delayMs = dataView(opened).getUint32(DELAY_OFFSET);

    if (flag === FLAG_FORWARD) {
      const nextHop = decodeNodeId(opened, ID_LENGTH_OFFSET);
      let nextAlpha: Uint8Array;
      try {
        nextAlpha = multiply(keys.blinding, alphaPoint);
      } catch {
        throw new PacketError('undecryptable', 'blinded group element is degenerate');
      }
      const out = new Uint8Array(packetBytes);
      out.set(nextAlpha, 0);
      out.set(opened.subarray(P), GROUP_ELEMENT_BYTES);
      out.set(opened.subarray(NEXT_MAC_OFFSET, NEXT_MAC_OFFSET + MAC_BYTES), macOffset);
      lionessDecrypt(keys.payload, packet.subarray(payloadOffset), out.subarray(payloadOffset));
      return { kind: 'forward', nextHop, packet: out, replayTag: keys.replayTag, delayMs };
    }
    if (flag === FLAG_DELIVER) {
      const block = lionessDecrypt(keys.payload, packet.subarray(payloadOffset));
      return { kind: 'deliver', ...decodeDeliveryBlock(block), replayTag: keys.replayTag, delayMs };
    }
    if (flag === FLAG_DELIVER_REPLY) {
      // The payload is the replier's, encrypted to a key only the sender knows: the exit
      // removes its layer and hands it over unchecked, behind the reply id.
      const { destination, replyId } = decodeReplySlot(opened);
      const payload = new Uint8Array(REPLY_ID_BYTES + geometry.payloadBytes);
      payload.set(replyId, 0);
      lionessDecrypt(keys.payload, packet.subarray(payloadOffset), payload.subarray(REPLY_ID_BYTES));
      return { kind: 'deliver', destination, payload, replayTag: keys.replayTag, delayMs };
    }
    throw new PacketError('malformed', `unknown routing command ${flag}`);
  }

  const { replyBlockBytes, replyCapacity } = geometry;
  // What peel delivers for a reply, and so the one size the exit pads every delivery to.
  const deliveredReplyBytes = REPLY_ID_BYTES + geometry.payloadBytes;
  const headerOffset = FIRST_HOP_BYTES;
  const replierKeyOffset = FIRST_HOP_BYTES + geometry.headerBytes;

  function createReplyBlock(
    route: readonly RouteHop[],
    destination: Destination,
  ): { block: Uint8Array; secret: ReplySecret } {
    const checked = checkRoute(route);
    const replyId = draw(byteSource, REPLY_ID_BYTES);
    const slot = encodeReplySlot(P, destination, replyId);
    const replierKey = draw(byteSource, LIONESS_KEY_BYTES);
    const { header, keys } = buildHeader(route, checked, slot);
    const firstId = checked.ids[0] as Uint8Array;
    const block = new Uint8Array(replyBlockBytes);
    block[0] = firstId.length;
    block.set(firstId, 1);
    block.set(header, headerOffset);
    block.set(replierKey, replierKeyOffset);
    // The secret: the replier's key, then each hop's payload key in route order.
    const secretKeys = new Uint8Array((keys.length + 1) * LIONESS_KEY_BYTES);
    secretKeys.set(replierKey, 0);
    keys.forEach((k, i) => {
      secretKeys.set(k.payload, (i + 1) * LIONESS_KEY_BYTES);
    });
    return { block, secret: { id: replyId.slice(), keys: secretKeys } };
  }

  function wrapReply(block: Uint8Array, message: Uint8Array): { firstHop: string; packet: Uint8Array } {
    if (block.length !== replyBlockBytes) {
      throw new PacketError(
        'malformed',
        `reply block of ${block.length} bytes; a Sphinx reply block is ${replyBlockBytes} bytes in this geometry`,
      );
    }
    const firstHop = decodeNodeId(block, 0, 'reply block first-hop');
    if (message.length > replyCapacity) {
      throw new RangeError(`reply of ${message.length} bytes exceeds the ${replyCapacity} bytes a reply carries`);
    }
    const packet = new Uint8Array(packetBytes);
    packet.set(block.subarray(headerOffset, replierKeyOffset), 0);
    const payload = packet.subarray(payloadOffset);
    dataView(payload).setUint32(PAYLOAD_TAG_BYTES, message.length);
    payload.set(message, REPLY_PAYLOAD_HEADER_BYTES);
    lionessEncrypt(block.subarray(replierKeyOffset), payload, payload);
    return { firstHop, packet };
  }

  function replyId(delivered: Uint8Array): Uint8Array | undefined {
    return delivered.length === deliveredReplyBytes ? copyOf(delivered.subarray(0, REPLY_ID_BYTES)) : undefined;
  }

  function openReply(secret: ReplySecret, delivered: Uint8Array): Uint8Array {
    const hops = secret.keys.length / LIONESS_KEY_BYTES - 1;
    if (secret.id.length !== REPLY_ID_BYTES || !Number.isInteger(hops) || hops < 1 || hops > geometry.maxHops) {
      throw new RangeError('not a Sphinx reply secret of this geometry');
    }
    if (delivered.length !== deliveredReplyBytes) {
      throw new PacketError(
        'malformed',
        `delivered payload of ${delivered.length} bytes; a reply is ${deliveredReplyBytes} bytes`,
      );
    }
    if (!constantTimeEqual(secret.id, delivered.subarray(0, REPLY_ID_BYTES))) {
      throw new PacketError('malformed', 'reply id does not match the secret: the reply is for another reply block');
    }
    // Undo the hops' decryptions, last hop first, then the replier's encryption.
    const payload = copyOf(delivered.subarray(REPLY_ID_BYTES));
    for (let i = hops; i >= 1; i--) {
      lionessEncrypt(secret.keys.subarray(i * LIONESS_KEY_BYTES, (i + 1) * LIONESS_KEY_BYTES), payload, payload);
    }
    lionessDecrypt(secret.keys.subarray(0, LIONESS_KEY_BYTES), payload, payload);
    for (let i = 0; i < PAYLOAD_TAG_BYTES; i++) {
      if (payload[i] !== 0) {
        throw new PacketError(
          'malformed',
          'reply authenticator mismatch: the reply was altered (tagged) in transit, or the secret is not for its block',
        );
      }
    }
    const length = dataView(payload).getUint32(PAYLOAD_TAG_BYTES);
    if (REPLY_PAYLOAD_HEADER_BYTES + length > payload.length) {
      throw new PacketError('malformed', 'reply message length does not fit the payload');
    }
    return payload.slice(REPLY_PAYLOAD_HEADER_BYTES, REPLY_PAYLOAD_HEADER_BYTES + length);
  }

  const replies: ReplyFormat = { replyBlockBytes, replyCapacity, createReplyBlock, wrapReply, replyId, openReply };
  const payloadCapacity = (destination: Destination) =>
    geometry.messageCapacity(utf8.encode(destination.gateway).length);
  return {
    name: 'sphinx',
    geometry,
    packetBytes: { min: geometry.packetBytes, max: geometry.packetBytes },
    wrap,
    peel,
    payloadCapacity,
    deliveryPayloadBytes: deliveredReplyBytes,
    replies,
  };
}

/** Sphinx with the default geometry (5 hops, 2048-byte payload) and system randomness. */
export const sphinx: SphinxFormat = createSphinx();

/**
 * A fresh Uint8Array with the same bytes. Not `bytes.slice()`: on a Node Buffer (what
 * HTTP bodies and base64 decoding give) slice returns a view into a shared pool.
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
