import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, randomBytes, x25519Backends, x25519Base } from '@mixlab/crypto';

before(cryptoReady);

// Sphinx blinds with raw scalars; both X25519 implementations must agree bit for bit, clamping included.
describe('X25519 backends', () => {
  it('agree on random scalars and points, and with the fixed-base multiplication', () => {
    const { libsodium, node } = x25519Backends;
    for (let i = 0; i < 50; i++) {
      const scalar = randomBytes(32);
      const point = x25519Base(randomBytes(32));
      const expected = libsodium.multiply(libsodium.scalar(scalar), libsodium.point(point));
      assert.deepEqual(node.multiply(node.scalar(scalar), node.point(point)), expected);
      const base = x25519Base(scalar);
      const nine = new Uint8Array(32);
      nine[0] = 9;
      assert.deepEqual(node.multiply(node.scalar(scalar), node.point(nine)), base);
    }
  });

  it('both throw on a low-order point', () => {
    for (const backend of Object.values(x25519Backends)) {
      assert.throws(() => backend.multiply(backend.scalar(randomBytes(32)), backend.point(new Uint8Array(32))));
    }
  });
});
