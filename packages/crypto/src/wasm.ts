/**
 * The portable backend: libsodium's WebAssembly build (libsodium-wrappers-sumo) for everything
 * but X25519 multiplication, which goes through node:crypto key objects (2-3x faster than the
 * WebAssembly one with prebuilt keys). Runs wherever Node does; the fallback when sodium-native
 * does not load, and the baseline the bench measures the native backend against.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import sodium from 'libsodium-wrappers-sumo';
import type { CryptoBackend, X25519Point, X25519Scalar } from './backend.ts';

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// OpenSSL derives the public key when it imports a private key (a fixed-base multiplication).
function privateKeyObject(bytes: Uint8Array): KeyObject {
  return createPrivateKey({ key: asBuffer(bytes), format: 'raw-private', asymmetricKeyType: 'x25519' });
}

function publicKeyObject(bytes: Uint8Array): KeyObject {
  return createPublicKey({ key: asBuffer(bytes), format: 'raw-public', asymmetricKeyType: 'x25519' });
}

const keyScalars = new WeakMap<Uint8Array, KeyObject>();

const wasm: CryptoBackend = {
  name: 'wasm',
  x25519Scalar: (bytes) => privateKeyObject(bytes) as unknown as X25519Scalar,
  x25519KeyScalar(privateKey) {
    let scalar = keyScalars.get(privateKey);
    if (!scalar) {
      scalar = privateKeyObject(privateKey);
      keyScalars.set(privateKey, scalar);
    }
    return scalar as unknown as X25519Scalar;
  },
  x25519Point: (bytes) => publicKeyObject(bytes) as unknown as X25519Point,
  x25519(scalar, point) {
    const privateKey = scalar instanceof Uint8Array ? privateKeyObject(scalar) : (scalar as unknown as KeyObject);
    const publicKey = point instanceof Uint8Array ? publicKeyObject(point) : (point as unknown as KeyObject);
    const out = diffieHellman({ privateKey, publicKey });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  x25519Base: (scalar) => sodium.crypto_scalarmult_base(scalar),
  chacha20XorInto(out, message, key, nonce) {
    out.set(sodium.crypto_stream_chacha20_ietf_xor(message, nonce, key));
  },
  blake2bInto(out, message, key) {
    out.set(sodium.crypto_generichash(out.length, message, key ?? null));
  },
  kdfInto(out, subkeyId, context, masterKey) {
    out.set(sodium.crypto_kdf_derive_from_key(out.length, subkeyId, context, masterKey));
  },
  memEqual: (a, b) => sodium.memcmp(a, b),
  boxKeyPair() {
    const { publicKey, privateKey } = sodium.crypto_box_keypair();
    return { publicKey, privateKey };
  },
  seal: (message, recipientPublicKey) => sodium.crypto_box_seal(message, recipientPublicKey),
  openSealed(box, keys) {
    try {
      return sodium.crypto_box_seal_open(box, keys.publicKey, keys.privateKey);
    } catch {
      return null;
    }
  },
  signKeyPair(seed) {
    const { publicKey, privateKey } = seed ? sodium.crypto_sign_seed_keypair(seed) : sodium.crypto_sign_keypair();
    return { publicKey, secretKey: privateKey };
  },
  signPublicKeyOf: (secretKey) => sodium.crypto_sign_ed25519_sk_to_pk(secretKey),
  signDetached: (message, secretKey) => sodium.crypto_sign_detached(message, secretKey),
  verifyDetached(signature, message, publicKey) {
    try {
      return sodium.crypto_sign_verify_detached(signature, message, publicKey);
    } catch {
      return false;
    }
  },
  signPublicKeyToX25519: (publicKey) => sodium.crypto_sign_ed25519_pk_to_curve25519(publicKey),
  signSecretKeyToX25519: (secretKey) => sodium.crypto_sign_ed25519_sk_to_curve25519(secretKey),
  boxBeforeNm: (publicKey, privateKey) => sodium.crypto_box_beforenm(publicKey, privateKey),
  boxAfterNm: (message, nonce, sharedKey) => sodium.crypto_box_easy_afternm(message, nonce, sharedKey),
  openBoxAfterNm(box, nonce, sharedKey) {
    try {
      return sodium.crypto_box_open_easy_afternm(box, nonce, sharedKey);
    } catch {
      return null;
    }
  },
};

/** The WebAssembly backend, once libsodium has loaded. */
export async function loadWasm(): Promise<CryptoBackend> {
  await sodium.ready;
  return wasm;
}
