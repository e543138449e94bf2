import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultGraceMs,
  defaultNextKeyWindowMs,
  heldKeyEpochs,
  type KeySchedule,
  keyLifetimeMs,
  keyRole,
  keyScheduleProblems,
  nextKeyChangeAt,
  peelableEpochs,
  peelOrder,
} from './key-schedule.ts';

// Epochs of 1 s from genesis 1 000 000 ms; the previous key lives 250 ms into the next epoch,
// the next key peels from 100 ms before its epoch.
const schedule: KeySchedule = { epochs: { genesisMs: 1_000_000, lengthMs: 1_000 }, graceMs: 250, nextKeyWindowMs: 100 };
const at = (epoch: number, offsetMs = 0) => 1_000_000 + epoch * 1_000 + offsetMs;

describe('key schedule', () => {
  it('holds only the current and next keys in epoch 0 (there is no previous one)', () => {
    assert.deepEqual(heldKeyEpochs(at(0), schedule), { current: 0, next: 1 });
    assert.deepEqual(heldKeyEpochs(at(0, 100), schedule), { current: 0, next: 1 });
  });

  it('at a boundary: the next key becomes current, a new next appears, the old current stays for the grace period', () => {
    assert.deepEqual(heldKeyEpochs(at(6, 999), schedule), { current: 6, next: 7 });
    assert.deepEqual(heldKeyEpochs(at(7), schedule), { current: 7, next: 8, previous: 6 });
  });

  it('drops the previous key exactly graceMs after the boundary', () => {
    assert.deepEqual(heldKeyEpochs(at(7, 249), schedule), { current: 7, next: 8, previous: 6 });
    assert.deepEqual(heldKeyEpochs(at(7, 250), schedule), { current: 7, next: 8 });
    assert.deepEqual(heldKeyEpochs(at(7, 999), schedule), { current: 7, next: 8 });
  });

  it('with no grace period, never holds a previous key', () => {
    const noGrace = { ...schedule, graceMs: 0 };
    assert.deepEqual(heldKeyEpochs(at(7), noGrace), { current: 7, next: 8 });
    assert.equal(nextKeyChangeAt(at(7), noGrace), at(7, 900));
  });

  it('tells when the held or peelable set changes next: the grace expiry, the window opening, the boundary', () => {
    assert.equal(nextKeyChangeAt(at(0), schedule), at(0, 900), 'epoch 0 has no grace period');
    assert.equal(nextKeyChangeAt(at(7), schedule), at(7, 250));
    assert.equal(nextKeyChangeAt(at(7, 249), schedule), at(7, 250));
    assert.equal(nextKeyChangeAt(at(7, 250), schedule), at(7, 900));
    assert.equal(nextKeyChangeAt(at(7, 900), schedule), at(8));
    assert.equal(nextKeyChangeAt(at(7, 999), schedule), at(8));
    assert.equal(nextKeyChangeAt(at(7, 300), { ...schedule, nextKeyWindowMs: 0 }), at(8));
    const overlapping = { ...schedule, graceMs: 600, nextKeyWindowMs: 500 };
    assert.equal(nextKeyChangeAt(at(7, 100), overlapping), at(7, 500), 'the window opens during the grace period');
    assert.equal(nextKeyChangeAt(at(7, 500), overlapping), at(7, 600));
    assert.deepEqual(peelableEpochs(at(7, 550), overlapping), [7, 6, 8]);
  });

  it('peels with the next key only in its window before the boundary: a packet for it is undecryptable earlier', () => {
    assert.deepEqual(peelableEpochs(at(7), schedule), [7, 6]);
    assert.deepEqual(peelableEpochs(at(7, 250), schedule), [7]);
    assert.deepEqual(peelableEpochs(at(7, 899), schedule), [7]);
    assert.deepEqual(peelableEpochs(at(7, 900), schedule), [7, 8]);
    assert.deepEqual(peelableEpochs(at(7, 999), schedule), [7, 8]);
    assert.deepEqual(peelableEpochs(at(8), schedule), [8, 7]);
    assert.deepEqual(peelableEpochs(at(7, 999), { ...schedule, nextKeyWindowMs: 0 }), [7]);
    assert.deepEqual(heldKeyEpochs(at(7, 500), schedule), { current: 7, next: 8 }, 'held and published all along');
    assert.equal(keyLifetimeMs(schedule), 1_350, 'window, epoch and grace: what a replay filter plans for');
  });

  it('peels with the current key first, then the previous, then the next', () => {
    assert.deepEqual(peelOrder({ current: 7, next: 8, previous: 6 }), [7, 6, 8]);
    assert.deepEqual(peelOrder({ current: 7, next: 8 }), [7, 8]);
    assert.equal(keyRole(7, 7), 'current');
    assert.equal(keyRole(6, 7), 'previous');
    assert.equal(keyRole(8, 7), 'next');
  });

  it('defaults the grace period to a quarter of the epoch, at most a minute', () => {
    assert.equal(defaultGraceMs(600_000), 60_000);
    assert.equal(defaultGraceMs(120_000), 30_000);
    assert.equal(defaultGraceMs(1_001), 250);
  });

  it('defaults the next-key window to a tenth of the epoch, at most 30 seconds', () => {
    assert.equal(defaultNextKeyWindowMs(600_000), 30_000);
    assert.equal(defaultNextKeyWindowMs(120_000), 12_000);
    assert.equal(defaultNextKeyWindowMs(1_001), 100);
  });

  it('refuses a grace period or window that is negative or not shorter than an epoch, and a bad epoch schedule', () => {
    assert.deepEqual(keyScheduleProblems(schedule), []);
    assert.match(keyScheduleProblems({ ...schedule, graceMs: 1_000 }).join(), /graceMs must be an integer from 0 to/);
    assert.match(keyScheduleProblems({ ...schedule, graceMs: -1 }).join(), /graceMs/);
    assert.match(keyScheduleProblems({ ...schedule, graceMs: 1.5 }).join(), /graceMs/);
    assert.match(keyScheduleProblems({ ...schedule, nextKeyWindowMs: 1_000 }).join(), /nextKeyWindowMs must be/);
    assert.match(keyScheduleProblems({ ...schedule, nextKeyWindowMs: -1 }).join(), /nextKeyWindowMs/);
    assert.match(
      keyScheduleProblems({ epochs: { genesisMs: 0, lengthMs: 0 }, graceMs: 0, nextKeyWindowMs: 0 }).join(),
      /lengthMs must be a positive integer/,
    );
  });

  it('throws before genesis', () => {
    assert.throws(() => heldKeyEpochs(999_999, schedule), /before genesis/);
  });
});
