import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EnrollmentDirectory, type EnrollmentReading, readEnrollmentFolder } from './enrollment.ts';

const KEY_A = 'a1'.repeat(32);
const KEY_B = 'b2'.repeat(32);

describe('readEnrollmentFolder', () => {
  let folder: string;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'mixlab-enrollment-'));
  });
  after(() => rm(folder, { recursive: true, force: true }));

  it('reads one key per <id>.pub, lowercased, and names the files it cannot use', async () => {
    await writeFile(join(folder, 'gateway-1.pub'), `${KEY_A.toUpperCase()}\n`);
    await writeFile(join(folder, 'mix-1.pub'), KEY_B);
    await writeFile(join(folder, 'mix-2.pub'), 'short');
    await writeFile(join(folder, 'bad id!.pub'), KEY_A);
    await writeFile(join(folder, 'mix-3.pub.1234.abcd.tmp'), KEY_A); // a writer's temporary file
    await writeFile(join(folder, 'README'), 'not a key');
    const reading = await readEnrollmentFolder(folder);
    assert.deepEqual(
      [...reading.keys],
      [
        ['gateway-1', KEY_A],
        ['mix-1', KEY_B],
      ],
    );
    assert.deepEqual(reading.problems, [
      'bad id!.pub: bad id! is not a valid id (^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$)',
      'mix-2.pub: must hold one Ed25519 public key as 64 hex characters',
    ]);
  });

  it('enrolls no one when the folder is missing, and says so', async () => {
    const reading = await readEnrollmentFolder(join(folder, 'missing'));
    assert.equal(reading.keys.size, 0);
    assert.match(reading.problems[0] ?? '', /missing cannot be read \(ENOENT\): no one is enrolled/);
  });
});

describe('EnrollmentDirectory', () => {
  /** An enrollment over `keys`, counting its readings, on a clock the test sets. */
  function setup(keys: Map<string, string>) {
    const clock = { nowMs: 0 };
    let readings = 0;
    let release: () => void = () => {};
    let gate: Promise<void> | undefined;
    const told: [EnrollmentReading, boolean][] = [];
    const slept: number[] = [];
    const enrollment = new EnrollmentDirectory({
      read: async () => {
        readings++;
        const snapshot = new Map(keys); // what the folder holds when the reading begins
        await gate;
        return { keys: snapshot, problems: [] };
      },
      now: () => clock.nowMs,
      minRereadMs: 500,
      sleep: async (ms) => {
        slept.push(ms);
        clock.nowMs += ms;
      },
      onReading: (reading, changed) => told.push([reading, changed]),
    });
    const hold = () => {
      gate = new Promise((resolve) => {
        release = resolve;
      });
    };
    return { enrollment, clock, readings: () => readings, hold, release: () => release(), told, slept };
  }

  it('admits an id only with its enrolled key', async () => {
    const { enrollment } = setup(new Map([['mix-1', KEY_A]]));
    assert.equal(enrollment.isEnrolled('mix-1', KEY_A), false, 'nothing before the first reading');
    assert.equal(await enrollment.reload(), true);
    assert.equal(enrollment.isEnrolled('mix-1', KEY_A), true);
    assert.equal(enrollment.isEnrolled('mix-1', KEY_B), false);
    assert.equal(enrollment.isEnrolled('mix-2', KEY_A), false);
    assert.equal(enrollment.enrolledKey('mix-1'), KEY_A);
  });

  it('reads at most once per minRereadMs (a caller too soon waits), and callers waiting share a reading', async () => {
    const keys = new Map([['mix-1', KEY_A]]);
    const { enrollment, clock, readings, hold, release, told, slept } = setup(keys);
    await enrollment.reload();
    keys.set('mix-2', KEY_B);
    clock.nowMs = 400;
    assert.equal(await enrollment.reload(), true, 'read after waiting');
    assert.deepEqual(slept, [100]);
    assert.equal(clock.nowMs, 500);
    assert.equal(enrollment.isEnrolled('mix-2', KEY_B), true);
    clock.nowMs = 1_000;
    hold();
    const underway = enrollment.reload();
    await new Promise(setImmediate);
    assert.equal(readings(), 3, 'begun');
    // Begun before these two calls: they wait for the next reading, and share it.
    keys.set('mix-3', KEY_A);
    const first = enrollment.reload();
    const second = enrollment.reload();
    release();
    assert.equal(await underway, false);
    hold();
    release();
    assert.deepEqual(await Promise.all([first, second]), [true, true]);
    assert.equal(readings(), 4);
    assert.equal(enrollment.isEnrolled('mix-3', KEY_A), true);
    assert.deepEqual(
      told.map(([reading, changed]) => [reading.keys.size, changed]),
      [
        [1, true],
        [2, true],
        [3, true],
      ],
    );
  });
});
