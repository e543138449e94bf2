/** What an exit node hands to a gateway for one recipient: recipient (32) | sealed payload. */
import { X25519_KEY_BYTES } from '@mixlab/crypto';

export interface Delivery {
  readonly recipient: Uint8Array;
  readonly payload: Uint8Array;
}

export function encodeDelivery(delivery: Delivery): Uint8Array {
  if (delivery.recipient.length !== X25519_KEY_BYTES) {
    throw new RangeError(
      `recipient must be a ${X25519_KEY_BYTES}-byte public key, got ${delivery.recipient.length} bytes`,
    );
  }
  const out = new Uint8Array(X25519_KEY_BYTES + delivery.payload.length);
  out.set(delivery.recipient, 0);
  out.set(delivery.payload, X25519_KEY_BYTES);
  return out;
}

export function decodeDelivery(frame: Uint8Array): Delivery {
  if (frame.length <= X25519_KEY_BYTES) throw new RangeError('delivery shorter than a recipient and a payload');
  return { recipient: frame.subarray(0, X25519_KEY_BYTES), payload: frame.subarray(X25519_KEY_BYTES) };
}
