/**
 * The primitives mixlab uses, behind one small module so that the choice of implementation is
 * made in exactly one place, at start-up: `cryptoReady()` loads native libsodium (sodium-native,
 * native.ts) and falls back to libsodium's WebAssembly build with node:crypto's X25519 (wasm.ts)
 * when that does not load; `cryptoBackend()` names the one in use. Both give the same bytes (the
 * Sphinx test vectors run on each). Native X25519 needs no key objects (a scalar or a point is
 * its 32 bytes, so a Sphinx blinding is one crypto_scalarmult) and the symmetric rest of a hop
 * costs a few microseconds: on the bench (README) a Sphinx hop runs 2.5x, an onion peel 3.1x
 * and a wrap 3.3x faster than on wasm (5.2x with merged blinding scalars, x25519-merge.ts).
 *
 * Call `cryptoReady()` once at start-up before any other function; tests and benchmarks can pin
 * a backend with `useCryptoBackend`.
 */
import { randomFillSync } from 'node:crypto';
import type {
  CryptoBackend,
  CryptoBackendName,
  KeyPair,
  SigningKeyPair,
  X25519Point,
  X25519Scalar,
} from './backend.ts';

export type { CryptoBackendName, KeyPair, SigningKeyPair, X25519Point, X25519Scalar } from './backend.ts';

export const X25519_KEY_BYTES = 32;
/** Overhead of an anonymous sealed box: ephemeral public key + Poly1305 tag. */
export const SEAL_OVERHEAD_BYTES = 48;

/** Every backend, fastest first: tests run the packet formats on each. */
export const CRYPTO_BACKENDS: readonly CryptoBackendName[] = ['native', 'wasm'];

let active: CryptoBackend | undefined;

function backend(): CryptoBackend {
  if (!active) throw new Error('@mixlab/crypto: await cryptoReady() before using it');
  return active;
}

const loaded = new Map<CryptoBackendName, CryptoBackend>();

async function load(name: CryptoBackendName): Promise<CryptoBackend> {
  let found = loaded.get(name);
  if (!found) {
    found =
      name === 'native' ? (await import('./native.ts')).loadNative() : await (await import('./wasm.ts')).loadWasm();
    loaded.set(name, found);
  }
  return found;
}

/** Chooses the backend (native libsodium when it loads here, else WebAssembly); idempotent. */
export async function cryptoReady(): Promise<void> {
  if (active) return;
  try {
    active = await load('native');
  } catch {
    active = await load('wasm');
  }
}

/** The backend in use: 'native' (sodium-native) or 'wasm' (libsodium-wrappers-sumo, node:crypto X25519). */
export function cryptoBackend(): CryptoBackendName {
  return backend().name;
}

/** Switches to `name` (for tests and benchmarks); rejects when it cannot load here. */
export async function useCryptoBackend(name: CryptoBackendName): Promise<void> {
  active = await load(name);
}

/** Runs `fn` on backend `name`, then restores the one in use: for benchmarks that interleave both. */
export function withCryptoBackend<T>(name: CryptoBackendName, fn: () => T): T {
  const chosen = loaded.get(name);
  if (!chosen) throw new Error(`@mixlab/crypto: await useCryptoBackend('${name}') before withCryptoBackend`);
  const previous = active;
  active = chosen;
  try {
    return fn();
  } finally {
    active = previous;
  }
}

/** A fresh X25519 key pair for sealed boxes. */
export function generateKeyPair(): KeyPair {
  return backend().boxKeyPair();
}

/** Recomputes the public key that belongs to an X25519 private key. */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  return backend().x25519Base(privateKey);
}

/** Anonymous public-key encryption (X25519 + XSalsa20-Poly1305). */
export function seal(message: Uint8Array, recipientPublicKey: Uint8Array): Uint8Array {
  return backend().seal(message, recipientPublicKey);
}

/** Opens a sealed box; returns null when the box was not sealed to this key or was altered. */
export function openSealed(box: Uint8Array, keys: KeyPair): Uint8Array | null {
  if (box.length < SEAL_OVERHEAD_BYTES) return null;
  return backend().openSealed(box, keys);
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

/** `bytes` prepared for several X25519 multiplications (no work on native; a key import on wasm). */
export function x25519Scalar(bytes: Uint8Array): X25519Scalar {
  return backend().x25519Scalar(bytes);
}

/** A long-term private key (a node's) prepared once per array and backend, then remembered. */
export function x25519KeyScalar(privateKey: Uint8Array): X25519Scalar {
  return backend().x25519KeyScalar(privateKey);
}

/** `bytes` (a u-coordinate) prepared for several X25519 multiplications. */
export function x25519Point(bytes: Uint8Array): X25519Point {
  return backend().x25519Point(bytes);
}

/**
 * X25519 (RFC 7748: the scalar is clamped) of raw or prepared values, as the Sphinx blinding
 * needs it; throws when the result is all zeros (a low-order point).
 */
export function x25519(scalar: X25519Scalar | Uint8Array, point: X25519Point | Uint8Array): Uint8Array {
  return backend().x25519(scalar, point);
}

export { mergeX25519Scalars } from './x25519-merge.ts';

/** The public point of a scalar (X25519 with the base point). */
export function x25519Base(scalar: Uint8Array): Uint8Array {
  return backend().x25519Base(scalar);
}

export const CHACHA20_KEY_BYTES = 32;
export const CHACHA20_IETF_NONCE_BYTES = 12;
const ZERO_NONCE = new Uint8Array(CHACHA20_IETF_NONCE_BYTES);

/** `message` XOR the ChaCha20 (IETF, RFC 8439) key stream for `key`, `nonce` (default zeros), block counter 0. */
export function chacha20Xor(message: Uint8Array, key: Uint8Array, nonce: Uint8Array = ZERO_NONCE): Uint8Array {
  const out = new Uint8Array(message.length);
  backend().chacha20XorInto(out, message, key, nonce);
  return out;
}

/** chacha20Xor written into `out` (message.length bytes; may be `message` itself). */
export function chacha20XorInto(
  out: Uint8Array,
  message: Uint8Array,
  key: Uint8Array,
  nonce: Uint8Array = ZERO_NONCE,
): void {
  backend().chacha20XorInto(out, message, key, nonce);
}

/** BLAKE2b with an output of 1..64 bytes; keyed (a MAC/PRF) when `key` (16..64 bytes) is given. */
export function blake2b(outputBytes: number, message: Uint8Array, key?: Uint8Array): Uint8Array {
  const out = new Uint8Array(outputBytes);
  backend().blake2bInto(out, message, key);
  return out;
}

/** blake2b with `out.length` bytes of output written into `out`. */
export function blake2bInto(out: Uint8Array, message: Uint8Array, key?: Uint8Array): void {
  backend().blake2bInto(out, message, key);
}

/**
 * libsodium's crypto_kdf: BLAKE2b(key = masterKey (32 bytes), message = empty,
 * salt = subkeyId (u64 LE) | 8 zeros, personal = context (8 ASCII bytes) | 8 zeros), 16..64 bytes.
 */
export function kdf(outputBytes: number, subkeyId: number, context: string, masterKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(outputBytes);
  backend().kdfInto(out, subkeyId, context, masterKey);
  return out;
}

/** kdf with `out.length` bytes of output written into `out`. */
export function kdfInto(out: Uint8Array, subkeyId: number, context: string, masterKey: Uint8Array): void {
  backend().kdfInto(out, subkeyId, context, masterKey);
}

/** Compares two byte strings of equal length in constant time; false when lengths differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && backend().memEqual(a, b);
}

// ---------------------------------------------------------------------------
// Ed25519 signatures (RFC 8032, pure Ed25519) for node identities and the directory.

export const ED25519_PUBLIC_KEY_BYTES = 32;
/** libsodium's secret key: the 32-byte seed followed by the 32-byte public key. */
export const ED25519_SECRET_KEY_BYTES = 64;
export const ED25519_SEED_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** A fresh Ed25519 key pair. */
export function generateSigningKeyPair(): SigningKeyPair {
  return backend().signKeyPair();
}

/** The Ed25519 key pair of a 32-byte seed: keep only the seed on disk, or pin test vectors. */
export function signingKeyPairFromSeed(seed: Uint8Array): SigningKeyPair {
  if (seed.length !== ED25519_SEED_BYTES) throw new RangeError(`an Ed25519 seed is ${ED25519_SEED_BYTES} bytes`);
  return backend().signKeyPair(seed);
}

function checkSecretKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== ED25519_SECRET_KEY_BYTES) {
    throw new RangeError(`an Ed25519 secret key is ${ED25519_SECRET_KEY_BYTES} bytes`);
  }
  return secretKey;
}

/** The public key inside a 64-byte Ed25519 secret key. */
export function signingPublicKeyOf(secretKey: Uint8Array): Uint8Array {
  return backend().signPublicKeyOf(checkSecretKey(secretKey));
}

/** A 64-byte Ed25519 signature of `message`; deterministic for one key and message. */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return backend().signDetached(message, checkSecretKey(secretKey));
}

/** True when `signature` is `publicKey`'s signature of `message`; false (never throws) otherwise. */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  return backend().verifyDetached(signature, message, publicKey);
}

// ---------------------------------------------------------------------------
// Boxes between two identities (links between services): each Ed25519 identity as an X25519
// key, one shared key per pair of peers (crypto_box_beforenm), then XSalsa20-Poly1305 with it.

export const BOX_SHARED_KEY_BYTES = 32;
export const BOX_NONCE_BYTES = 24;
export const BOX_MAC_BYTES = 16;

/** The X25519 public key of an Ed25519 identity key; throws when the key is not a valid point. */
export function signPublicKeyToX25519(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) throw new RangeError('an Ed25519 public key is 32 bytes');
  return backend().signPublicKeyToX25519(publicKey);
}

/** The X25519 private key of a 64-byte Ed25519 secret key. */
export function signSecretKeyToX25519(secretKey: Uint8Array): Uint8Array {
  return backend().signSecretKeyToX25519(checkSecretKey(secretKey));
}

/** The key `privateKey`'s owner shares with `publicKey`'s (both X25519); throws for a low-order point. */
export function boxSharedKey(publicKey: Uint8Array, privateKey: Uint8Array): Uint8Array {
  if (publicKey.length !== X25519_KEY_BYTES || privateKey.length !== X25519_KEY_BYTES) {
    throw new RangeError(`X25519 keys are ${X25519_KEY_BYTES} bytes`);
  }
  return backend().boxBeforeNm(publicKey, privateKey);
}

/** crypto_box_easy_afternm: `message` boxed with a shared key and a 24-byte nonce never used with it before. */
export function boxWithSharedKey(message: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array {
  return backend().boxAfterNm(message, nonce, sharedKey);
}

/** Opens what boxWithSharedKey made; null when it was made with another key or nonce, or altered. */
export function openBoxWithSharedKey(box: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array | null {
  if (box.length < BOX_MAC_BYTES || nonce.length !== BOX_NONCE_BYTES || sharedKey.length !== BOX_SHARED_KEY_BYTES) {
    return null;
  }
  return backend().openBoxAfterNm(box, nonce, sharedKey);
}
