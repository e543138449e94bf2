import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, X25519_KEY_BYTES } from '@mixlab/crypto';
import { decodeDelivery, encodeDelivery } from './delivery.ts';
import { sphinx } from './sphinx/sphinx.ts';

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i * 13) % 256);
}

describe('delivery', () => {
  before(cryptoReady);

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

  it('pads the payload with random bytes to a given size, and refuses a payload longer than that', () => {
    const payload = bytes(10, 5);
    const frame = encodeDelivery({ recipient: bytes(X25519_KEY_BYTES, 1), payload }, 64);
    assert.equal(frame.length, X25519_KEY_BYTES + 64);
    const decoded = decodeDelivery(frame);
    assert.deepEqual(decoded.payload.subarray(0, 10), payload);
    const padding = decoded.payload.subarray(10);
    const again = decodeDelivery(encodeDelivery({ recipient: bytes(X25519_KEY_BYTES, 1), payload }, 64)).payload;
    // 54 random bytes: all zero, or equal twice, with probability 2^-432.
    assert.ok(
      padding.some((byte) => byte !== 0),
      'not zeros',
    );
    assert.notDeepEqual(again.subarray(10), padding, 'fresh for every delivery');
    assert.throws(() => encodeDelivery({ recipient: bytes(X25519_KEY_BYTES, 1), payload }, 9), {
      name: 'RangeError',
      message: 'a delivery payload of 10 bytes exceeds the 9 to pad to',
    });
  });

  it('under Sphinx, a padded message delivery is as large as a reply delivery', () => {
    const hop = generateKeyPair();
    const route = [{ id: 'mix-1', publicKey: hop.publicKey }];
    const destination = { gateway: 'gateway-1', recipient: bytes(X25519_KEY_BYTES, 9) };
    const message = sphinx.peel(sphinx.wrap(route, destination, bytes(100, 3)), hop);
    const { block } = sphinx.replies.createReplyBlock(route, destination);
    const reply = sphinx.peel(sphinx.replies.wrapReply(block, bytes(17, 1)).packet, hop);
    assert.equal(message.kind, 'deliver');
    assert.equal(reply.kind, 'deliver');
    if (message.kind !== 'deliver' || reply.kind !== 'deliver') return;
    assert.equal(reply.payload.length, sphinx.deliveryPayloadBytes, 'a reply is delivered at the size itself');
    assert.ok(sphinx.payloadCapacity(destination) < sphinx.deliveryPayloadBytes);
    const frames = [message, reply].map(({ destination: to, payload }) =>
      encodeDelivery({ recipient: to.recipient, payload }, sphinx.deliveryPayloadBytes),
    );
    assert.deepEqual(
      frames.map((frame) => frame.length),
      [X25519_KEY_BYTES + 2064, X25519_KEY_BYTES + 2064],
    );
  });
});
