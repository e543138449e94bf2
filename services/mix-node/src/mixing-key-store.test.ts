import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { DatabaseFileError, ManualClock } from '@mixlab/runtime';
import type { KeySchedule } from './key-schedule.ts';
import { mixingKeysPath, SqliteMixingKeyStore } from './mixing-key-store.ts';
import { MixingKeys } from './mixing-keys.ts';

const GENESIS = 1_700_000_000_000;
const schedule: KeySchedule = {
  epochs: { genesisMs: GENESIS, lengthMs: 10_000 },
  graceMs: 2_000,
  nextKeyWindowMs: 1_000,
};
const at = (epoch: number, offsetMs: number) => GENESIS + epoch * 10_000 + offsetMs;
const moveTo = (clock: ManualClock, ms: number) => clock.advance(ms - clock.now());

/** Every key a node holds by epoch: those that peel now and the published next one (it peels only in its window). */
const publicKeys = (keys: MixingKeys) => ({
  ...Object.fromEntries([...keys.keySet().byEpoch].map(([epoch, pair]) => [epoch, toHex(pair.publicKey)])),
  ...Object.fromEntries(keys.published().map(({ epoch, publicKey }) => [epoch, publicKey])),
});

describe('mixing keys on disk', () => {
  let root: string;
  let nodes = 0;
  before(async () => {
    await cryptoReady();
    root = await mkdtemp(join(tmpdir(), 'mixlab-mixing-keys-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A node's key file of its own, and a way to (re)start the node's keys on it at `clock`. */
  function node() {
    const path = mixingKeysPath(root, `mix-1-node${++nodes}`);
    const stores: SqliteMixingKeyStore[] = [];
    return {
      path,
      start(clock: ManualClock): MixingKeys {
        stores.at(-1)?.close(); // the previous process is gone
        const { store } = SqliteMixingKeyStore.open(path);
        stores.push(store);
        return new MixingKeys(schedule, clock, { store });
      },
      stored(): number[] {
        const { store } = SqliteMixingKeyStore.open(path);
        const epochs = [...store.load().keys()];
        store.close();
        return epochs;
      },
    };
  }

  it('a node restarted within the epoch takes back its current and next keys (file 0600), makes none', async () => {
    const n = node();
    const clock = new ManualClock(at(5, 4_000));
    const first = n.start(clock);
    assert.deepEqual(first.restored, []);
    const before = publicKeys(first);
    assert.equal((await stat(n.path)).mode & 0o777, 0o600);
    clock.advance(3_000);
    const again = n.start(clock);
    assert.deepEqual(again.restored, [5, 6]);
    assert.deepEqual(publicKeys(again), before);
    assert.deepEqual(again.published(), first.published(), 'it publishes the same keys again');
  });

  it('restarted just after a boundary, it takes back the previous key for the grace and the new current one', () => {
    const n = node();
    const clock = new ManualClock(at(5, 9_500));
    const before = publicKeys(n.start(clock));
    moveTo(clock, at(6, 1_000)); // down across the boundary, back within the grace
    const again = n.start(clock);
    assert.deepEqual(again.restored, [6, 5], 'current (published as next before), then previous');
    const after = publicKeys(again);
    assert.equal(after[5], before[5]);
    assert.equal(after[6], before[6]);
    assert.ok(after[7] && after[7] !== before[6], 'a new next key');
    assert.deepEqual(n.stored(), [5, 6, 7]);
  });

  it('restarted after the grace, or epochs later, it deletes the keys it no longer holds', () => {
    const n = node();
    const clock = new ManualClock(at(5, 9_500));
    n.start(clock);
    moveTo(clock, at(6, 2_000));
    assert.deepEqual(n.start(clock).restored, [6]);
    assert.deepEqual(n.stored(), [6, 7]);
    moveTo(clock, at(9, 5_000));
    assert.deepEqual(n.start(clock).restored, []);
    assert.deepEqual(n.stored(), [9, 10]);
  });

  it('deletes a dropped key from the file and its WAL, not only from the table', async () => {
    const n = node();
    const clock = new ManualClock(at(5, 9_000));
    const keys = n.start(clock);
    const old = keys.keySet().byEpoch.get(5)!.privateKey;
    moveTo(clock, at(6, 0));
    keys.update();
    const onDisk = async () =>
      Buffer.concat([await readFile(n.path), await readFile(`${n.path}-wal`).catch(() => Buffer.alloc(0))]);
    assert.ok((await onDisk()).includes(Buffer.from(old)), 'held during the grace: on disk');
    moveTo(clock, at(6, 2_000));
    assert.deepEqual(keys.update(), { rotated: false, added: [], dropped: [5], nextKeyOpened: false });
    assert.deepEqual(n.stored(), [6, 7]);
    assert.ok(!(await onDisk()).includes(Buffer.from(old)), 'the dropped private key is nowhere in the files');
  });

  it('refuses a file whose row is not a key pair, naming the file and the epoch', () => {
    const n = node();
    n.start(new ManualClock(at(5, 0)));
    const db = new DatabaseSync(n.path);
    db.exec('UPDATE mixing_keys SET public_key = zeroblob(32) WHERE epoch = 6');
    db.close();
    assert.throws(
      () => n.start(new ManualClock(at(5, 1))),
      (error: Error) =>
        error instanceof DatabaseFileError &&
        error.message.startsWith(`${n.path} holds no usable mixing key for epoch 6`),
    );
  });

  it('keeps using a new key the store failed to save, and says so in the change', () => {
    const n = node();
    const clock = new ManualClock(at(5, 9_000));
    const keys = n.start(clock);
    const db = new DatabaseSync(n.path);
    db.exec("CREATE TRIGGER fail BEFORE INSERT ON mixing_keys BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    db.close();
    moveTo(clock, at(6, 0));
    const change = keys.update();
    assert.deepEqual(
      { ...change, saveError: undefined },
      { rotated: true, added: [7], dropped: [], nextKeyOpened: false, saveError: undefined },
    );
    assert.match(String(change?.saveError), /disk I\/O error/);
    assert.deepEqual([...keys.keySet().byEpoch.keys()], [6, 5], 'epoch 7 peels only in its window');
    assert.deepEqual(
      keys.published().map((key) => key.epoch),
      [6, 7],
    );
    assert.deepEqual(n.stored(), [5, 6]);
  });
});
