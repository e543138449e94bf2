import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { X25519_KEY_BYTES } from '@mixlab/crypto';
import { decodeDelivery, encodeDelivery } from './delivery.ts';

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i * 13) % 256);
}

describe('delivery', () => {
  it('encodes the recipient followed by the payload', () => {
    const recipient = bytes(X25519_KEY_BYTES, 1);
    const payload = bytes(100, 2);
    const frame = encodeDelivery({ recipient, payload });
    assert.equal(frame.length, X25519_KEY_BYTES + payload.length);
    assert.deepEqual(frame.subarray(0, X25519_KEY_BYTES), recipient);
    assert.deepEqual(frame.subarray(X25519_KEY_BYTES), payload);
  });

  it('round-trips recipient and payload, for payloads of one byte and more', () => {
    for (const length of [1, 2, 1024]) {
      const delivery = { recipient: bytes(X25519_KEY_BYTES, length), payload: bytes(length, 7) };
      const decoded = decodeDelivery(encodeDelivery(delivery));
      assert.deepEqual(decoded.recipient, delivery.recipient);
      assert.deepEqual(decoded.payload, delivery.payload);
    }
  });

  it('decodes into views of the frame, not copies', () => {
    const frame = encodeDelivery({ recipient: bytes(X25519_KEY_BYTES, 3), payload: bytes(5, 4) });
    const decoded = decodeDelivery(frame);
    assert.equal(decoded.recipient.buffer, frame.buffer);
    assert.equal(decoded.payload.buffer, frame.buffer);
    assert.equal(decoded.payload.byteOffset, frame.byteOffset + X25519_KEY_BYTES);
  });

  it('throws RangeError for a frame of 32 bytes or fewer', () => {
    for (const length of [0, 1, X25519_KEY_BYTES - 1, X25519_KEY_BYTES]) {
      assert.throws(() => decodeDelivery(new Uint8Array(length)), {
        name: 'RangeError',
        message: /delivery shorter than a recipient and a payload/,
      });
    }
  });

  it('refuses to encode a recipient that is not a 32-byte key', () => {
    for (const length of [X25519_KEY_BYTES - 1, X25519_KEY_BYTES + 1]) {
      assert.throws(() => encodeDelivery({ recipient: new Uint8Array(length), payload: bytes(10, 1) }), {
        name: 'RangeError',
        message: /recipient must be a 32-byte public key/,
      });
    }
  });
});
