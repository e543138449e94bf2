import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { ManualClock } from '@mixlab/runtime';
import type { KeySchedule } from './key-schedule.ts';
import { type KeyChange, MixingKeys } from './mixing-keys.ts';

const GENESIS = 1_700_000_000_000;
const schedule: KeySchedule = {
  epochs: { genesisMs: GENESIS, lengthMs: 10_000 },
  graceMs: 2_000,
  nextKeyWindowMs: 1_000,
};

const publicKeys = (keys: MixingKeys) =>
  Object.fromEntries([...keys.keySet().byEpoch].map(([epoch, pair]) => [epoch, toHex(pair.publicKey)]));
const published = (keys: MixingKeys) => Object.fromEntries(keys.published().map((key) => [key.epoch, key.publicKey]));
const peeling = (keys: MixingKeys) => [...keys.keySet().byEpoch.keys()];

describe('MixingKeys', () => {
  before(cryptoReady);

  it('holds fresh key pairs for the current and next epochs, publishes both, peels with the next only in its window', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000 + 1_000); // within the grace: still no key for 4
    const keys = new MixingKeys(schedule, clock);
    assert.equal(keys.current, 5);
    assert.deepEqual(peeling(keys), [5], 'the next key does not peel before its window');
    const held = published(keys);
    assert.deepEqual(Object.keys(held), ['5', '6']);
    assert.notEqual(held[5], held[6]);
    assert.equal(toHex((keys.keySet().byEpoch.get(5) as { publicKey: Uint8Array }).publicKey), held[5]);
    assert.equal(keys.update(), undefined, 'nothing changes within the epoch');
    clock.advance(7_999);
    assert.equal(keys.update(), undefined, 'the window opens 1 s before the boundary');
    clock.advance(1);
    assert.deepEqual(keys.update(), { rotated: false, added: [], dropped: [], nextKeyOpened: true });
    assert.deepEqual(publicKeys(keys), held, 'current first, then the next key, the one published');
  });

  it('at the boundary the published next key becomes current, a new next is made, the old one kept for the grace', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000 + 9_999);
    const keys = new MixingKeys(schedule, clock);
    const before = publicKeys(keys);
    clock.advance(1);
    assert.deepEqual(keys.update(), { rotated: true, added: [7], dropped: [], nextKeyOpened: false });
    const after = publicKeys(keys);
    assert.deepEqual(peeling(keys), [6, 5], 'peel order: current, previous; the new next is not in its window');
    assert.equal(after[6], before[6], 'the key published ahead is the one used in its epoch');
    assert.equal(after[5], before[5], 'the previous key is still held');
    assert.deepEqual(
      keys.published().map((key) => key.epoch),
      [6, 7],
    );
    clock.advance(1_999);
    assert.equal(keys.update(), undefined, 'still within the grace period');
    clock.advance(1);
    assert.deepEqual(keys.update(), { rotated: false, added: [], dropped: [5], nextKeyOpened: false });
    assert.deepEqual(peeling(keys), [6]);
  });

  it('after a jump of several epochs holds only new keys', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000);
    const keys = new MixingKeys(schedule, clock);
    clock.advance(30_000);
    assert.deepEqual(keys.update(), { rotated: true, added: [8, 9], dropped: [5, 6], nextKeyOpened: false });
    assert.deepEqual(peeling(keys), [8], 'epoch 7 is in its grace period, but was never made');
    assert.deepEqual(Object.keys(published(keys)), ['8', '9']);
  });

  it('start() updates at every window opening, boundary and grace expiry, and stop() leaves no timer', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000 + 4_000);
    const keys = new MixingKeys(schedule, clock);
    const changes: { at: number; change: KeyChange; current: number }[] = [];
    keys.start((change) => changes.push({ at: clock.now() - GENESIS, change, current: keys.current }));
    assert.equal(clock.pendingTimers, 1);
    // To 79 000: windows open at 59 000, 69 000 and 79 000, boundaries at 60 000 and 70 000, grace ends at 62 000 and 72 000.
    clock.advance(25_000);
    const opened = { rotated: false, added: [], dropped: [], nextKeyOpened: true };
    assert.deepEqual(changes, [
      { at: 59_000, change: opened, current: 5 },
      { at: 60_000, change: { rotated: true, added: [7], dropped: [], nextKeyOpened: false }, current: 6 },
      { at: 62_000, change: { rotated: false, added: [], dropped: [5], nextKeyOpened: false }, current: 6 },
      { at: 69_000, change: opened, current: 6 },
      { at: 70_000, change: { rotated: true, added: [8], dropped: [], nextKeyOpened: false }, current: 7 },
      { at: 72_000, change: { rotated: false, added: [], dropped: [6], nextKeyOpened: false }, current: 7 },
      { at: 79_000, change: opened, current: 7 },
    ]);
    keys.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses an invalid key schedule', () => {
    const clock = new ManualClock(GENESIS);
    assert.throws(() => new MixingKeys({ ...schedule, graceMs: 10_000 }, clock), /invalid key schedule/);
  });
});
