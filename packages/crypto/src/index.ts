/**
 * The primitives mixlab uses, behind one small module so that the choice of
 * implementation (libsodium WASM today) is made in exactly one place.
 *
 * Call `cryptoReady()` once at start-up before any other function.
 */
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

export function randomBytes(length: number): Uint8Array {
  return sodium.randombytes_buf(length);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses lowercase or uppercase hex; returns null for anything else. */
export function fromHex(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
