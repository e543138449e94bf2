import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { CryptoBackend } from './backend.ts';
import { cryptoBackend, cryptoReady, useCryptoBackend } from './index.ts';
import { loadNative } from './native.ts';
import { loadWasm } from './wasm.ts';

const bytes = (length: number) => new Uint8Array(randomBytes(length));

// The packet formats may run on either backend: each primitive must give the same bytes on both.
describe('crypto backends (native libsodium, WebAssembly)', () => {
  let native: CryptoBackend;
  let wasm: CryptoBackend;
  before(async () => {
    native = loadNative();
    wasm = await loadWasm();
  });

  it('cryptoReady chooses native here (sodium-native is installed with its prebuilt binary); both can be forced', async () => {
    await cryptoReady();
    assert.equal(cryptoBackend(), 'native');
    await useCryptoBackend('wasm');
    assert.equal(cryptoBackend(), 'wasm');
    await useCryptoBackend('native');
    assert.equal(cryptoBackend(), 'native');
  });

  it('agree on X25519 with raw and prepared values, clamping included, and on the base point', () => {
    for (let i = 0; i < 50; i++) {
      const scalar = bytes(32);
      const point = native.x25519Base(bytes(32));
      const expected = native.x25519(scalar, point);
      assert.deepEqual(wasm.x25519(scalar, point), expected);
      assert.deepEqual(wasm.x25519(wasm.x25519Scalar(scalar), wasm.x25519Point(point)), expected);
      assert.deepEqual(wasm.x25519(wasm.x25519KeyScalar(scalar), point), expected);
      assert.deepEqual(native.x25519(native.x25519KeyScalar(scalar), native.x25519Point(point)), expected);
      const nine = new Uint8Array(32);
      nine[0] = 9;
      assert.deepEqual(wasm.x25519Base(scalar), native.x25519(scalar, nine));
      assert.deepEqual(native.x25519Base(scalar), wasm.x25519(scalar, nine));
    }
  });

  it('both throw on a low-order point', () => {
    for (const backend of [native, wasm]) {
      assert.throws(() => backend.x25519(bytes(32), new Uint8Array(32)));
    }
  });

  it('agree on ChaCha20, BLAKE2b (keyed or not) and the KDF, in place too', () => {
    for (const length of [0, 1, 63, 64, 65, 2048]) {
      const message = bytes(length);
      const key = bytes(32);
      const nonce = bytes(12);
      const [a, b] = [new Uint8Array(length), message.slice()];
      native.chacha20XorInto(a, message, key, nonce);
      wasm.chacha20XorInto(b, b, key, nonce);
      assert.deepEqual(b, a);
      if (length > 0) assert.notDeepEqual(a, message);
      for (const [outBytes, hashKey] of [
        [32, undefined],
        [64, bytes(64)],
        [16, bytes(16)],
      ] as const) {
        const [h1, h2] = [new Uint8Array(outBytes), new Uint8Array(outBytes)];
        native.blake2bInto(h1, message, hashKey);
        wasm.blake2bInto(h2, message, hashKey);
        assert.deepEqual(h2, h1);
      }
    }
    const master = bytes(32);
    for (const id of [0, 1, 4, 65536]) {
      const [k1, k2] = [new Uint8Array(64), new Uint8Array(64)];
      native.kdfInto(k1, id, 'mlsphinx', master);
      wasm.kdfInto(k2, id, 'mlsphinx', master);
      assert.deepEqual(k2, k1);
    }
  });

  it("open each other's sealed boxes, and refuse altered ones or other keys", () => {
    for (const [sealer, opener] of [
      [native, wasm],
      [wasm, native],
    ] as const) {
      const keys = opener.boxKeyPair();
      const message = bytes(300);
      const box = sealer.seal(message, keys.publicKey);
      assert.equal(box.length, message.length + 48);
      assert.deepEqual(opener.openSealed(box, keys), message);
      const altered = box.slice();
      altered[100] = (altered[100] as number) ^ 1;
      assert.equal(opener.openSealed(altered, keys), null);
      assert.equal(opener.openSealed(box, sealer.boxKeyPair()), null);
    }
  });

  it("derive the same Ed25519 keys from a seed and verify each other's signatures", () => {
    const seed = bytes(32);
    const keys = native.signKeyPair(seed);
    assert.deepEqual(wasm.signKeyPair(seed), keys);
    assert.deepEqual(wasm.signPublicKeyOf(keys.secretKey), keys.publicKey);
    assert.deepEqual(native.signPublicKeyOf(keys.secretKey), keys.publicKey);
    const message = bytes(100);
    const signature = native.signDetached(message, keys.secretKey);
    assert.deepEqual(wasm.signDetached(message, keys.secretKey), signature);
    for (const backend of [native, wasm]) {
      assert.equal(backend.verifyDetached(signature, message, keys.publicKey), true);
      assert.equal(backend.verifyDetached(signature, bytes(100), keys.publicKey), false);
      assert.equal(backend.verifyDetached(signature, message, new Uint8Array(32)), false);
      assert.equal(backend.memEqual(signature, signature.slice()), true);
      assert.equal(backend.memEqual(signature, new Uint8Array(64)), false);
    }
  });
  it('agree on Ed25519 to X25519, on the shared key of two identities, and on boxes made with it', () => {
    for (let i = 0; i < 20; i++) {
      const [alice, bob] = [native.signKeyPair(bytes(32)), native.signKeyPair(bytes(32))];
      const alicePublic = native.signPublicKeyToX25519(alice.publicKey);
      const alicePrivate = native.signSecretKeyToX25519(alice.secretKey);
      assert.deepEqual(wasm.signPublicKeyToX25519(alice.publicKey), alicePublic);
      assert.deepEqual(wasm.signSecretKeyToX25519(alice.secretKey), alicePrivate);
      assert.deepEqual(native.x25519Base(alicePrivate), alicePublic, 'the converted keys are one X25519 pair');
      const bobPublic = native.signPublicKeyToX25519(bob.publicKey);
      const bobPrivate = native.signSecretKeyToX25519(bob.secretKey);
      const shared = native.boxBeforeNm(bobPublic, alicePrivate);
      assert.deepEqual(wasm.boxBeforeNm(bobPublic, alicePrivate), shared);
      assert.deepEqual(native.boxBeforeNm(alicePublic, bobPrivate), shared, 'both ends derive one key');
      const [message, nonce] = [bytes(i * 97), bytes(24)];
      const box = native.boxAfterNm(message, nonce, shared);
      assert.equal(box.length, message.length + 16);
      assert.deepEqual(wasm.boxAfterNm(message, nonce, shared), box);
      for (const backend of [native, wasm]) {
        assert.deepEqual(backend.openBoxAfterNm(box, nonce, shared), message);
        const altered = box.slice();
        altered[i % box.length] = (altered[i % box.length] as number) ^ 1;
        assert.equal(backend.openBoxAfterNm(altered, nonce, shared), null);
        assert.equal(backend.openBoxAfterNm(box, bytes(24), shared), null);
        assert.equal(backend.openBoxAfterNm(box, nonce, bytes(32)), null);
      }
    }
  });

  it('both refuse a low-order point for a shared key and an invalid Ed25519 key', () => {
    for (const backend of [native, wasm]) {
      assert.throws(() => backend.boxBeforeNm(new Uint8Array(32), bytes(32)));
      const notAPoint = new Uint8Array(32).fill(0xff);
      assert.throws(() => backend.signPublicKeyToX25519(notAPoint));
    }
  });
});
