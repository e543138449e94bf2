import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { CRYPTO_BACKENDS, mergeX25519Scalars, useCryptoBackend, x25519, x25519Base } from './index.ts';

const bytes = (length: number) => new Uint8Array(randomBytes(length));

for (const backend of CRYPTO_BACKENDS) {
  describe(`mergeX25519Scalars, ${backend} backend`, () => {
    before(() => useCryptoBackend(backend));

    it('multiplies once as the two scalars multiply in turn, on any point and on the base point', () => {
      for (let i = 0; i < 100; i++) {
        const [a, b] = [bytes(32), bytes(32)];
        const point = x25519Base(bytes(32));
        const merged = mergeX25519Scalars(a, b);
        assert.ok(merged, 'representable');
        assert.deepEqual(x25519(merged, point), x25519(b, x25519(a, point)));
        assert.deepEqual(x25519Base(merged), x25519(b, x25519Base(a)));
      }
    });

    it('merges again into a merged scalar, as a five-hop route does', () => {
      let merged: Uint8Array = bytes(32);
      const point = x25519Base(bytes(32));
      let expected = x25519(merged, point);
      for (let hop = 0; hop < 4; hop++) {
        const blinding = bytes(32);
        merged = mergeX25519Scalars(merged, blinding) as Uint8Array;
        expected = x25519(blinding, expected);
        assert.deepEqual(x25519(merged, point), expected);
      }
    });

    it('returns a scalar X25519 leaves as it is (clamped: a multiple of 8 with bit 254 set, bit 255 clear)', () => {
      const merged = mergeX25519Scalars(bytes(32), bytes(32)) as Uint8Array;
      assert.equal((merged[0] as number) & 7, 0);
      assert.equal((merged[31] as number) & 0xc0, 0x40);
    });

    it('refuses a scalar that is not 32 bytes', () => {
      assert.throws(() => mergeX25519Scalars(bytes(31), bytes(32)), RangeError);
    });
  });
}
