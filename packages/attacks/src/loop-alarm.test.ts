import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@mixlab/runtime';
import { expectedLoopAlarmDelayMs, LoopLossWindow, loopLossAlarm, simulateLoopAlarm } from './loop-alarm.ts';

const alarm = { timeoutMs: 1000, window: 4, threshold: 0.5 };

describe('loopLossAlarm', () => {
  it('fires when half of the last four resolved loops were lost, at the second loss', () => {
    const loops = [
      { sentAtMs: 0, returnedAtMs: 200 },
      { sentAtMs: 100, returnedAtMs: 300 },
      { sentAtMs: 200, returnedAtMs: 400 },
      { sentAtMs: 300, returnedAtMs: 500 },
      { sentAtMs: 400 }, // lost at 1400
      { sentAtMs: 500, returnedAtMs: 1600 }, // back too late: lost at 1500
      { sentAtMs: 600, returnedAtMs: 800 },
    ];
    assert.deepEqual(loopLossAlarm(loops, alarm), { firesAtMs: 1500, lost: 2, resolved: 7 });
  });

  it('stays quiet while the window is not full or the losses are few', () => {
    assert.equal(loopLossAlarm([{ sentAtMs: 0 }, { sentAtMs: 1 }], alarm).firesAtMs, undefined);
    // One loop in four lost, each resolved before the next is sent: never two losses in a window of four.
    const loops = Array.from({ length: 20 }, (_, i) =>
      i % 4 === 0 ? { sentAtMs: i * 2000 } : { sentAtMs: i * 2000, returnedAtMs: i * 2000 + 10 },
    );
    assert.equal(loopLossAlarm(loops, alarm).firesAtMs, undefined);
  });

  it('rejects a window or threshold that cannot work', () => {
    assert.throws(() => loopLossAlarm([], { ...alarm, window: 0 }), /window/);
    assert.throws(() => loopLossAlarm([], { ...alarm, threshold: 0 }), /threshold/);
  });
});

describe('LoopLossWindow', () => {
  it('fires once the full window holds enough losses, and clears as returns push them out', () => {
    const window = new LoopLossWindow(alarm);
    assert.equal(window.lossRatio, 0);
    assert.deepEqual(
      [true, true].map((lost) => window.record(lost)),
      [false, false],
      'not full yet',
    );
    assert.equal(window.lossRatio, 1);
    assert.equal(window.record(false), false);
    assert.equal(window.record(false), true, 'two of the last four lost');
    assert.equal(window.lossRatio, 0.5);
    assert.equal(window.record(false), false, 'the first loss left the window');
    assert.equal(window.lossRatio, 0.25);
    assert.equal(window.record(true), false, 'last four: in, in, in, lost');
    assert.equal(window.record(true), true);
    assert.equal(window.record(false), true, 'still two losses among the last four');
    assert.equal(window.record(false), true);
    assert.equal(window.record(false), false);
  });
});

describe('how fast the alarm catches an n − 1 attack', () => {
  const options = { timeoutMs: 5000, window: 10, threshold: 0.5 };
  for (const loopRatePerSecond of [0.5, 2, 10]) {
    it(`fires after timeout − round trip + k/λ at ${loopRatePerSecond} loops/s (seeded trials)`, () => {
      const expected = expectedLoopAlarmDelayMs(loopRatePerSecond, 1500, options);
      assert.equal(expected, 5000 - 1500 + (5 * 1000) / loopRatePerSecond);
      const attackStartMs = 30_000 + (2 * options.window * 1000) / loopRatePerSecond;
      const result = simulateLoopAlarm(
        seededRandom(9),
        { loopRatePerSecond, roundTripMs: 1500, attackStartMs, endMs: attackStartMs + 60_000, trials: 2000 },
        options,
      );
      assert.equal(result.falseAlarms, 0);
      assert.ok(result.delaysMs.every((d) => d !== undefined && d > 0));
      // The k-th loss comes a Gamma(5, λ) time after the start: standard deviation √5/λ, over 2000 trials.
      const standardError = (Math.sqrt(5) * 1000) / loopRatePerSecond / Math.sqrt(2000);
      assert.ok(Math.abs(result.meanDelayMs - expected) < 4 * standardError, `${result.meanDelayMs} vs ${expected}`);
    });
  }
});
