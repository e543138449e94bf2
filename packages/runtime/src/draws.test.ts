import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exponentialDelay, exponentialGapMs, poissonSchedule } from './draws.ts';
import { secureRandom, seededRandom } from './random.ts';
import { scriptedRandom } from './scripted-random.ts';

describe('exponentialDelay', () => {
  it('is the inverse transform -mean × ln(1 - u)', () => {
    assert.equal(exponentialDelay(200, scriptedRandom([0])), 0);
    assert.equal(exponentialDelay(200, scriptedRandom([0.5])), 200 * Math.LN2);
    assert.ok(Math.abs(exponentialDelay(200, scriptedRandom([1 - Math.exp(-1)])) - 200) < 1e-9);
  });
});

describe('poissonSchedule', () => {
  it('sends at the requested mean rate, within 3% over 20 000 expected sends (seeded)', () => {
    const rate = 2;
    const durationMs = 10_000_000; // 10 000 s at 2/s
    const instants = poissonSchedule(rate, durationMs, seededRandom(42));
    const measured = instants.length / (durationMs / 1000);
    assert.ok(Math.abs(measured - rate) / rate < 0.03, `measured rate ${measured}`);
  });

  it('has exponential gaps: mean 1/rate and standard deviation 1/rate', () => {
    const random = seededRandom(7);
    const gaps = Array.from({ length: 50_000 }, () => exponentialGapMs(4, random));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
    assert.ok(Math.abs(mean - 250) < 250 * 0.02, `mean gap ${mean} ms`);
    assert.ok(Math.abs(sd - 250) < 250 * 0.03, `gap standard deviation ${sd} ms`);
  });

  it('is ascending, inside the window, and the same for the same seed', () => {
    const a = poissonSchedule(5, 3000, seededRandom(1));
    assert.deepEqual(a, poissonSchedule(5, 3000, seededRandom(1)));
    assert.ok(a.every((at, i) => at >= 0 && at < 3000 && (i === 0 || at > (a[i - 1] as number))));
  });

  it('turns a draw into a gap exactly: u = 1 - 1/e gives 1/rate', () => {
    assert.equal(exponentialGapMs(2, scriptedRandom([1 - Math.exp(-1)])), 500);
    assert.equal(exponentialGapMs(2, scriptedRandom([0])), 0);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => poissonSchedule(0, 1000, secureRandom), /rate must be/);
    assert.throws(() => poissonSchedule(Number.NaN, 1000, secureRandom), /rate must be/);
  });
});
