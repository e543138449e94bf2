import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { ManualClock } from '@mixlab/runtime';
import type { KeySchedule } from './key-schedule.ts';
import { type KeyChange, MixingKeys } from './mixing-keys.ts';

const GENESIS = 1_700_000_000_000;
const schedule: KeySchedule = { epochs: { genesisMs: GENESIS, lengthMs: 10_000 }, graceMs: 2_000 };

const publicKeys = (keys: MixingKeys) =>
  Object.fromEntries([...keys.keySet().byEpoch].map(([epoch, pair]) => [epoch, toHex(pair.publicKey)]));

describe('MixingKeys', () => {
  before(cryptoReady);

  it('holds fresh key pairs for the current and next epochs and publishes both', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000 + 1_000); // within the grace: still no key for 4
    const keys = new MixingKeys(schedule, clock);
    assert.equal(keys.current, 5);
    const held = publicKeys(keys);
    assert.deepEqual(Object.keys(held), ['5', '6'], 'current first');
    assert.notEqual(held[5], held[6]);
    assert.deepEqual(keys.published(), [
      { epoch: 5, publicKey: held[5] },
      { epoch: 6, publicKey: held[6] },
    ]);
    assert.equal(keys.update(), undefined, 'nothing changes within the epoch');
  });

  it('at the boundary the published next key becomes current, a new next is made, the old one kept for the grace', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000 + 9_999);
    const keys = new MixingKeys(schedule, clock);
    const before = publicKeys(keys);
    clock.advance(1);
    assert.deepEqual(keys.update(), { rotated: true, added: [7], dropped: [] });
    const after = publicKeys(keys);
    assert.deepEqual([...keys.keySet().byEpoch.keys()], [6, 5, 7], 'peel order: current, previous, next');
    assert.equal(after[6], before[6], 'the key published ahead is the one used in its epoch');
    assert.equal(after[5], before[5], 'the previous key is still held');
    assert.deepEqual(
      keys.published().map((key) => key.epoch),
      [6, 7],
    );
    clock.advance(1_999);
    assert.equal(keys.update(), undefined, 'still within the grace period');
    clock.advance(1);
    assert.deepEqual(keys.update(), { rotated: false, added: [], dropped: [5] });
    assert.deepEqual([...keys.keySet().byEpoch.keys()], [6, 7]);
  });

  it('after a jump of several epochs holds only new keys', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000);
    const keys = new MixingKeys(schedule, clock);
    clock.advance(30_000);
    assert.deepEqual(keys.update(), { rotated: true, added: [8, 9], dropped: [5, 6] });
    assert.deepEqual([...keys.keySet().byEpoch.keys()], [8, 9], 'epoch 7 is in its grace period, but was never made');
  });

  it('start() updates at every boundary and grace expiry, and stop() leaves no timer', () => {
    const clock = new ManualClock(GENESIS + 5 * 10_000 + 4_000);
    const keys = new MixingKeys(schedule, clock);
    const changes: { at: number; change: KeyChange; current: number }[] = [];
    keys.start((change) => changes.push({ at: clock.now() - GENESIS, change, current: keys.current }));
    assert.equal(clock.pendingTimers, 1);
    clock.advance(25_000); // to 79 000: boundaries at 60 000 and 70 000, grace ends at 62 000 and 72 000
    assert.deepEqual(changes, [
      { at: 60_000, change: { rotated: true, added: [7], dropped: [] }, current: 6 },
      { at: 62_000, change: { rotated: false, added: [], dropped: [5] }, current: 6 },
      { at: 70_000, change: { rotated: true, added: [8], dropped: [] }, current: 7 },
      { at: 72_000, change: { rotated: false, added: [], dropped: [6] }, current: 7 },
    ]);
    keys.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses an invalid key schedule', () => {
    const clock = new ManualClock(GENESIS);
    assert.throws(() => new MixingKeys({ ...schedule, graceMs: 10_000 }, clock), /invalid key schedule/);
  });
});
