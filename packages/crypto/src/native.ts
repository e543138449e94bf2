/**
 * The fast backend: native libsodium through sodium-native (N-API bindings; the npm package
 * ships prebuilt binaries, linux-x64 among them, so installing compiles and downloads nothing).
 * Every call writes into caller-provided memory and X25519 needs no key objects: a scalar or a
 * point is its 32 bytes, so a Sphinx hop's blinding is one crypto_scalarmult.
 */
import { createRequire } from 'node:module';
import type { CryptoBackend, X25519Point, X25519Scalar } from './backend.ts';

/** The part of sodium-native mixlab calls (it ships no types). Its functions throw on a failed status. */
interface SodiumNative {
  crypto_scalarmult(out: Uint8Array, scalar: Uint8Array, point: Uint8Array): void;
  crypto_scalarmult_base(out: Uint8Array, scalar: Uint8Array): void;
  crypto_stream_chacha20_ietf_xor(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  crypto_generichash(out: Uint8Array, message: Uint8Array, key?: Uint8Array): void;
  crypto_kdf_derive_from_key(out: Uint8Array, subkeyId: number, context: Uint8Array, key: Uint8Array): void;
  sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
  crypto_box_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void;
  crypto_box_seal(out: Uint8Array, message: Uint8Array, publicKey: Uint8Array): void;
  crypto_box_seal_open(out: Uint8Array, box: Uint8Array, publicKey: Uint8Array, secretKey: Uint8Array): boolean;
  crypto_sign_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_ed25519_sk_to_pk(publicKey: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_ed25519_pk_to_curve25519(out: Uint8Array, publicKey: Uint8Array): void;
  crypto_sign_ed25519_sk_to_curve25519(out: Uint8Array, secretKey: Uint8Array): void;
  crypto_stream_salsa20(out: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  crypto_secretbox_easy(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  crypto_secretbox_open_easy(out: Uint8Array, box: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean;
}

const SEALBYTES = 48;
const BOX_MACBYTES = 16;
/** "expand 32-byte k", the Salsa20 constants, as little-endian words. */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

/**
 * crypto_box_beforenm, which sodium-native does not bind: HSalsa20(X25519(sk, pk), 0). HSalsa20
 * is the Salsa20 core without its final addition, so it is read off the first Salsa20 block of
 * key q and nonce 0 (input words 6..9 are the zero nonce and counter): words 0, 5, 10, 15 less
 * the constants, then words 6..9 as they are. The backends test checks it against libsodium's.
 */
function boxBeforeNm(sodium: SodiumNative, publicKey: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const q = new Uint8Array(32);
  sodium.crypto_scalarmult(q, privateKey, publicKey); // throws for a low-order point, as beforenm fails
  const block = new Uint8Array(64);
  sodium.crypto_stream_salsa20(block, new Uint8Array(8), q);
  const words = new DataView(block.buffer);
  const key = new Uint8Array(32);
  const out = new DataView(key.buffer);
  for (const [i, word] of [0, 5, 10, 15].entries()) {
    out.setUint32(4 * i, (words.getUint32(4 * word, true) - (SIGMA[i] as number)) >>> 0, true);
  }
  key.set(block.subarray(24, 40), 16);
  return key;
}

function nativeBackend(sodium: SodiumNative): CryptoBackend {
  // crypto_kdf takes its 8-byte context as bytes: encode each context once.
  const contexts = new Map<string, Uint8Array>();
  const contextBytes = (context: string) => {
    let bytes = contexts.get(context);
    if (!bytes) {
      bytes = new TextEncoder().encode(context);
      contexts.set(context, bytes);
    }
    return bytes;
  };
  return {
    name: 'native',
    x25519Scalar: (bytes) => bytes as unknown as X25519Scalar,
    x25519KeyScalar: (privateKey) => privateKey as unknown as X25519Scalar,
    x25519Point: (bytes) => bytes as unknown as X25519Point,
    x25519(scalar, point) {
      const out = new Uint8Array(32);
      sodium.crypto_scalarmult(out, scalar as Uint8Array, point as Uint8Array);
      return out;
    },
    x25519Base(scalar) {
      const out = new Uint8Array(32);
      sodium.crypto_scalarmult_base(out, scalar);
      return out;
    },
    chacha20XorInto: (out, message, key, nonce) => sodium.crypto_stream_chacha20_ietf_xor(out, message, nonce, key),
    blake2bInto: (out, message, key) => sodium.crypto_generichash(out, message, key),
    kdfInto: (out, subkeyId, context, masterKey) =>
      sodium.crypto_kdf_derive_from_key(out, subkeyId, contextBytes(context), masterKey),
    memEqual: (a, b) => sodium.sodium_memcmp(a, b),
    boxKeyPair() {
      const publicKey = new Uint8Array(32);
      const privateKey = new Uint8Array(32);
      sodium.crypto_box_keypair(publicKey, privateKey);
      return { publicKey, privateKey };
    },
    seal(message, recipientPublicKey) {
      const box = new Uint8Array(message.length + SEALBYTES);
      sodium.crypto_box_seal(box, message, recipientPublicKey);
      return box;
    },
    openSealed(box, keys) {
      const message = new Uint8Array(box.length - SEALBYTES);
      try {
        return sodium.crypto_box_seal_open(message, box, keys.publicKey, keys.privateKey) ? message : null;
      } catch {
        return null; // a key of the wrong length
      }
    },
    signKeyPair(seed) {
      const publicKey = new Uint8Array(32);
      const secretKey = new Uint8Array(64);
      if (seed) sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
      else sodium.crypto_sign_keypair(publicKey, secretKey);
      return { publicKey, secretKey };
    },
    signPublicKeyOf(secretKey) {
      const publicKey = new Uint8Array(32);
      sodium.crypto_sign_ed25519_sk_to_pk(publicKey, secretKey);
      return publicKey;
    },
    signDetached(message, secretKey) {
      const signature = new Uint8Array(64);
      sodium.crypto_sign_detached(signature, message, secretKey);
      return signature;
    },
    verifyDetached(signature, message, publicKey) {
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        return false;
      }
    },
    signPublicKeyToX25519(publicKey) {
      const out = new Uint8Array(32);
      sodium.crypto_sign_ed25519_pk_to_curve25519(out, publicKey);
      return out;
    },
    signSecretKeyToX25519(secretKey) {
      const out = new Uint8Array(32);
      sodium.crypto_sign_ed25519_sk_to_curve25519(out, secretKey);
      return out;
    },
    boxBeforeNm: (publicKey, privateKey) => boxBeforeNm(sodium, publicKey, privateKey),
    // crypto_box_easy_afternm is crypto_secretbox_easy with the shared key.
    boxAfterNm(message, nonce, sharedKey) {
      const box = new Uint8Array(message.length + BOX_MACBYTES);
      sodium.crypto_secretbox_easy(box, message, nonce, sharedKey);
      return box;
    },
    openBoxAfterNm(box, nonce, sharedKey) {
      const message = new Uint8Array(box.length - BOX_MACBYTES);
      return sodium.crypto_secretbox_open_easy(message, box, nonce, sharedKey) ? message : null;
    },
  };
}

/** The native backend; throws when sodium-native or its prebuilt binary does not load here. */
export function loadNative(): CryptoBackend {
  return nativeBackend(createRequire(import.meta.url)('sodium-native') as SodiumNative);
}
