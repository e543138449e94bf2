/**
 * The primitives mixlab uses, behind one small module so that the choice of
 * implementation (libsodium WASM today) is made in exactly one place.
 *
 * Call `cryptoReady()` once at start-up before any other function.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject, randomFillSync } from 'node:crypto';
import sodium from 'libsodium-wrappers-sumo';

export const X25519_KEY_BYTES = 32;
/** Overhead of an anonymous sealed box: ephemeral public key + Poly1305 tag. */
export const SEAL_OVERHEAD_BYTES = 48;

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

let ready = false;

/** Loads libsodium's WebAssembly; idempotent. */
export async function cryptoReady(): Promise<void> {
  if (ready) return;
  await sodium.ready;
  ready = true;
}

/** A fresh X25519 key pair for sealed boxes. */
export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  return { publicKey, privateKey };
}

/** Recomputes the public key that belongs to an X25519 private key. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return sodium.crypto_scalarmult_base(privateKey);
}

/** Anonymous public-key encryption (X25519 + XSalsa20-Poly1305). */
export function seal(message: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  return sodium.crypto_box_seal(message, recipientPublicKey);
}

/** Opens a sealed box; returns null when the box was not sealed to this key or was altered. */
export function openSealed(box: Uint8Array, keys: KeyPair): Uint8Array | null {
  if (box.length < SEAL_OVERHEAD_BYTES) return null;
  try {
    return sodium.crypto_box_seal_open(box, keys.publicKey, keys.privateKey);
  } catch {
    return null;
  }
}

/**
 * `length` fresh bytes from node:crypto's CSPRNG, in one call. (libsodium-wrappers' randombytes_buf
 * calls crypto.getRandomValues once per 4 bytes, which cost a 3-hop Sphinx wrap about a third of its time.)
 */
export function randomBytes(length: number): Uint8Array {
  return randomFillSync(new Uint8Array(length));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses lowercase or uppercase hex; returns null for anything else. */
export function fromHex(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

// ---------------------------------------------------------------------------
// Primitives for the Sphinx packet format: X25519 with raw scalars (blinding),
// ChaCha20 streams, keyed BLAKE2b, libsodium's BLAKE2b KDF.

/** A scalar decoded once for repeated X25519 use (a node's long-term key); opaque to callers. */
export interface X25519Scalar {
  readonly x25519Scalar: true;
}
/** A point (u-coordinate) decoded once so several scalars can multiply it; opaque to callers. */
export interface X25519Point {
  readonly x25519Point: true;
}

/**
 * One X25519 implementation. Both clamp scalars as RFC 7748 says, so their results are
 * identical; `multiply` throws when the result is all zeros (a low-order point).
 */
export interface X25519Backend {
  readonly name: 'libsodium' | 'node';
  scalar(bytes: Uint8Array): X25519Scalar;
  point(bytes: Uint8Array): X25519Point;
  multiply(scalar: X25519Scalar, point: X25519Point): Uint8Array;
}

const sodiumX25519: X25519Backend = {
  name: 'libsodium',
  scalar: (bytes) => bytes as unknown as X25519Scalar,
  point: (bytes) => bytes as unknown as X25519Point,
  multiply: (scalar, point) =>
    sodium.crypto_scalarmult(scalar as unknown as Uint8Array, point as unknown as Uint8Array),
};

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const nodeX25519: X25519Backend = {
  name: 'node',
  // OpenSSL derives the public key on import (one fixed-base multiplication), so prepare long-term scalars once.
  scalar: (bytes) =>
    createPrivateKey({
      key: asBuffer(bytes),
      format: 'raw-private',
      asymmetricKeyType: 'x25519',
    }) as unknown as X25519Scalar,
  point: (bytes) =>
    createPublicKey({
      key: asBuffer(bytes),
      format: 'raw-public',
      asymmetricKeyType: 'x25519',
    }) as unknown as X25519Point,
  multiply: (scalar, point) => {
    const out = diffieHellman({ privateKey: scalar as unknown as KeyObject, publicKey: point as unknown as KeyObject });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
};

/** Both implementations, for benchmarks and cross-checks. */
export const x25519Backends: Readonly<Record<X25519Backend['name'], X25519Backend>> = {
  libsodium: sodiumX25519,
  node: nodeX25519,
};

/**
 * The X25519 implementation mixlab uses: the one place to switch. On the bench (`npm run bench`,
 * which prints the ratios) node:crypto is about 2.4x faster for one multiplication with prebuilt
 * keys, but a Sphinx hop imports its blinding scalar per packet (OpenSSL derives a public key on
 * import), so its two multiplications ran only about 1.1x faster and a whole hop 1.0x (2 cores, loaded).
 */
export const x25519: X25519Backend = nodeX25519;

/** The public point of a scalar (X25519 with the base point). */
export function x25519Base(scalar: Uint8Array): Uint8Array {
  return sodium.crypto_scalarmult_base(scalar);
}

export const CHACHA20_KEY_BYTES = 32;
export const CHACHA20_IETF_NONCE_BYTES = 12;
const ZERO_NONCE = new Uint8Array(CHACHA20_IETF_NONCE_BYTES);

/** `message` XOR the ChaCha20 (IETF, RFC 8439) key stream for `key`, `nonce` (default zeros), block counter 0. */
export function chacha20Xor(message: Uint8Array, key: Uint8Array, nonce: Uint8Array = ZERO_NONCE): Uint8Array {
  return sodium.crypto_stream_chacha20_ietf_xor(message, nonce, key);
}

/** BLAKE2b with an output of 1..64 bytes; keyed (a MAC/PRF) when `key` (16..64 bytes) is given. */
export function blake2b(outputBytes: number, message: Uint8Array, key?: Uint8Array): Uint8Array {
  return sodium.crypto_generichash(outputBytes, message, key ?? null);
}

/**
 * libsodium's crypto_kdf: BLAKE2b(key = masterKey (32 bytes), message = empty,
 * salt = subkeyId (u64 LE) | 8 zeros, personal = context (8 ASCII bytes) | 8 zeros), 16..64 bytes.
 */
export function kdf(outputBytes: number, subkeyId: number, context: string, masterKey: Uint8Array): Uint8Array {
  return sodium.crypto_kdf_derive_from_key(outputBytes, subkeyId, context, masterKey);
}

/** Compares two byte strings of equal length in constant time; false when lengths differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.memcmp(a, b);
}

// ---------------------------------------------------------------------------
// Ed25519 signatures (RFC 8032, pure Ed25519) for node identities and the directory.

export const ED25519_PUBLIC_KEY_BYTES = 32;
/** libsodium's secret key: the 32-byte seed followed by the 32-byte public key. */
export const ED25519_SECRET_KEY_BYTES = 64;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  /** 64 bytes (seed | public key), as libsodium's crypto_sign_* take it. */
  readonly secretKey: Uint8Array;
}

/** A fresh Ed25519 key pair. */
export function generateSigningKeyPair(): SigningKeyPair {
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  return { publicKey, secretKey: privateKey };
}

/** The Ed25519 key pair of a 32-byte seed: keep only the seed on disk, or pin test vectors. */
export function signingKeyPairFromSeed(seed: Uint8Array): SigningKeyPair {
  if (seed.length !== ED25519_SEED_BYTES) throw new RangeError(`an Ed25519 seed is ${ED25519_SEED_BYTES} bytes`);
  const { publicKey, privateKey } = sodium.crypto_sign_seed_keypair(seed);
  return { publicKey, secretKey: privateKey };
}

function checkSecretKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== ED25519_SECRET_KEY_BYTES) {
    throw new RangeError(`an Ed25519 secret key is ${ED25519_SECRET_KEY_BYTES} bytes`);
  }
  return secretKey;
}

/** The public key inside a 64-byte Ed25519 secret key. */
export function signingPublicKeyOf(secretKey: Uint8Array): Uint8Array {
  return sodium.crypto_sign_ed25519_sk_to_pk(checkSecretKey(secretKey));
}

/** A 64-byte Ed25519 signature of `message`; deterministic for one key and message. */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return sodium.crypto_sign_detached(message, checkSecretKey(secretKey));
}

/** True when `signature` is `publicKey`'s signature of `message`; false (never throws) otherwise. */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}
