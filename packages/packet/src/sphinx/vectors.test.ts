import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { CRYPTO_BACKENDS, type CryptoBackendName, useCryptoBackend } from '@mixlab/crypto';
import { vectorSlots } from './test-support.ts';
import { computeCase, generateVectors, VECTORS_PATH, type VectorCase, type VectorFile } from './vectors.ts';

const file = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as VectorFile;

for (const backend of CRYPTO_BACKENDS) {
  describe(`sphinx test vectors (test-vectors/sphinx.json), ${backend} backend`, () => vectorSuite(backend));
}

function vectorSuite(backend: CryptoBackendName): void {
  before(() => useCryptoBackend(backend));

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
}

/** Reads every hop's routing slot by the layout in docs/sphinx.md; the exit's is a deliver slot. */
function checkSlots(vector: VectorCase): void {
  const exit = vectorSlots(vector).at(-1) as Uint8Array;
  // deliver: 0x02 | delay | 0^97
  assert.equal(exit[0], 0x02);
  assert.ok(exit.subarray(5).every((b) => b === 0));
}
