import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeapReducerPolicy, startHeapReducer } from './heap-reducer.ts';

const MiB = 2 ** 20;
const options = { slackFraction: 0.1, minSlackBytes: 8 * MiB, minIntervalMs: 30_000 };

describe('HeapReducerPolicy', () => {
  it('collects once memory has grown by the slack and stopped growing, not while it grows', () => {
    const policy = new HeapReducerPolicy(options, 120 * MiB, 0);
    assert.equal(policy.due(125 * MiB, 5_000), false, 'below the slack');
    assert.equal(policy.due(135 * MiB, 10_000), false, 'still growing');
    assert.equal(policy.due(150 * MiB, 15_000), false, 'still growing');
    assert.equal(policy.due(150.5 * MiB, 20_000), true, 'grown by 30 MiB and settled');
  });

  it('takes the slack as a fraction of the floor, at least minSlackBytes', () => {
    const small = new HeapReducerPolicy(options, 50 * MiB, 0);
    small.due(57 * MiB, 5_000);
    assert.equal(small.due(57 * MiB, 10_000), false, '7 MiB: under the 8 MiB least');
    small.due(58 * MiB, 15_000);
    assert.equal(small.due(58 * MiB, 20_000), true);
    const large = new HeapReducerPolicy(options, 200 * MiB, 0);
    large.due(219 * MiB, 5_000);
    assert.equal(large.due(219 * MiB, 10_000), false, '19 MiB: under 10 % of 200');
    large.due(220 * MiB, 15_000);
    assert.equal(large.due(220 * MiB, 20_000), true);
  });

  it('measures growth from the least it has seen, and from what a collection left', () => {
    const policy = new HeapReducerPolicy(options, 130 * MiB, 0);
    assert.equal(policy.due(100 * MiB, 5_000), false);
    assert.equal(policy.due(109 * MiB, 10_000), false, 'growing');
    assert.equal(policy.due(109 * MiB, 15_000), false, '9 MiB above the least seen (100): under its 10 MiB');
    assert.equal(policy.due(112 * MiB, 20_000), false, 'growing again');
    assert.equal(policy.due(112 * MiB, 25_000), true, '12 MiB above the least seen');
    policy.collected(90 * MiB, 25_000);
    policy.due(98 * MiB, 60_000);
    assert.equal(policy.due(98 * MiB, 65_000), false, 'regrown by 8 MiB from what the collection left');
  });

  it('collects at most once per interval', () => {
    const policy = new HeapReducerPolicy(options, 100 * MiB, 0);
    assert.equal(policy.due(150 * MiB, 1_000), false);
    assert.equal(policy.due(150 * MiB, 2_000), true, 'the first one as soon as it is due');
    policy.collected(100 * MiB, 2_000);
    assert.equal(policy.due(150 * MiB, 5_000), false);
    assert.equal(policy.due(150 * MiB, 31_000), false, '29 s after the last');
    assert.equal(policy.due(150 * MiB, 32_000), true);
  });
});

describe('startHeapReducer', () => {
  it('collects through the inspector and gives back the young generation a burst grew', async () => {
    // A burst of short-lived garbage grows V8's new space; a collection, due at once, must
    // leave the heap committed smaller than it found it.
    const garbage: unknown[] = [];
    for (let i = 0; i < 200_000; i++) garbage[i % 1000] = { i, text: `packet ${i}`.repeat(8) };
    const reduced = await new Promise<{ heapBefore: number; heapAfter: number }>((resolve, reject) => {
      const stop = startHeapReducer(
        (reduction) => {
          stop();
          resolve(reduction);
        },
        (error) => {
          stop();
          reject(error);
        },
        { slackFraction: 0, minSlackBytes: 0, minIntervalMs: 0 },
        10,
      );
    });
    assert.ok(reduced.heapAfter < reduced.heapBefore, JSON.stringify(reduced));
  });
});
