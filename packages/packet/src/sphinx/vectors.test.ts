import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { cryptoReady } from '@mixlab/crypto';
import { computeCase, generateVectors, VECTORS_PATH, type VectorFile } from './vectors.ts';

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

  it('matches what the generator writes (inputs included)', () => {
    assert.deepEqual(generateVectors(), file);
  });
});
