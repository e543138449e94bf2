/**
 * LIONESS (Anderson & Biham 1996), the wide-block cipher for the Sphinx payload:
 * changing any ciphertext bit scrambles the whole plaintext, so a tagged payload
 * fails the exit's zero-prefix check instead of carrying a mark through the mix.
 *
 * Block = L (32 bytes) | R (the rest). Key = K1 | K2 | K3 | K4, 32 bytes each.
 * S(k) = ChaCha20-IETF key stream (key k, nonce zeros, counter 0); H(k, m) = BLAKE2b-256 keyed with k.
 *   encrypt: R ^= S(L ^ K1); L ^= H(K2, R); R ^= S(L ^ K3); L ^= H(K4, R)
 *   decrypt: the same four rounds in reverse order.
 */
import { blake2bInto, chacha20XorInto } from '@mixlab/crypto';
import { LIONESS_LEFT_BYTES } from './geometry.ts';

export const LIONESS_KEY_BYTES = 4 * LIONESS_LEFT_BYTES;

function xorInto(target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) ^ (source[i] as number);
}

// Scratch for one round's stream key or hash (JavaScript runs one round at a time per thread).
const roundKey = new Uint8Array(LIONESS_LEFT_BYTES);
const roundHash = new Uint8Array(LIONESS_LEFT_BYTES);

function check(key: Uint8Array, block: Uint8Array): void {
  if (key.length !== LIONESS_KEY_BYTES) throw new RangeError(`LIONESS key must be ${LIONESS_KEY_BYTES} bytes`);
  if (block.length <= LIONESS_LEFT_BYTES) throw new RangeError(`LIONESS block must exceed ${LIONESS_LEFT_BYTES} bytes`);
}

/** Stream round: R ^= S(L ^ k), in place. */
function streamRound(left: Uint8Array, right: Uint8Array, subkey: Uint8Array): void {
  for (let i = 0; i < LIONESS_LEFT_BYTES; i++) roundKey[i] = (left[i] as number) ^ (subkey[i] as number);
  chacha20XorInto(right, right, roundKey);
}

/** Hash round: L ^= H(k, R). */
function hashRound(left: Uint8Array, right: Uint8Array, subkey: Uint8Array): void {
  blake2bInto(roundHash, right, subkey);
  xorInto(left, roundHash);
}

function subkeys(key: Uint8Array): [Uint8Array, Uint8Array, Uint8Array, Uint8Array] {
  const n = LIONESS_LEFT_BYTES;
  return [key.subarray(0, n), key.subarray(n, 2 * n), key.subarray(2 * n, 3 * n), key.subarray(3 * n, 4 * n)];
}

/** Encrypts `block` into `out` (same length; may be `block` itself). */
export function lionessEncrypt(
  key: Uint8Array,
  block: Uint8Array,
  out: Uint8Array = new Uint8Array(block.length),
): Uint8Array {
  check(key, block);
  const [k1, k2, k3, k4] = subkeys(key);
  if (out !== block) out.set(block);
  const left = out.subarray(0, LIONESS_LEFT_BYTES);
  const right = out.subarray(LIONESS_LEFT_BYTES);
  streamRound(left, right, k1);
  hashRound(left, right, k2);
  streamRound(left, right, k3);
  hashRound(left, right, k4);
  return out;
}

/** Decrypts `block` into `out` (same length; may be `block` itself). */
export function lionessDecrypt(
  key: Uint8Array,
  block: Uint8Array,
  out: Uint8Array = new Uint8Array(block.length),
): Uint8Array {
  check(key, block);
  const [k1, k2, k3, k4] = subkeys(key);
  if (out !== block) out.set(block);
  const left = out.subarray(0, LIONESS_LEFT_BYTES);
  const right = out.subarray(LIONESS_LEFT_BYTES);
  hashRound(left, right, k4);
  streamRound(left, right, k3);
  hashRound(left, right, k2);
  streamRound(left, right, k1);
  return out;
}
