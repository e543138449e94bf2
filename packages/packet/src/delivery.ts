/** What an exit node hands to a gateway for one recipient: recipient (32) | sealed payload | random padding. */
import { randomBytes, X25519_KEY_BYTES } from '@mixlab/crypto';

export interface Delivery {
  readonly recipient: Uint8Array;
  readonly payload: Uint8Array;
}

/**
 * The frame for `delivery`; with `payloadBytes` (the format's deliveryPayloadBytes), its payload
 * padded to that size, so that every delivery is one size (RangeError when it is longer). The
 * padding is random, not zeros: on a plain-HTTP link a run of zeros would set a message apart
 * from a reply, whose payload is noise to its end.
 */
export function encodeDelivery(delivery: Delivery, payloadBytes = delivery.payload.length): Uint8Array {
  if (delivery.recipient.length !== X25519_KEY_BYTES) {
    throw new RangeError(
      `recipient must be a ${X25519_KEY_BYTES}-byte public key, got ${delivery.recipient.length} bytes`,
    );
  }
  if (delivery.payload.length > payloadBytes) {
    throw new RangeError(
      `a delivery payload of ${delivery.payload.length} bytes exceeds the ${payloadBytes} to pad to`,
    );
  }
  const out = new Uint8Array(X25519_KEY_BYTES + payloadBytes);
  out.set(delivery.recipient, 0);
  out.set(delivery.payload, X25519_KEY_BYTES);
  const padding = payloadBytes - delivery.payload.length;
  if (padding > 0) out.set(randomBytes(padding), X25519_KEY_BYTES + delivery.payload.length);
  return out;
}

export function decodeDelivery(frame: Uint8Array): Delivery {
  if (frame.length <= X25519_KEY_BYTES) throw new RangeError('delivery shorter than a recipient and a payload');
  return { recipient: frame.subarray(0, X25519_KEY_BYTES), payload: frame.subarray(X25519_KEY_BYTES) };
}
