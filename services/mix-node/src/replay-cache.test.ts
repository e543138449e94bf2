import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { REPLAY_TAG_PREFIX_BYTES, ReplayCache } from './replay-cache.ts';

describe('ReplayCache', () => {
  it('says new the first time and replay every time after', () => {
    const cache = new ReplayCache({ maxEntriesPerEpoch: 100 });
    const tag = randomBytes(32);
    assert.equal(cache.check(0, tag), 'new');
    assert.equal(cache.check(0, tag), 'replay');
    assert.equal(cache.check(0, Uint8Array.from(tag)), 'replay');
    assert.equal(cache.entries, 1);
  });

  it('tells apart tags that collide in their hash bytes but differ later', () => {
    const cache = new ReplayCache({ maxEntriesPerEpoch: 100 });
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    b[REPLAY_TAG_PREFIX_BYTES - 1] = 1; // same first four bytes: same slot, probed past
    assert.equal(cache.check(0, a), 'new');
    assert.equal(cache.check(0, b), 'new');
    assert.equal(cache.check(0, b), 'replay');
    assert.equal(cache.check(0, a), 'replay');
  });

  it('remembers thousands of random tags exactly', () => {
    const cache = new ReplayCache({ maxEntriesPerEpoch: 5000 });
    const tags = Array.from({ length: 5000 }, () => randomBytes(32));
    for (const tag of tags) assert.equal(cache.check(7, tag), 'new');
    for (const tag of tags) assert.equal(cache.check(7, tag), 'replay');
    assert.equal(cache.entries, 5000);
  });

  it('keeps epochs apart and frees retired ones', () => {
    const cache = new ReplayCache({ maxEntriesPerEpoch: 10 });
    const tag = randomBytes(32);
    assert.equal(cache.check(1, tag), 'new');
    assert.equal(cache.check(2, tag), 'new');
    const bytesWithTwo = cache.bytes;
    cache.retireBefore(2);
    assert.equal(cache.entries, 1);
    assert.equal(cache.bytes, bytesWithTwo / 2);
    assert.equal(cache.check(2, tag), 'replay');
  });

  it('is bounded: refuses new tags once an epoch is full, still recognising replays', () => {
    const cache = new ReplayCache({ maxEntriesPerEpoch: 3 });
    const tags = Array.from({ length: 4 }, () => randomBytes(32));
    assert.deepEqual(
      tags.map((tag) => cache.check(0, tag)),
      ['new', 'new', 'new', 'full'],
    );
    assert.equal(cache.check(0, tags[0] as Uint8Array), 'replay');
    assert.equal(cache.entries, 3);
  });

  it('reports its memory exactly: 17 bytes per slot, slots a power of two above entries / 0.75', () => {
    const cache = new ReplayCache({ maxEntriesPerEpoch: 1000 });
    assert.equal(cache.bytes, 0);
    cache.check(0, randomBytes(32));
    assert.equal(cache.bytes, 2048 * (REPLAY_TAG_PREFIX_BYTES + 1));
  });

  it('rejects bad sizes with clear errors', () => {
    assert.throws(() => new ReplayCache({ maxEntriesPerEpoch: 0 }), /positive integer/);
    assert.throws(() => new ReplayCache({ maxEntriesPerEpoch: 10 }).check(0, new Uint8Array(8)), /16 bytes/);
  });
});
