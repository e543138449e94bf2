/**
 * What one implementation of mixlab's primitives provides. index.ts picks one at start-up
 * (native libsodium, else the portable WebAssembly build) and every exported function calls it.
 */

export type CryptoBackendName = 'native' | 'wasm';

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  /** 64 bytes (seed | public key), as libsodium's crypto_sign_* take it. */
  readonly secretKey: Uint8Array;
}

/** A scalar prepared for repeated X25519 (a key object on the wasm backend, the bytes on native); opaque. */
export interface X25519Scalar {
  readonly x25519Scalar: true;
}
/** A point (u-coordinate) prepared so several scalars can multiply it; opaque. */
export interface X25519Point {
  readonly x25519Point: true;
}

export interface CryptoBackend {
  readonly name: CryptoBackendName;
  /** Prepared values may keep a reference to `bytes`: do not change them while in use. */
  x25519Scalar(bytes: Uint8Array): X25519Scalar;
  /** As x25519Scalar, remembered per array: for long-term keys, prepared once. */
  x25519KeyScalar(privateKey: Uint8Array): X25519Scalar;
  x25519Point(bytes: Uint8Array): X25519Point;
  /** X25519 (clamps the scalar, RFC 7748); throws when the result is all zeros (a low-order point). */
  x25519(scalar: X25519Scalar | Uint8Array, point: X25519Point | Uint8Array): Uint8Array;
  x25519Base(scalar: Uint8Array): Uint8Array;
  /** `out` = `message` XOR ChaCha20-IETF(key, nonce, counter 0); `out` may be `message`. */
  chacha20XorInto(out: Uint8Array, message: Uint8Array, key: Uint8Array, nonce: Uint8Array): void;
  /** BLAKE2b with `out.length` (1..64) bytes of output, keyed when `key` is given. */
  blake2bInto(out: Uint8Array, message: Uint8Array, key: Uint8Array | undefined): void;
  /** crypto_kdf_derive_from_key with `out.length` (16..64) bytes; `context` is 8 ASCII characters. */
  kdfInto(out: Uint8Array, subkeyId: number, context: string, masterKey: Uint8Array): void;
  /** Equal lengths only (the caller checks). */
  memEqual(a: Uint8Array, b: Uint8Array): boolean;
  boxKeyPair(): KeyPair;
  seal(message: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array;
  /** null when the box does not open with `keys` (at least SEAL_OVERHEAD_BYTES long: the caller checks). */
  openSealed(box: Uint8Array, keys: KeyPair): Uint8Array | null;
  signKeyPair(seed?: Uint8Array): SigningKeyPair;
  signPublicKeyOf(secretKey: Uint8Array): Uint8Array;
  signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** False, never throws, for any signature that does not verify. Lengths are checked by the caller. */
  verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** The X25519 public key of an Ed25519 one; throws when it is not a valid point. */
  signPublicKeyToX25519(publicKey: Uint8Array): Uint8Array;
  /** The X25519 private key of a 64-byte Ed25519 secret key. */
  signSecretKeyToX25519(secretKey: Uint8Array): Uint8Array;
  /** crypto_box_beforenm: the 32-byte key two X25519 parties share; throws for a low-order point. */
  boxBeforeNm(publicKey: Uint8Array, privateKey: Uint8Array): Uint8Array;
  /** crypto_box_easy_afternm (XSalsa20-Poly1305 with a shared key): the tag, then the ciphertext. */
  boxAfterNm(message: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array;
  /** crypto_box_open_easy_afternm; null when the box was not made with this key and nonce or was altered. */
  openBoxAfterNm(box: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array | null;
}
