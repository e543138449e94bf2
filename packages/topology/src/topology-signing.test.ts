import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  cryptoReady,
  fromHex,
  generateSigningKeyPair,
  type SigningKeyPair,
  signDetached,
  signingKeyPairFromSeed,
  toHex,
  verifyDetached,
} from '@mixlab/crypto';
import { scriptedRandom } from '@mixlab/runtime';
import { signDescriptor } from './descriptor-signing.ts';
import { epochEnd, epochStart } from './epoch.ts';
import { pickRoute } from './route.ts';
import { flipFirstBit, key, nodeVerify, text, u32, u64 } from './signing-test-support.ts';
import {
  type SignedTopology,
  signTopology,
  type TopologyDocument,
  type TopologyNode,
  type TopologyRejection,
  type TopologyVerdict,
  topologyNodeFor,
  topologySigningBytes,
  toTopology,
  verifyTopology,
} from './topology-signing.ts';
import type { Rejection } from './verdict.ts';

const FROM = 1_800_000_000_000;
const UNTIL = FROM + 600_000;
let directory: SigningKeyPair;
let impostor: SigningKeyPair;
let pinned: string;

before(async () => {
  await cryptoReady();
  directory = signingKeyPairFromSeed(new Uint8Array(32).fill(0x22));
  impostor = generateSigningKeyPair();
  pinned = toHex(directory.publicKey);
});

function node(layer: number, id: string, withNext = true): TopologyNode {
  const base = {
    id,
    layer,
    url: `http://${id}:8080`,
    identityKey: `${layer}${id.length}`.padEnd(64, 'e'),
    publicKey: `${layer}a`.repeat(32),
  };
  return withNext ? { ...base, nextPublicKey: `${layer}b`.repeat(32) } : base;
}

function documentWith(overrides: Partial<TopologyDocument> = {}): TopologyDocument {
  return {
    version: 1,
    epoch: 42,
    validFrom: FROM,
    validUntil: UNTIL,
    layers: [[node(1, 'a1'), node(1, 'a2', false)], [node(2, 'b1')], [node(3, 'c1')]],
    gateways: [{ id: 'gw-1', url: 'http://gw-1:8080', identityKey: '9'.repeat(64) }],
    ...overrides,
  };
}

function sign(document: TopologyDocument = documentWith()): SignedTopology {
  return signTopology(document, directory.secretKey);
}

function verify(signed: unknown, nowMs = FROM, maxSkewMs?: number): TopologyVerdict {
  return verifyTopology(signed, {
    pinnedDirectoryKey: pinned,
    nowMs,
    ...(maxSkewMs === undefined ? {} : { maxSkewMs }),
  });
}

/** The document of an accepted topology; fails the test on a rejection. */
function accepted(signed: unknown, nowMs = FROM, maxSkewMs?: number): TopologyDocument {
  const verdict = verify(signed, nowMs, maxSkewMs);
  if (!verdict.ok) assert.fail(`expected the topology to be accepted, got ${verdict.reason}: ${verdict.problem}`);
  return verdict.document;
}

function refusal(verdict: TopologyVerdict): Rejection<TopologyRejection> {
  if (verdict.ok) assert.fail('expected the topology to be refused');
  return verdict;
}

/** A document with one field changed, for the tamper table. */
type Tamper = [string, (d: TopologyDocument) => TopologyDocument];

function editNode(d: TopologyDocument, layer: number, index: number, edit: Partial<TopologyNode>): TopologyDocument {
  return {
    ...d,
    layers: d.layers.map((nodes, l) =>
      l !== layer ? nodes : nodes.map((n, i) => (i === index ? { ...n, ...edit } : n)),
    ),
  };
}

describe('Ed25519 in @mixlab/crypto', () => {
  it('matches RFC 8032 test 1', () => {
    const keys = signingKeyPairFromSeed(
      fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60') as Uint8Array,
    );
    assert.equal(toHex(keys.publicKey), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const signature = signDetached(new Uint8Array(0), keys.secretKey);
    assert.equal(
      toHex(signature),
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    assert.equal(verifyDetached(signature, new Uint8Array(0), keys.publicKey), true);
    assert.equal(verifyDetached(signature, new Uint8Array(1), keys.publicKey), false);
  });

  it('answers false, without throwing, for signatures and keys of the wrong length', () => {
    const keys = generateSigningKeyPair();
    const signature = signDetached(Uint8Array.of(1), keys.secretKey);
    assert.equal(verifyDetached(signature.subarray(1), Uint8Array.of(1), keys.publicKey), false);
    assert.equal(verifyDetached(signature, Uint8Array.of(1), keys.publicKey.subarray(1)), false);
    assert.throws(() => signDetached(Uint8Array.of(1), keys.secretKey.subarray(32)), { name: 'RangeError' });
  });
});

describe('topology canonical encoding', () => {
  it('lays out the fields as the specification says', () => {
    const d = documentWith({ layers: [[node(1, 'a1')], [node(2, 'b1', false)]] });
    const [a1, b1] = [d.layers[0]![0]!, d.layers[1]![0]!];
    const expected = Buffer.concat([
      text('mixlab-topology-v1'),
      u32(1),
      u64(42),
      u64(FROM),
      u64(UNTIL),
      u32(2),
      u32(1),
      text('a1'),
      u32(1),
      text('http://a1:8080'),
      key(a1.identityKey),
      key(a1.publicKey),
      Buffer.from([1]),
      key(a1.nextPublicKey as string),
      u32(1),
      text('b1'),
      u32(2),
      text('http://b1:8080'),
      key(b1.identityKey),
      key(b1.publicKey),
      Buffer.from([0]),
      u32(1),
      text('gw-1'),
      text('http://gw-1:8080'),
      key('9'.repeat(64)),
    ]);
    assert.deepEqual(Buffer.from(topologySigningBytes(d)), expected);
  });

  it('is stable: a fixed document and a fixed directory seed give this signature (test vector)', () => {
    assert.equal(pinned, 'a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0');
    const signed = sign();
    const signature =
      'cb7cf4dac642d496fa8d55f8bcbe4ceb2d239eb911593e210aa63a090f356b452236956c632f6ecc0e8f112e4fe7eee8849412c1ab2d769e44bc8325c458380c';
    assert.equal(signed.signature, signature);
    assert.equal(signed.directoryKey, pinned);
    // Another Ed25519 implementation (OpenSSL) accepts it.
    assert.ok(nodeVerify(topologySigningBytes(documentWith()), signature, pinned));
  });

  it('does not depend on the order of properties in the objects', () => {
    const d = documentWith();
    const reordered = JSON.parse(
      JSON.stringify(d, (_key, value) =>
        value && typeof value === 'object' && !Array.isArray(value)
          ? Object.fromEntries(Object.entries(value).reverse())
          : value,
      ),
    );
    assert.deepEqual(topologySigningBytes(reordered), topologySigningBytes(d));
  });
});

describe('node strategies in the topology', () => {
  it('encodes a strategy behind flag bit 2, after the next key', () => {
    const withStrategy = (n: TopologyNode, strategy: string): TopologyNode => ({ ...n, strategy });
    const [a1, b1] = [withStrategy(node(1, 'a1'), 'timed:t=500ms'), withStrategy(node(2, 'b1', false), 'pool')];
    const bytes = Buffer.from(topologySigningBytes(documentWith({ layers: [[a1], [b1]] })));
    const entry = (n: TopologyNode) =>
      Buffer.concat([text(n.id), u32(n.layer), text(n.url), key(n.identityKey), key(n.publicKey)]);
    const a1Bytes = Buffer.concat([
      entry(a1),
      Buffer.from([3]),
      key(a1.nextPublicKey as string),
      text('timed:t=500ms'),
    ]);
    const b1Bytes = Buffer.concat([entry(b1), Buffer.from([2]), text('pool')]);
    assert.ok(bytes.includes(a1Bytes), 'a1: flags 3, next key, strategy');
    assert.ok(bytes.includes(b1Bytes), 'b1: flags 2, strategy');
  });

  it('round-trips a node strategy into the route view, and an altered one is tampered', () => {
    const a1 = { ...node(1, 'a1'), strategy: 'threshold:n=3,maxWait=1000ms' };
    const signed = signTopology(documentWith({ layers: [[a1], [node(2, 'b1')]] }), directory.secretKey);
    const verdict = verifyTopology(JSON.parse(JSON.stringify(signed)), { pinnedDirectoryKey: pinned, nowMs: FROM });
    assert.ok(verdict.ok);
    assert.equal(verdict.document.layers[0]?.[0]?.strategy, a1.strategy);
    assert.equal(toTopology(verdict.document).layers[0]?.[0]?.strategy, a1.strategy);
    assert.equal('strategy' in (toTopology(verdict.document).layers[1]?.[0] ?? {}), false);
    const altered = structuredClone(signed) as unknown as { document: { layers: { strategy?: string }[][] } };
    altered.document.layers[0]![0]!.strategy = 'threshold:n=1';
    const refused = verifyTopology(altered, { pinnedDirectoryKey: pinned, nowMs: FROM });
    assert.equal(refused.ok ? 'ok' : refused.reason, 'tampered');
  });
});

describe('signTopology and verifyTopology', () => {
  it('round-trips, also through JSON, returning only the signed fields', () => {
    const signed = sign();
    assert.deepEqual(accepted(signed), documentWith());
    const received = JSON.parse(JSON.stringify(signed));
    received.document.comment = 'not signed';
    received.document.layers[0][0].extra = 'not signed';
    assert.deepEqual(accepted(received), documentWith());
  });

  it('accepts the pinned key in upper case', () => {
    assert.deepEqual(verifyTopology(sign(), { pinnedDirectoryKey: pinned.toUpperCase(), nowMs: FROM }), {
      ok: true,
      document: documentWith(),
    });
  });

  it('throws a TypeError for a pinned key that is not a key, whatever the topology', () => {
    assert.throws(() => verifyTopology(sign(), { pinnedDirectoryKey: 'abc', nowMs: FROM }), {
      name: 'TypeError',
      message: 'pinnedDirectoryKey must be 64 hex characters: set it to the key the directory prints at start-up',
    });
  });

  it('reports every altered field as tampered', () => {
    const tampers: Tamper[] = [
      ['epoch', (d) => ({ ...d, epoch: 43 })],
      ['validFrom', (d) => ({ ...d, validFrom: d.validFrom - 1 })],
      ['validUntil', (d) => ({ ...d, validUntil: d.validUntil + 60_000 })],
      ['node id', (d) => editNode(d, 0, 0, { id: 'a9' })],
      ['node layer', (d) => editNode(d, 0, 0, { layer: 2 })],
      ['node url', (d) => editNode(d, 1, 0, { url: 'http://evil:8080' })],
      ['node identityKey', (d) => editNode(d, 1, 0, { identityKey: 'ff'.repeat(32) })],
      ['node publicKey', (d) => editNode(d, 2, 0, { publicKey: 'ff'.repeat(32) })],
      ['node nextPublicKey', (d) => editNode(d, 2, 0, { nextPublicKey: 'ff'.repeat(32) })],
      ['nextPublicKey added', (d) => editNode(d, 0, 1, { nextPublicKey: 'ff'.repeat(32) })],
      [
        'nextPublicKey removed',
        (d) => {
          const { nextPublicKey: _, ...rest } = d.layers[0]![0]!;
          return { ...d, layers: [[rest, d.layers[0]![1]!], ...d.layers.slice(1)] };
        },
      ],
      ['node removed', (d) => ({ ...d, layers: [d.layers[0]!.slice(1), ...d.layers.slice(1)] })],
      ['node added', (d) => ({ ...d, layers: [d.layers[0]!, [...d.layers[1]!, node(2, 'b2')], d.layers[2]!] })],
      ['nodes reordered', (d) => ({ ...d, layers: [[...d.layers[0]!].reverse(), ...d.layers.slice(1)] })],
      ['layer removed', (d) => ({ ...d, layers: d.layers.slice(0, 2) })],
      [
        'gateway id',
        (d) => ({ ...d, gateways: [{ id: 'gw-2', url: 'http://gw-1:8080', identityKey: '9'.repeat(64) }] }),
      ],
      [
        'gateway url',
        (d) => ({ ...d, gateways: [{ id: 'gw-1', url: 'http://evil:8080', identityKey: '9'.repeat(64) }] }),
      ],
      [
        'gateway added',
        (d) => ({
          ...d,
          gateways: [...d.gateways, { id: 'gw-2', url: 'http://gw-2:8080', identityKey: '9'.repeat(64) }],
        }),
      ],
      [
        'gateway identity key',
        (d) => ({ ...d, gateways: [{ id: 'gw-1', url: 'http://gw-1:8080', identityKey: '8'.repeat(64) }] }),
      ],
      ['gateway removed', (d) => ({ ...d, gateways: [] })],
    ];
    for (const [field, tamper] of tampers) {
      const signed = sign();
      const error = refusal(verify({ ...signed, document: tamper(signed.document) }));
      assert.equal(error.reason, 'tampered', field);
      assert.match(error.problem, /^the signature does not match the topology for epoch \d+: the document was altered/);
    }
    const signed = sign();
    assert.equal(refusal(verify({ ...signed, signature: flipFirstBit(signed.signature) })).reason, 'tampered');
  });

  it('reports a topology signed by another key as wrong-key, naming both keys', () => {
    const signed = signTopology(documentWith(), impostor.secretKey);
    const error = refusal(verify(signed));
    assert.equal(error.reason, 'wrong-key');
    assert.equal(
      error.problem,
      `the topology is signed by directory key ${toHex(impostor.publicKey)}, not the pinned ${pinned}: ` +
        'you reached another directory, or the pinned key is out of date (compare it with the key the directory prints at start-up)',
    );
  });

  it('reports another key signature presented under the pinned key as tampered', () => {
    const signed = signTopology(documentWith(), impostor.secretKey);
    assert.equal(refusal(verify({ ...signed, directoryKey: pinned })).reason, 'tampered');
  });

  it('reports a topology without a signature, or a bare unsigned topology, as unsigned', () => {
    const signed = sign();
    const bareTopology = toTopology(documentWith());
    for (const candidate of [
      { document: signed.document, directoryKey: pinned },
      { ...signed, signature: '' },
      { ...signed, signature: null },
      bareTopology,
    ]) {
      const error = refusal(verify(candidate));
      assert.equal(error.reason, 'unsigned');
      assert.match(error.problem, /^the topology carries no signature: .*refusing to route through it$/);
    }
  });

  it('reports structural problems as malformed, naming each', () => {
    const signed = sign();
    const cases: [unknown, string][] = [
      [null, 'the directory answered something that is not a topology object'],
      [[signed], 'the directory answered something that is not a topology object'],
      [{ ...signed, signature: signed.signature.toUpperCase() }, 'signature must be 64 bytes as 128 lowercase hex'],
      [{ ...signed, directoryKey: 'xyz' }, 'directoryKey must be 32 bytes as 64 lowercase hex characters'],
      [{ ...signed, document: null }, 'document must be an object'],
      [
        { ...signed, document: { ...signed.document, version: 2 } },
        'version 2 is not supported: this client reads version 1',
      ],
      [{ ...signed, document: { ...signed.document, epoch: -1 } }, 'epoch must be an integer from 0'],
      [{ ...signed, document: { ...signed.document, validUntil: '1' } }, 'validUntil must be an integer from 0'],
      [{ ...signed, document: { ...signed.document, layers: {} } }, 'layers must be a list of lists of nodes'],
      [{ ...signed, document: { ...signed.document, layers: [{}] } }, 'layers[0] must be a list of nodes'],
      [{ ...signed, document: { ...signed.document, gateways: [null] } }, 'gateways[0] must be an object'],
      [
        { ...signed, document: editNode(signed.document, 1, 0, { publicKey: 'AB'.repeat(32) }) },
        'layers[1][0].publicKey must be 32 bytes as 64 lowercase hex characters',
      ],
      [
        { ...signed, document: editNode(signed.document, 1, 0, { nextPublicKey: 'ab' }) },
        'layers[1][0].nextPublicKey must be 32 bytes',
      ],
    ];
    for (const [candidate, expected] of cases) {
      const error = refusal(verify(candidate));
      assert.equal(error.reason, 'malformed', expected);
      assert.ok(error.problem.includes(expected), `${error.problem} should include ${expected}`);
    }
  });

  it('reports a validly signed but unusable document as malformed (and signTopology refuses to make one)', () => {
    const cases: [TopologyDocument, string][] = [
      [documentWith({ validUntil: FROM }), `validFrom ${FROM} must be before validUntil ${FROM}`],
      [documentWith({ layers: [] }), 'there must be at least one layer'],
      [documentWith({ layers: [[node(2, 'b1')], [node(2, 'b2')]] }), 'node b1 is listed in layer 1 but says 2'],
      [documentWith({ layers: [[node(1, 'a1')], [node(2, 'a1')]] }), 'node a1 is listed more than once'],
      [documentWith({ layers: [[node(1, 'bad id')]] }), 'node bad id: id must match'],
      [
        documentWith({ gateways: [{ id: 'gw', url: 'ftp://gw', identityKey: '9'.repeat(64) }] }),
        'gateway gw: url must be http or https, got ftp:',
      ],
      [
        documentWith({
          gateways: [
            { id: 'gw', url: 'http://gw:1', identityKey: '9'.repeat(64) },
            { id: 'gw', url: 'http://gw:2', identityKey: '9'.repeat(64) },
          ],
        }),
        'gateway gw is listed more than once',
      ],
    ];
    for (const [document, expected] of cases) {
      assert.throws(() => sign(document), {
        message: new RegExp(`^refusing to sign a malformed topology: .*${expected}`),
      });
      const signature = toHex(signDetached(topologySigningBytes(document), directory.secretKey));
      const error = refusal(verify({ document, signature, directoryKey: pinned }));
      assert.equal(error.reason, 'malformed', expected);
      assert.ok(error.problem.startsWith('the directory signed an unusable topology (report it): '), error.problem);
      assert.ok(error.problem.includes(expected), `${error.problem} should include ${expected}`);
    }
  });

  it('accepts an empty layer (nodes still starting); route selection refuses it', () => {
    const document = accepted(sign(documentWith({ layers: [[node(1, 'a1')], []] })));
    assert.throws(() => pickRoute(toTopology(document), scriptedRandom([0])), { message: /^layer 2 has no node/ });
  });

  it('is valid from validFrom inclusive to validUntil exclusive, exactly', () => {
    const signed = sign();
    assert.equal(refusal(verify(signed, FROM - 1)).reason, 'not-yet-valid');
    assert.deepEqual(accepted(signed, FROM), signed.document);
    assert.deepEqual(accepted(signed, UNTIL - 1), signed.document);
    assert.equal(refusal(verify(signed, UNTIL)).reason, 'expired');
  });

  it('widens the window by maxSkewMs at both ends, exactly', () => {
    const signed = sign();
    assert.equal(refusal(verify(signed, FROM - 5_001, 5_000)).reason, 'not-yet-valid');
    assert.deepEqual(accepted(signed, FROM - 5_000, 5_000), signed.document);
    assert.deepEqual(accepted(signed, UNTIL + 4_999, 5_000), signed.document);
    assert.equal(refusal(verify(signed, UNTIL + 5_000, 5_000)).reason, 'expired');
  });

  it('says what to do about an expired or a not-yet-valid topology', () => {
    const signed = sign();
    assert.equal(
      refusal(verify(signed, UNTIL)).problem,
      `the topology for epoch 42 expired at 2027-01-15T08:10:00.000Z (${UNTIL} ms), and it is 2027-01-15T08:10:00.000Z (${UNTIL} ms) here: ` +
        'fetch a fresh one; if it stays expired, the directory has stopped publishing epochs or this clock is ahead (allowed skew 0 ms)',
    );
    assert.equal(
      refusal(verify(signed, FROM - 1_000)).problem,
      `the topology for epoch 42 is valid from 2027-01-15T08:00:00.000Z (${FROM} ms), but it is 2027-01-15T07:59:59.000Z (${FROM - 1_000} ms) here: ` +
        "this clock is behind or the directory's is ahead (allowed skew 0 ms)",
    );
  });

  it('checks the signature before the window, so an altered expired topology is tampered', () => {
    const signed = sign();
    const altered = { ...signed, document: { ...signed.document, validUntil: UNTIL + 1 } };
    assert.equal(refusal(verify(altered, UNTIL + 10)).reason, 'tampered');
  });

  it('signs a window made of epoch boundaries', () => {
    const schedule = { genesisMs: FROM, lengthMs: 60_000 };
    const document = documentWith({ epoch: 3, validFrom: epochStart(3, schedule), validUntil: epochEnd(3, schedule) });
    const signed = sign(document);
    assert.deepEqual(accepted(signed, FROM + 180_000), document);
    assert.equal(refusal(verify(signed, FROM + 240_000)).reason, 'expired');
  });
});

describe('toTopology', () => {
  it('gives the route-selection view with this epoch keys, and route selection works on it', () => {
    const topology = toTopology(documentWith());
    assert.deepEqual(topology, {
      layers: [
        [
          { id: 'a1', layer: 1, url: 'http://a1:8080', publicKey: '1a'.repeat(32) },
          { id: 'a2', layer: 1, url: 'http://a2:8080', publicKey: '1a'.repeat(32) },
        ],
        [{ id: 'b1', layer: 2, url: 'http://b1:8080', publicKey: '2a'.repeat(32) }],
        [{ id: 'c1', layer: 3, url: 'http://c1:8080', publicKey: '3a'.repeat(32) }],
      ],
      gateways: [{ id: 'gw-1', url: 'http://gw-1:8080', identityKey: '9'.repeat(64) }],
    });
    assert.deepEqual(
      pickRoute(topology, scriptedRandom([0, 0, 0])).map((n) => n.id),
      ['a1', 'b1', 'c1'],
    );
  });

  it("gives the next epoch's keys, leaving out nodes without one", () => {
    const topology = toTopology(documentWith(), 'next');
    assert.deepEqual(
      topology.layers.map((nodes) => nodes.map((n) => [n.id, n.publicKey])),
      [[['a1', '1b'.repeat(32)]], [['b1', '2b'.repeat(32)]], [['c1', '3b'.repeat(32)]]],
    );
  });
});

describe('topologyNodeFor', () => {
  it('lists a registered node with its key for the epoch and the next one when published', async () => {
    const identity = generateSigningKeyPair();
    const descriptor = signDescriptor(
      {
        id: 'mix-1',
        layer: 2,
        url: 'http://mix-1:8080',
        identityKey: toHex(identity.publicKey),
        mixingKeys: [
          { epoch: 7, publicKey: '07'.repeat(32) },
          { epoch: 8, publicKey: '08'.repeat(32) },
        ],
        issuedAt: FROM,
      },
      identity.secretKey,
    );
    const base = { id: 'mix-1', layer: 2, url: 'http://mix-1:8080', identityKey: toHex(identity.publicKey) };
    assert.deepEqual(topologyNodeFor(descriptor, 7), {
      ...base,
      publicKey: '07'.repeat(32),
      nextPublicKey: '08'.repeat(32),
    });
    assert.deepEqual(topologyNodeFor(descriptor, 8), { ...base, publicKey: '08'.repeat(32) });
    assert.equal(topologyNodeFor(descriptor, 9), undefined);
    assert.equal(topologyNodeFor(descriptor, 6), undefined);
  });
});
