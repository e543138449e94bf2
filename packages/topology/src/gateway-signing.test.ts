import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair, type SigningKeyPair, toHex } from '@mixlab/crypto';
import {
  gatewayDescriptorSigningBytes,
  signGatewayDescriptor,
  type UnsignedGatewayDescriptor,
  verifyGatewayDescriptor,
} from './gateway-signing.ts';
import { key, nodeVerify, text, u64 } from './signing-test-support.ts';

const NOW = 1_800_000_000_000;
const OPTIONS = { nowMs: NOW, maxSkewMs: 30_000 };
let identity: SigningKeyPair;
let other: SigningKeyPair;

before(async () => {
  await cryptoReady();
  identity = generateSigningKeyPair();
  other = generateSigningKeyPair();
});

function unsigned(overrides: Partial<UnsignedGatewayDescriptor> = {}): UnsignedGatewayDescriptor {
  return {
    id: 'gateway-1',
    url: 'http://client-gateway:8081',
    identityKey: toHex(identity.publicKey),
    issuedAt: NOW,
    ...overrides,
  };
}

const reason = (value: unknown) => {
  const verdict = verifyGatewayDescriptor(value, OPTIONS);
  return verdict.ok ? 'ok' : verdict.reason;
};

describe('signed gateway descriptors', () => {
  it('lays out the signed bytes as the specification says, and OpenSSL verifies the signature', () => {
    const descriptor = unsigned();
    assert.deepEqual(
      Buffer.from(gatewayDescriptorSigningBytes(descriptor)),
      Buffer.concat([
        text('mixlab-gateway-descriptor-v1'),
        text('gateway-1'),
        text('http://client-gateway:8081'),
        key(descriptor.identityKey),
        u64(NOW),
      ]),
    );
    const signed = signGatewayDescriptor(descriptor, identity.secretKey);
    assert.ok(nodeVerify(gatewayDescriptorSigningBytes(descriptor), signed.signature, descriptor.identityKey));
  });

  it('accepts a signed descriptor, returning only the signed fields', () => {
    const signed = signGatewayDescriptor(unsigned(), identity.secretKey);
    const verdict = verifyGatewayDescriptor({ ...signed, extra: 1 }, OPTIONS);
    assert.ok(verdict.ok);
    assert.deepEqual(verdict.descriptor, signed);
  });

  it('refuses unsigned, altered, foreign-signed, malformed and stale descriptors with their reasons', () => {
    const signed = signGatewayDescriptor(unsigned(), identity.secretKey);
    assert.equal(reason({ id: 'gateway-1', url: 'http://evil:8081' }), 'unsigned');
    assert.equal(reason({ ...signed, signature: '' }), 'unsigned');
    assert.equal(reason({ ...signed, url: 'http://evil:8081' }), 'forged');
    assert.equal(reason({ ...signed, identityKey: toHex(other.publicKey) }), 'forged');
    assert.equal(reason({ ...signed, signature: 'zz' }), 'malformed');
    assert.equal(reason(signGatewayDescriptor(unsigned({ url: 'ftp://gw' }), identity.secretKey)), 'malformed');
    assert.equal(reason(signGatewayDescriptor(unsigned({ id: 'x'.repeat(31) }), identity.secretKey)), 'malformed');
    assert.equal(reason(signGatewayDescriptor(unsigned({ issuedAt: NOW - 30_001 }), identity.secretKey)), 'stale');
    assert.equal(reason(signGatewayDescriptor(unsigned({ issuedAt: NOW + 30_001 }), identity.secretKey)), 'stale');
    assert.equal(reason(signGatewayDescriptor(unsigned({ issuedAt: NOW + 30_000 }), identity.secretKey)), 'ok');
  });

  it('refuses to sign with a key that is not the descriptor identity key', () => {
    assert.throws(() => signGatewayDescriptor(unsigned(), other.secretKey), /belongs to identity/);
  });
});
