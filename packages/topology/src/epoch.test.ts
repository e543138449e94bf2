import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EpochClock, epochAt, epochEnd, epochScheduleProblems, epochStart } from './epoch.ts';

const schedule = { genesisMs: 1_000_000, lengthMs: 60_000 };

describe('epochAt', () => {
  it('numbers epochs from 0 at genesis, changing exactly at each boundary', () => {
    assert.equal(epochAt(1_000_000, schedule), 0);
    assert.equal(epochAt(1_059_999, schedule), 0);
    assert.equal(epochAt(1_060_000, schedule), 1);
    assert.equal(epochAt(1_119_999, schedule), 1);
    assert.equal(epochAt(1_120_000, schedule), 2);
  });

  it('is exact for large times and lengths that do not divide them', () => {
    const odd = { genesisMs: 0, lengthMs: 7 };
    const max = Number.MAX_SAFE_INTEGER; // 2^53 - 1 = 7 * 1286742750677284 + 3
    assert.equal(epochAt(max, odd), 1286742750677284);
    assert.equal(epochAt(max - 3, odd), 1286742750677284);
    assert.equal(epochAt(max - 4, odd), 1286742750677283);
    const late = { genesisMs: max - 10, lengthMs: 5 };
    assert.equal(epochAt(max - 6, late), 0);
    assert.equal(epochAt(max - 5, late), 1);
    assert.equal(epochAt(max, late), 2);
  });

  it('refuses a time before genesis with a reason', () => {
    assert.throws(() => epochAt(999_999, schedule), {
      name: 'RangeError',
      message: 'time 999999 is before genesis 1000000: check the clock or the configured genesis',
    });
  });

  it('refuses a non-integer time and an invalid schedule', () => {
    assert.throws(() => epochAt(1_000_000.5, schedule), { name: 'RangeError' });
    assert.throws(() => epochAt(1_000_000, { genesisMs: 0, lengthMs: 0 }), {
      name: 'RangeError',
      message: 'invalid epoch schedule: lengthMs must be a positive integer of ms, got 0',
    });
  });
});

describe('epochStart and epochEnd', () => {
  it('bound each epoch as a half-open interval that the next epoch continues', () => {
    for (const epoch of [0, 1, 2, 1000]) {
      const start = epochStart(epoch, schedule);
      const end = epochEnd(epoch, schedule);
      assert.equal(start, 1_000_000 + epoch * 60_000);
      assert.equal(end, start + 60_000);
      assert.equal(epochAt(start, schedule), epoch);
      assert.equal(epochAt(end - 1, schedule), epoch);
      assert.equal(epochAt(end, schedule), epoch + 1);
      assert.equal(epochStart(epoch + 1, schedule), end);
    }
  });

  it('refuses a negative or fractional epoch and one beyond representable time', () => {
    assert.throws(() => epochStart(-1, schedule), {
      name: 'RangeError',
      message: 'epoch must be an integer >= 0, got -1',
    });
    assert.throws(() => epochStart(0.5, schedule), { name: 'RangeError' });
    assert.throws(() => epochStart(Number.MAX_SAFE_INTEGER, schedule), {
      name: 'RangeError',
      message: `epoch ${Number.MAX_SAFE_INTEGER} starts beyond the representable time`,
    });
  });
});

describe('epochScheduleProblems', () => {
  it('accepts a valid schedule and names every problem of an invalid one', () => {
    assert.deepEqual(epochScheduleProblems(schedule), []);
    assert.deepEqual(epochScheduleProblems({ genesisMs: -1, lengthMs: 1.5 }), [
      'genesisMs must be a non-negative integer of ms, got -1',
      'lengthMs must be a positive integer of ms, got 1.5',
    ]);
  });
});

describe('EpochClock', () => {
  it('reads the current epoch and the time left in it from the injected clock', () => {
    let now = 1_000_000;
    const clock = new EpochClock(schedule, () => now);
    assert.equal(clock.current(), 0);
    assert.equal(clock.msUntilNextEpoch(), 60_000);
    now = 1_059_999;
    assert.equal(clock.current(), 0);
    assert.equal(clock.msUntilNextEpoch(), 1);
    now = 1_060_000;
    assert.equal(clock.current(), 1);
    assert.equal(clock.msUntilNextEpoch(), 60_000);
    assert.equal(clock.startOf(3), 1_180_000);
    assert.equal(clock.endOf(3), 1_240_000);
  });

  it('refuses an invalid schedule when built', () => {
    assert.throws(() => new EpochClock({ genesisMs: 0, lengthMs: -5 }), { name: 'RangeError' });
  });
});
