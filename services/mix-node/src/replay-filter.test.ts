import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { blake2b, cryptoReady } from '@mixlab/crypto';
import { REPLAY_TAG_MIN_BYTES, ReplayFilter, ReplayFilters, replayFilterSize } from './replay-filter.ts';

/** Tag number `i` of a seeded sequence: BLAKE2b of the seed and i, uniform like a real tag (a KDF output). */
function tag(seed: number, i: number): Uint8Array {
  const input = new Uint8Array(8);
  new DataView(input.buffer).setUint32(0, seed);
  new DataView(input.buffer).setUint32(4, i);
  return blake2b(32, input);
}

describe('replay filter', () => {
  before(cryptoReady);

  it('sizes the bits and hashes from the planned entries and the false-positive rate', () => {
    // m = -n ln p / (ln 2)^2: about 28.76 bits a tag at 1e-6, k = 20.
    const size = replayFilterSize(1_000_000, 1e-6);
    assert.equal(size.bits, 28_755_200);
    assert.equal(size.hashes, 20);
    assert.equal(size.bits / 8 / 2 ** 20 < 3.5, true, 'a million tags in under 3.5 MiB');
    assert.equal(replayFilterSize(1_000, 0.01).hashes, 7);
    assert.throws(() => replayFilterSize(0, 1e-6), /positive integer/);
    assert.throws(() => replayFilterSize(10, 0), /between 0 and 1/);
    assert.throws(() => replayFilterSize(10, 1), /between 0 and 1/);
    assert.throws(() => replayFilterSize(2_000_000_000, 1e-9), /at most/);
  });

  it('lets a tag through once, then calls every copy a replay', () => {
    const filter = ReplayFilter.create(replayFilterSize(1_000, 1e-6));
    assert.equal(filter.seen(tag(1, 0)), false);
    assert.equal(filter.seen(tag(1, 0)), true);
    assert.equal(filter.seen(Uint8Array.from(tag(1, 0))), true);
    assert.equal(filter.has(tag(1, 2)), false);
    assert.equal(filter.seen(tag(1, 1)), false);
    assert.equal(filter.has(tag(1, 1)), true);
    assert.equal(filter.entries, 2);
    assert.throws(() => filter.seen(new Uint8Array(REPLAY_TAG_MIN_BYTES - 1)), /needs 12 bytes/);
  });

  for (const falsePositiveRate of [0.01, 0.001]) {
    it(`takes new tags for replays at the stated rate once full (${falsePositiveRate}, seeded)`, () => {
      const entries = 20_000;
      const filter = ReplayFilter.create(replayFilterSize(entries, falsePositiveRate));
      for (let i = 0; i < entries; i++) filter.seen(tag(7, i));
      const trials = 200_000;
      let falsePositives = 0;
      for (let i = 0; i < trials; i++) if (filter.has(tag(8, i))) falsePositives++;
      const measured = falsePositives / trials;
      assert.ok(
        measured > falsePositiveRate * 0.7 && measured < falsePositiveRate * 1.3,
        `measured ${measured}, stated ${falsePositiveRate}`,
      );
    });
  }

  it('keeps one filter per epoch it is told to keep, frees the others, and counts their memory exactly', () => {
    const size = replayFilterSize(100, 1e-6);
    const filters = new ReplayFilters(size);
    const first = filters.keep([5, 6]);
    new ReplayFilter(first.get(5) as never).seen(tag(1, 1));
    assert.equal(filters.bytes, 2 * (size.bits / 8 + 8));
    assert.equal(filters.entries, 1);
    const second = filters.keep([6, 7]);
    assert.equal(second.get(6), first.get(6), 'a kept epoch keeps its filter');
    assert.equal(filters.entries, 0, "epoch 5's filter is gone");
    assert.equal(filters.bytes, 2 * (size.bits / 8 + 8));
  });
});
