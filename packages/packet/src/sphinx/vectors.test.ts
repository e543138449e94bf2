import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { chacha20Xor, cryptoReady } from '@mixlab/crypto';
import { createGeometry } from './geometry.ts';
import { computeCase, generateVectors, hex, VECTORS_PATH, type VectorCase, type VectorFile } from './vectors.ts';

before(cryptoReady);

const file = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as VectorFile;

describe('sphinx test vectors (test-vectors/sphinx.json)', () => {
  for (const vector of file.cases) {
    it(`recomputes "${vector.name}" byte for byte from its keys and randomness`, () => {
      const { packet, hops, ...input } = vector;
      const computed = computeCase(input);
      assert.equal(computed.packet, packet, 'first-hop packet');
      assert.equal(computed.hops.length, hops.length);
      computed.hops.forEach((hop, i) => {
        assert.deepEqual(hop, hops[i], `hop ${i}`);
      });
    });
  }

  for (const vector of file.cases) {
    it(`follows the documented slot layouts in "${vector.name}" (flag | delay | body)`, () => {
      checkSlots(vector);
    });
  }

  it('has delays on some hops, including the maximum, and none on others', () => {
    const delays = file.cases.flatMap((c) => c.route.map((hop) => hop.delayMs));
    assert.ok(delays.includes(2 ** 32 - 1));
    assert.ok(delays.some((d) => d !== undefined && d > 0 && d < 256));
    assert.ok(delays.includes(undefined));
  });

  it('matches what the generator writes (inputs included)', () => {
    assert.deepEqual(generateVectors(), file);
  });
});

/** Reads every hop's routing slot by the layout in docs/sphinx.md, with ChaCha20 and the vector's routing keys. */
function checkSlots(vector: VectorCase): void {
  const g = createGeometry(vector.geometry);
  const n = vector.route.length;
  assert.equal(g.perHopRoutingInfoBytes, 102);
  const links = [hex(vector.packet), ...vector.hops.slice(0, n - 1).map((hop) => hex(hop.packet ?? ''))];
  vector.hops.forEach((hop, i) => {
    const slot = chacha20Xor((links[i] as Uint8Array).subarray(32, 32 + 102), hex(hop.routingKey));
    const delay = new DataView(slot.buffer, slot.byteOffset, slot.byteLength).getUint32(1);
    assert.equal(delay, vector.route[i]?.delayMs ?? 0, `hop ${i} delay`);
    assert.equal(hop.delayMs, delay, `hop ${i} peeled delay`);
    if (i === n - 1) {
      // deliver: 0x02 | delay | 0^97
      assert.equal(slot[0], 0x02);
      assert.ok(slot.subarray(5).every((b) => b === 0));
      return;
    }
    // forward: 0x01 | delay | id length | next id (64, zero padded) | next MAC = the next link's gamma
    const next = new TextEncoder().encode(vector.route[i + 1]?.id);
    assert.equal(slot[0], 0x01);
    assert.equal(slot[5], next.length);
    assert.deepEqual(slot.subarray(6, 6 + next.length), next);
    assert.ok(slot.subarray(6 + next.length, 70).every((b) => b === 0));
    assert.deepEqual(slot.subarray(70), (links[i + 1] as Uint8Array).subarray(g.macOffset, g.payloadOffset));
  });
}
