import { createPublicKey, verify } from 'node:crypto';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Ed25519 verification by OpenSSL (node:crypto), to check libsodium's signatures independently. */
export function nodeVerify(message: Uint8Array, signatureHex: string, publicKeyHex: string): boolean {
  const key = createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]),
    format: 'der',
    type: 'spki',
  });
  return verify(null, message, key, Buffer.from(signatureHex, 'hex'));
}

// The canonical layout of docs/directory.md written out by hand, independent of the encoder.
export const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
export const u64 = (n: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(n));
  return bytes;
};
export const text = (s: string) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]);
export const key = (hex: string) => Buffer.from(hex, 'hex');

/** `hex` with the lowest bit of its first byte flipped: a signature that no longer verifies. */
export function flipFirstBit(hex: string): string {
  return (Number.parseInt(hex.slice(0, 2), 16) ^ 1).toString(16).padStart(2, '0') + hex.slice(2);
}
