import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair, type SigningKeyPair, toHex } from '@mixlab/crypto';
import { ManualClock } from '@mixlab/runtime';
import { compareToStored, verifyDescriptor } from '@mixlab/topology';
import { DescriptorSigner } from './descriptor.ts';
import { MixingKeys } from './mixing-keys.ts';

const START = 1_800_000_000_000; // epoch 3 000 000 of 600 000 ms, exactly at its start
const E = 3_000_000;

describe('the descriptor a node publishes', () => {
  let identity: SigningKeyPair;
  before(async () => {
    await cryptoReady();
    identity = generateSigningKeyPair();
  });

  function setUp() {
    const clock = new ManualClock(START + 100_000);
    const keys = new MixingKeys(
      { epochs: { genesisMs: 0, lengthMs: 600_000 }, graceMs: 60_000, nextKeyWindowMs: 30_000 },
      clock,
    );
    const signer = new DescriptorSigner({
      id: 'mix-1',
      layer: 2,
      url: 'http://mix-1:8080',
      identity,
      mixingKeys: () => keys.published(),
      now: () => clock.now(),
    });
    const verify = (value: unknown, epoch = keys.current) =>
      verifyDescriptor(value, { nowMs: clock.now(), maxSkewMs: 30_000, layerCount: 3, epoch });
    return { clock, keys, signer, verify };
  }

  it("verifies under the node's identity key and carries the current and next mixing keys", () => {
    const { keys, signer, verify, clock } = setUp();
    const descriptor = signer.sign();
    const verdict = verify(descriptor);
    assert.ok(verdict.ok, verdict.ok ? '' : verdict.problem);
    assert.equal(descriptor.identityKey, toHex(identity.publicKey));
    assert.equal(descriptor.issuedAt, clock.now());
    // Into the next key's window, where the node peels with it too.
    clock.advance((E + 1) * 600_000 - 30_000 - clock.now());
    keys.update();
    const held = keys.keySet().byEpoch;
    assert.deepEqual(descriptor.mixingKeys, [
      { epoch: E, publicKey: toHex(held.get(E)?.publicKey as Uint8Array) },
      { epoch: E + 1, publicKey: toHex(held.get(E + 1)?.publicKey as Uint8Array) },
    ]);
    assert.deepEqual(
      { id: descriptor.id, layer: descriptor.layer, url: descriptor.url },
      { id: 'mix-1', layer: 2, url: 'http://mix-1:8080' },
    );
  });

  it('is signed afresh each time, with an issuedAt strictly later than the last, so a heartbeat is never a replay', () => {
    const { signer, verify } = setUp();
    const first = signer.sign();
    const second = signer.sign(); // same millisecond
    assert.equal(second.issuedAt, first.issuedAt + 1);
    assert.ok(verify(second).ok);
    assert.equal(compareToStored(first, second), 'newer');
    assert.equal(compareToStored(second, first), 'replayed');
  });

  it('after a rotation, publishes the new current and next keys', () => {
    const { clock, keys, signer, verify } = setUp();
    const before = signer.sign();
    clock.advance(500_000); // into epoch E + 1
    keys.update();
    const after = signer.sign();
    assert.ok(verify(after, E + 1).ok);
    assert.deepEqual(
      after.mixingKeys.map((key) => key.epoch),
      [E + 1, E + 2],
    );
    assert.equal(after.mixingKeys[0]?.publicKey, before.mixingKeys[1]?.publicKey, 'the key published ahead');
    // Holds a key for E + 1 too, so only the signature can refuse it.
    const tampered = { ...after, mixingKeys: before.mixingKeys };
    assert.equal(verify(tampered, E + 1).ok, false);
  });
});
