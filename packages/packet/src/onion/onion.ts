/**
 * The baseline format: the message sealed once per hop (libsodium sealed boxes),
 * innermost layer for the last hop. Each layer names the next hop. A packet loses
 * SEAL_OVERHEAD_BYTES plus its routing bytes at every hop, so its size links a
 * node's inputs to its outputs; that leak is what later formats are measured against.
 *
 * Plaintext of one layer:
 *   forward: 0x01 | idLength u8 | id (UTF-8) | inner packet
 *   deliver: 0x02 | gatewayLength u16 BE | gateway id (UTF-8) | recipient (32) | payload
 */
import { type KeyPair, openSealed, SEAL_OVERHEAD_BYTES, seal, X25519_KEY_BYTES } from '@mixlab/crypto';
import {
  type Destination,
  MAX_GATEWAY_ID_BYTES,
  PacketError,
  type PacketFormat,
  type Peeled,
  type ReplayCheck,
  type RouteHop,
} from '../packet-format.ts';

const FORWARD = 0x01;
const DELIVER = 0x02;
export const MAX_NODE_ID_BYTES = 64;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function forwardLayer(nextHop: string, inner: Uint8Array): Uint8Array {
  const id = utf8.encode(nextHop);
  if (id.length === 0 || id.length > MAX_NODE_ID_BYTES) {
    throw new RangeError(`node id must be 1..${MAX_NODE_ID_BYTES} bytes: ${nextHop}`);
  }
  const layer = new Uint8Array(2 + id.length + inner.length);
  layer[0] = FORWARD;
  layer[1] = id.length;
  layer.set(id, 2);
  layer.set(inner, 2 + id.length);
  return layer;
}

function deliverLayer(destination: Destination, payload: Uint8Array): Uint8Array {
  const gateway = utf8.encode(destination.gateway);
  if (gateway.length === 0 || gateway.length > MAX_GATEWAY_ID_BYTES) {
    throw new RangeError(`gateway id must be 1..${MAX_GATEWAY_ID_BYTES} bytes`);
  }
  if (destination.recipient.length !== X25519_KEY_BYTES) {
    throw new RangeError(`recipient must be a ${X25519_KEY_BYTES}-byte public key`);
  }
  const layer = new Uint8Array(3 + gateway.length + X25519_KEY_BYTES + payload.length);
  const view = new DataView(layer.buffer);
  layer[0] = DELIVER;
  view.setUint16(1, gateway.length);
  layer.set(gateway, 3);
  layer.set(destination.recipient, 3 + gateway.length);
  layer.set(payload, 3 + gateway.length + X25519_KEY_BYTES);
  return layer;
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return fromUtf8.decode(bytes);
  } catch {
    throw new PacketError('malformed', `${what} is not valid UTF-8`);
  }
}

function parseLayer(layer: Uint8Array): Peeled {
  const kind = layer[0];
  if (kind === FORWARD) {
    const idLength = layer[1] ?? 0;
    if (idLength === 0 || layer.length < 2 + idLength) {
      throw new PacketError('malformed', 'forward layer is shorter than its next-hop id');
    }
    const nextHop = decodeUtf8(layer.subarray(2, 2 + idLength), 'next-hop id');
    const packet = layer.subarray(2 + idLength);
    if (packet.length <= SEAL_OVERHEAD_BYTES) {
      throw new PacketError('malformed', 'forward layer carries no inner packet');
    }
    return { kind: 'forward', nextHop, packet };
  }
  if (kind === DELIVER) {
    if (layer.length < 3) throw new PacketError('malformed', 'deliver layer is truncated');
    const gatewayLength = new DataView(layer.buffer, layer.byteOffset, layer.byteLength).getUint16(1);
    const recipientStart = 3 + gatewayLength;
    if (
      gatewayLength === 0 ||
      gatewayLength > MAX_GATEWAY_ID_BYTES ||
      layer.length < recipientStart + X25519_KEY_BYTES
    ) {
      throw new PacketError('malformed', 'deliver layer is shorter than its destination');
    }
    const gateway = decodeUtf8(layer.subarray(3, recipientStart), 'gateway id');
    const recipient = layer.subarray(recipientStart, recipientStart + X25519_KEY_BYTES);
    const payload = layer.subarray(recipientStart + X25519_KEY_BYTES);
    return { kind: 'deliver', destination: { gateway, recipient }, payload };
  }
  throw new PacketError('malformed', `unknown layer kind ${kind ?? '(empty)'}`);
}

/** The smallest onion packet: one sealed deliver layer with a 1-byte gateway id and an empty payload. */
const MIN_PACKET_BYTES = SEAL_OVERHEAD_BYTES + 3 + 1 + X25519_KEY_BYTES;

export const onion: PacketFormat = {
  name: 'onion',
  packetBytes: { min: MIN_PACKET_BYTES, max: Number.POSITIVE_INFINITY },

  wrap(route: readonly RouteHop[], destination: Destination, payload: Uint8Array): Uint8Array {
    const last = route.at(-1);
    if (!last) throw new RangeError('a route needs at least one hop');
    let packet = seal(deliverLayer(destination, payload), last.publicKey);
    for (let i = route.length - 2; i >= 0; i--) {
      const hop = route[i] as RouteHop;
      const next = route[i + 1] as RouteHop;
      packet = seal(forwardLayer(next.id, packet), hop.publicKey);
    }
    return packet;
  },

  peel(packet: Uint8Array, keys: KeyPair, replay?: ReplayCheck): Peeled {
    if (packet.length <= SEAL_OVERHEAD_BYTES) {
      throw new PacketError('malformed', `packet of ${packet.length} bytes is shorter than one layer`);
    }
    const layer = openSealed(packet, keys);
    if (!layer) {
      throw new PacketError('undecryptable', 'layer does not open with this node key (wrong node or altered)');
    }
    // The sealed box's ephemeral public key: fresh for every layer, the same in every copy of one.
    // It is readable before opening, but checked only after: opening is what authenticates the
    // packet, and a tag remembered for junk would let anyone fill the node's replay memory.
    const replayTag = packet.subarray(0, X25519_KEY_BYTES);
    if (replay?.seen(replayTag)) throw new PacketError('replay', 'this packet was seen before with this key');
    return { ...parseLayer(layer), replayTag };
  },
};
