import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  cryptoReady,
  generateSigningKeyPair,
  type SigningKeyPair,
  signingKeyPairFromSeed,
  toHex,
} from '@mixlab/crypto';
import {
  compareToStored,
  type DescriptorVerificationOptions,
  descriptorSigningBytes,
  mixingKeyFor,
  type SignedNodeDescriptor,
  signDescriptor,
  type UnsignedNodeDescriptor,
  verifyDescriptor,
} from './descriptor-signing.ts';
import { flipFirstBit, key, nodeVerify, text, u32, u64 } from './signing-test-support.ts';

const NOW = 1_800_000_000_000;
const KEY_7 = 'a7'.repeat(32);
const KEY_8 = 'a8'.repeat(32);
let identity: SigningKeyPair;
let other: SigningKeyPair;

before(async () => {
  await cryptoReady();
  identity = signingKeyPairFromSeed(new Uint8Array(32).fill(0x11));
  other = generateSigningKeyPair();
});

function unsigned(overrides: Partial<UnsignedNodeDescriptor> = {}): UnsignedNodeDescriptor {
  return {
    id: 'mix-1',
    layer: 1,
    url: 'http://mix-1:8080',
    identityKey: toHex(identity.publicKey),
    mixingKeys: [
      { epoch: 7, publicKey: KEY_7 },
      { epoch: 8, publicKey: KEY_8 },
    ],
    issuedAt: NOW,
    ...overrides,
  };
}

const options: DescriptorVerificationOptions = { nowMs: NOW, maxSkewMs: 30_000, layerCount: 3 };

function signed(overrides: Partial<UnsignedNodeDescriptor> = {}): SignedNodeDescriptor {
  return signDescriptor(unsigned(overrides), identity.secretKey);
}

function rejection(verdict: ReturnType<typeof verifyDescriptor>): [string, string] {
  assert.equal(verdict.ok, false, 'expected a rejection');
  return verdict.ok ? ['', ''] : [verdict.reason, verdict.problem];
}

describe('descriptor canonical encoding', () => {
  it('lays out the fields as the specification says', () => {
    const d = unsigned();
    const expected = Buffer.concat([
      text('mixlab-descriptor-v1'),
      text('mix-1'),
      u32(1),
      text('http://mix-1:8080'),
      key(d.identityKey),
      u32(2),
      u64(7),
      key(KEY_7),
      u64(8),
      key(KEY_8),
      u64(NOW),
    ]);
    assert.deepEqual(Buffer.from(descriptorSigningBytes(d)), expected);
  });

  it('appends the strategy after issuedAt only when the descriptor has one (older ones sign the same bytes)', () => {
    const without = Buffer.from(descriptorSigningBytes(unsigned()));
    const strategy = 'threshold:n=3,maxWait=1000ms';
    assert.deepEqual(
      Buffer.from(descriptorSigningBytes(unsigned({ strategy }))),
      Buffer.concat([without, text(strategy)]),
    );
    const verdict = verifyDescriptor(JSON.parse(JSON.stringify(signed({ strategy }))), options);
    assert.equal(verdict.ok && verdict.descriptor.strategy, strategy);
    const altered = { ...signed({ strategy }), strategy: 'threshold:n=1' };
    assert.equal(rejection(verifyDescriptor(altered, options))[0], 'forged');
    assert.equal(rejection(verifyDescriptor({ ...signed(), strategy: 'timed:t=1ms' }, options))[0], 'forged');
    assert.throws(() => signed({ strategy: 'x'.repeat(201) }), /strategy must be at most 200 bytes/);
  });

  it('encodes text as UTF-8 with a byte-length prefix', () => {
    const bytes = Buffer.from(descriptorSigningBytes(unsigned({ url: 'http://mïx:1' })));
    assert.deepEqual(bytes.subarray(37, 37 + 4 + 13), text('http://mïx:1'));
    assert.equal(text('http://mïx:1').readUInt32BE(0), 13);
  });

  it('is stable: fixed fields and a fixed identity seed give this signature (test vector)', () => {
    assert.equal(toHex(identity.publicKey), 'd04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737');
    const signature =
      'd7f77a976cc3437c544f4c1d297dd5d341571504694cca80f2495ed6f0b226837b94173a6693eec2f0ed52eaa81dbbbc15b4fa40d02adab7d73f4be1c683a606';
    assert.equal(signed().signature, signature);
    // Another Ed25519 implementation (OpenSSL) accepts it over the bytes of the specification.
    assert.ok(nodeVerify(descriptorSigningBytes(unsigned()), signature, toHex(identity.publicKey)));
  });

  it('refuses to encode what has no canonical form', () => {
    assert.throws(() => descriptorSigningBytes(unsigned({ id: 'bad\ud800' })), { name: 'TypeError' });
    assert.throws(() => descriptorSigningBytes(unsigned({ issuedAt: -1 })), { name: 'TypeError' });
    assert.throws(() => descriptorSigningBytes(unsigned({ identityKey: KEY_7.toUpperCase() })), { name: 'TypeError' });
  });
});

describe('signDescriptor and verifyDescriptor', () => {
  it('round-trips, also through JSON, returning only the signed fields', () => {
    const descriptor = signed();
    assert.match(descriptor.signature, /^[0-9a-f]{128}$/);
    assert.deepEqual(verifyDescriptor(descriptor, options), { ok: true, descriptor });
    const parsed = JSON.parse(JSON.stringify({ ...descriptor, note: 'not signed' }));
    const verdict = verifyDescriptor(parsed, options);
    assert.deepEqual(verdict, { ok: true, descriptor });
  });

  it('accepts a single mixing key', () => {
    const descriptor = signed({ mixingKeys: [{ epoch: 7, publicKey: KEY_7 }] });
    assert.equal(verifyDescriptor(descriptor, options).ok, true);
  });

  it('refuses to sign with a key other than the descriptor identity', () => {
    assert.throws(() => signDescriptor(unsigned(), other.secretKey), {
      message: `the secret key belongs to identity ${toHex(other.publicKey)}, but the descriptor names ${toHex(identity.publicKey)}`,
    });
  });

  it('reports every altered field as forged', () => {
    const tampers: [string, (d: SignedNodeDescriptor) => SignedNodeDescriptor][] = [
      ['id', (d) => ({ ...d, id: 'mix-2' })],
      ['layer', (d) => ({ ...d, layer: 2 })],
      ['url', (d) => ({ ...d, url: 'http://evil:8080' })],
      ['identityKey', (d) => ({ ...d, identityKey: toHex(other.publicKey) })],
      ['mixing epoch', (d) => ({ ...d, mixingKeys: [{ epoch: 6, publicKey: KEY_7 }, d.mixingKeys[1]!] })],
      ['mixing key', (d) => ({ ...d, mixingKeys: [{ epoch: 7, publicKey: 'b7'.repeat(32) }, d.mixingKeys[1]!] })],
      ['a mixing key dropped', (d) => ({ ...d, mixingKeys: [d.mixingKeys[0]!] })],
      ['issuedAt', (d) => ({ ...d, issuedAt: d.issuedAt + 1 })],
      ['signature', (d) => ({ ...d, signature: flipFirstBit(d.signature) })],
    ];
    for (const [field, tamper] of tampers) {
      const [reason, problem] = rejection(verifyDescriptor(tamper(signed()), options));
      assert.equal(reason, 'forged', field);
      assert.match(
        problem,
        /does not verify under its identityKey .*: the descriptor was altered or signed with another key$/,
      );
    }
  });

  it('reports a descriptor signed by another identity that claims this identity key as forged', () => {
    const byOther = signDescriptor(unsigned({ identityKey: toHex(other.publicKey) }), other.secretKey);
    const [reason] = rejection(verifyDescriptor({ ...byOther, identityKey: toHex(identity.publicKey) }, options));
    assert.equal(reason, 'forged');
  });

  it('reports a missing, null or empty signature as unsigned', () => {
    const { signature: _, ...bare } = signed();
    for (const descriptor of [bare, { ...bare, signature: null }, { ...bare, signature: '' }]) {
      assert.deepEqual(verifyDescriptor(descriptor, options), {
        ok: false,
        reason: 'unsigned',
        problem: "descriptor has no signature: sign it with the node's identity key",
      });
    }
  });

  it('reports structural problems as malformed, naming each', () => {
    const good = signed();
    const cases: [unknown, string][] = [
      [null, 'descriptor must be an object'],
      ['mix-1', 'descriptor must be an object'],
      [[], 'descriptor must be an object'],
      [{ ...good, signature: good.signature.toUpperCase() }, 'signature must be 64 bytes as 128 lowercase hex'],
      [{ ...good, signature: good.signature.slice(2) }, 'signature must be 64 bytes as 128 lowercase hex'],
      [{ ...good, layer: '1' }, 'layer must be an integer from 0 to 4294967295, got 1'],
      [{ ...good, issuedAt: 1.5 }, 'issuedAt must be an integer from 0 to 9007199254740991, got 1.5'],
      [{ ...good, identityKey: 'zz' }, 'identityKey must be 32 bytes as 64 lowercase hex characters'],
      [{ ...good, mixingKeys: [] }, 'mixingKeys must be a list of 1 to 2 keys (current and next epoch)'],
      [
        { ...good, mixingKeys: [...good.mixingKeys, { epoch: 9, publicKey: KEY_8 }] },
        'mixingKeys must be a list of 1 to 2 keys',
      ],
      [
        { ...good, mixingKeys: [good.mixingKeys[1], good.mixingKeys[0]] },
        'epochs must be strictly ascending, got 8 then 7',
      ],
      [
        { ...good, mixingKeys: [good.mixingKeys[0], good.mixingKeys[0]] },
        'epochs must be strictly ascending, got 7 then 7',
      ],
      [
        { ...good, mixingKeys: [{ epoch: 7, publicKey: KEY_7.toUpperCase() }] },
        'mixingKeys[0].publicKey must be 32 bytes',
      ],
      [{ ...good, mixingKeys: [7] }, 'mixingKeys[0] must be an object { epoch, publicKey }'],
    ];
    for (const [descriptor, expected] of cases) {
      const [reason, problem] = rejection(verifyDescriptor(descriptor, options));
      assert.equal(reason, 'malformed', expected);
      assert.ok(problem.startsWith('descriptor is malformed: '), problem);
      assert.ok(problem.includes(expected), `${problem} should include ${expected}`);
    }
  });

  it('reports a validly signed descriptor that breaks the network rules as malformed, through descriptorProblems', () => {
    const cases: [Partial<UnsignedNodeDescriptor>, string][] = [
      [{ layer: 4 }, 'layer must be an integer from 1 to 3, got 4'],
      [{ layer: 0 }, 'layer must be an integer from 1 to 3, got 0'],
      [{ id: 'has space' }, 'id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'],
      [{ url: 'ftp://mix-1/' }, 'url must be http or https, got ftp:'],
    ];
    for (const [overrides, expected] of cases) {
      const descriptor = signed(overrides);
      assert.deepEqual(verifyDescriptor(descriptor, options), {
        ok: false,
        reason: 'malformed',
        problem: `descriptor of node ${descriptor.id} is malformed: ${expected}`,
      });
    }
  });

  it('accepts issuedAt within maxSkewMs either way, exactly to the boundary, and reports beyond it as stale', () => {
    const skew = options.maxSkewMs;
    assert.equal(verifyDescriptor(signed({ issuedAt: NOW - skew }), options).ok, true);
    assert.equal(verifyDescriptor(signed({ issuedAt: NOW + skew }), options).ok, true);
    assert.deepEqual(verifyDescriptor(signed({ issuedAt: NOW - skew - 1 }), options), {
      ok: false,
      reason: 'stale',
      problem:
        'descriptor of node mix-1 was issued 30001 ms ago (allowed 30000 ms): re-sign it with a fresh issuedAt, or check its clock',
    });
    assert.deepEqual(verifyDescriptor(signed({ issuedAt: NOW + skew + 1 }), options), {
      ok: false,
      reason: 'stale',
      problem: 'descriptor of node mix-1 was issued 30001 ms in the future (allowed skew 30000 ms): check its clock',
    });
  });

  it('with an epoch, reports a descriptor without a key for it as stale', () => {
    assert.equal(verifyDescriptor(signed(), { ...options, epoch: 7 }).ok, true);
    assert.equal(verifyDescriptor(signed(), { ...options, epoch: 8 }).ok, true);
    assert.deepEqual(verifyDescriptor(signed(), { ...options, epoch: 9 }), {
      ok: false,
      reason: 'stale',
      problem:
        "descriptor of node mix-1 has mixing keys for epochs 7, 8 but none for the current epoch 9: publish the current and next epochs' keys",
    });
  });

  it('checks the signature before freshness, so an altered old descriptor is forged, not stale', () => {
    const old = signed({ issuedAt: NOW - 10 * 60_000 });
    assert.equal(rejection(verifyDescriptor({ ...old, url: 'http://evil:1' }, options))[0], 'forged');
    assert.equal(rejection(verifyDescriptor(old, options))[0], 'stale');
  });
});

describe('compareToStored', () => {
  it('calls a descriptor issued strictly later by the same identity newer', () => {
    assert.equal(compareToStored(unsigned(), unsigned({ issuedAt: NOW + 1 })), 'newer');
    assert.equal(compareToStored(unsigned(), unsigned({ issuedAt: NOW + 1, layer: 2, url: 'http://x:1' })), 'newer');
  });

  it('calls a descriptor issued at the same time or earlier replayed', () => {
    assert.equal(compareToStored(unsigned(), unsigned()), 'replayed');
    assert.equal(compareToStored(unsigned(), unsigned({ issuedAt: NOW - 1 })), 'replayed');
  });

  it('calls a descriptor with another identity key conflicting, whenever it was issued', () => {
    const otherKey = 'cd'.repeat(32);
    assert.equal(compareToStored(unsigned(), unsigned({ identityKey: otherKey, issuedAt: NOW + 1 })), 'conflicting');
    assert.equal(compareToStored(unsigned(), unsigned({ identityKey: otherKey, issuedAt: NOW - 1 })), 'conflicting');
  });

  it('refuses to compare descriptors of two node ids', () => {
    assert.throws(() => compareToStored(unsigned(), unsigned({ id: 'mix-2' })), {
      message: 'compareToStored needs one id, got mix-1 and mix-2',
    });
  });
});

describe('mixingKeyFor', () => {
  it('finds the key for an epoch, or undefined', () => {
    assert.equal(mixingKeyFor(unsigned(), 7), KEY_7);
    assert.equal(mixingKeyFor(unsigned(), 8), KEY_8);
    assert.equal(mixingKeyFor(unsigned(), 9), undefined);
  });
});
