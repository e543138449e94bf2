/**
 * Two X25519 scalars merged into one, so a sender multiplies once where the hops multiply in
 * turn (Sphinx blinding: x, then b_0, b_1, ...). Curve25519's group is cyclic of order 8ℓ and
 * X25519 returns u-coordinates, which are the same for Q and -Q; so X25519(k, P) equals
 * X25519(b, X25519(a, P)) for every P on the curve when k ≡ ±clamp(a)·clamp(b) (mod 8ℓ) and k
 * is clamped (a multiple of 8 in [2^254, 2^255)). Such a k is the multiple of 8 that is ≡ r or
 * ≡ -r (mod ℓ), r = clamp(a)·clamp(b) mod ℓ: one of the two lies in the range except with
 * probability about 2^-125. Plain BigInt arithmetic, the same on every backend.
 */

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const EIGHT_L = 8n * L;
/** 8^-1 mod ℓ. */
const INVERSE_OF_8 = modPow(8n, L - 2n, L);
const LOW = 2n ** 254n;
const HIGH = 2n ** 255n;

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** The 32 little-endian bytes of `scalar`, clamped as X25519 clamps them. */
function clamped(scalar: Uint8Array): bigint {
  if (scalar.length !== 32) throw new RangeError('an X25519 scalar is 32 bytes');
  let value = 0n;
  for (let i = 31; i >= 0; i--) value = (value << 8n) | BigInt(scalar[i] as number);
  return (value & ~7n & (HIGH - 1n)) | LOW;
}

function toBytes(value: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let rest = value;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

/**
 * A clamped scalar k with X25519(k, P) = X25519(b, X25519(a, P)) for every point P of the curve
 * (not of its twist), base point included; undefined in the ~2^-125-rare case that none is
 * representable, when the caller multiplies in turn.
 */
export function mergeX25519Scalars(a: Uint8Array, b: Uint8Array): Uint8Array | undefined {
  const r = (clamped(a) * clamped(b)) % L;
  const k = 8n * ((r * INVERSE_OF_8) % L); // ≡ r (mod ℓ), ≡ 0 (mod 8), in [0, 8ℓ)
  if (k >= LOW && k < HIGH) return toBytes(k);
  const negated = EIGHT_L - k; // ≡ -r (mod ℓ), ≡ 0 (mod 8)
  if (negated >= LOW && negated < HIGH) return toBytes(negated);
  return undefined;
}
