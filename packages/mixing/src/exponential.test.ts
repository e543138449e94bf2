import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scriptedRandom, seededRandom } from '@mixlab/runtime';
import { ExponentialStrategy } from './exponential.ts';
import { harness } from './test-harness.ts';

interface Packet {
  readonly id: string;
  readonly delayMs?: number;
}

const delayOf = (packet: Packet): number | undefined => packet.delayMs;

describe('ExponentialStrategy', () => {
  it('holds each packet for the delay it carries and releases it alone', () => {
    const h = harness<Packet>();
    const mix = new ExponentialStrategy<Packet>({ delayOf }, h.context);
    assert.equal(mix.name, 'exponential');
    mix.add({ id: 'a', delayMs: 300 });
    h.clock.advance(50);
    mix.add({ id: 'b', delayMs: 100 }); // due at 150, before a
    mix.add({ id: 'c', delayMs: 0 });
    assert.equal(mix.queued, 3);
    h.clock.advance(99);
    assert.deepEqual(
      h.batches.map((batch) => batch.map((packet) => packet.id)),
      [['c']],
    );
    h.clock.advance(1000);
    assert.deepEqual(
      h.batches.map((batch) => batch.map((packet) => packet.id)),
      [['c'], ['b'], ['a']],
    );
    assert.deepEqual(h.releasedAt, [50, 150, 300]);
    assert.equal(mix.queued, 0);
  });

  it('draws the delay from the random source when configured with a mean', () => {
    const h = harness<Packet>(scriptedRandom([0.5, 0]));
    const mix = new ExponentialStrategy<Packet>({ meanDelayMs: 1000 }, h.context);
    mix.add({ id: 'a' });
    mix.add({ id: 'b' });
    h.clock.advance(10_000);
    assert.deepEqual(h.releasedAt, [0, 1000 * Math.LN2]);
  });

  it('falls back to a drawn delay for packets that carry none', () => {
    const h = harness<Packet>(scriptedRandom([0.5]));
    const mix = new ExponentialStrategy<Packet>({ delayOf, meanDelayMs: 100 }, h.context);
    mix.add({ id: 'carried', delayMs: 10 });
    mix.add({ id: 'drawn' });
    h.clock.advance(1000);
    assert.deepEqual(h.releasedAt, [10, 100 * Math.LN2]);
  });

  it('refuses a packet without a delay when there is no mean to draw one', () => {
    const h = harness<Packet>();
    const mix = new ExponentialStrategy<Packet>({ delayOf }, h.context);
    assert.throws(() => mix.add({ id: 'a' }), /carries no delay/);
    assert.equal(mix.queued, 0);
  });

  it('refuses a carried delay that is negative or not finite', () => {
    const h = harness<Packet>();
    const mix = new ExponentialStrategy<Packet>({ delayOf, meanDelayMs: 100 }, h.context);
    for (const delayMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => mix.add({ id: 'a', delayMs }), RangeError, String(delayMs));
    }
    assert.equal(mix.queued, 0);
  });

  it('property: drawn delays are exponential with the configured mean', () => {
    const h = harness<number>(seededRandom(42));
    const meanDelayMs = 200;
    const mix = new ExponentialStrategy<number>({ meanDelayMs }, h.context);
    const count = 20_000;
    for (let i = 0; i < count; i++) mix.add(i);
    h.clock.advance(1e9);
    assert.equal(h.batches.length, count);
    assert.ok(h.batches.every((batch) => batch.length === 1));
    const delays = h.releasedAt;
    const mean = delays.reduce((sum, delay) => sum + delay, 0) / count;
    // Standard error of the mean is 200 / sqrt(20000) ≈ 1.4 ms.
    assert.ok(Math.abs(mean - meanDelayMs) < 6, `mean ${mean}`);
    // Exponential, not just any distribution with that mean: P(delay > mean) = 1/e,
    // and the standard deviation equals the mean.
    const aboveMean = delays.filter((delay) => delay > meanDelayMs).length / count;
    assert.ok(Math.abs(aboveMean - Math.exp(-1)) < 0.01, `above mean ${aboveMean}`);
    const sd = Math.sqrt(delays.reduce((sum, delay) => sum + (delay - mean) ** 2, 0) / count);
    assert.ok(Math.abs(sd - meanDelayMs) < 10, `standard deviation ${sd}`);
  });

  it('stop() returns the held packets, cancels their timers and refuses further packets', () => {
    const h = harness<Packet>();
    const mix = new ExponentialStrategy<Packet>({ delayOf }, h.context);
    const a = { id: 'a', delayMs: 100 };
    const b = { id: 'b', delayMs: 50 };
    mix.add(a);
    mix.add(b);
    assert.deepEqual(mix.stop(), [a, b]);
    assert.equal(mix.queued, 0);
    assert.equal(h.clock.pendingTimers, 0);
    assert.throws(() => mix.add({ id: 'c', delayMs: 1 }), /stopped/);
    h.clock.advance(1000);
    assert.deepEqual(h.batches, []);
  });

  it('rejects options without a delay source, or with a mean that is not positive', () => {
    const h = harness<Packet>();
    assert.throws(() => new ExponentialStrategy<Packet>({}, h.context), /meanDelayMs, delayOf, or both/);
    for (const meanDelayMs of [0, -1, Number.NaN]) {
      assert.throws(() => new ExponentialStrategy<Packet>({ meanDelayMs }, h.context), RangeError);
    }
  });
});
