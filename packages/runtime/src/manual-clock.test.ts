import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from './manual-clock.ts';
import { seededRandom } from './random.ts';

describe('ManualClock', () => {
  it('fires timers in due order during advance, at their due time', () => {
    const clock = new ManualClock();
    const fired: [string, number][] = [];
    const record = (name: string) => () => fired.push([name, clock.now()]);
    clock.schedule(300, record('c'));
    clock.schedule(100, record('a'));
    clock.schedule(200, record('b'));
    clock.schedule(200, record('b2')); // same due time: scheduling order
    clock.advance(250);
    assert.deepEqual(fired, [
      ['a', 100],
      ['b', 200],
      ['b2', 200],
    ]);
    assert.equal(clock.now(), 250);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(50);
    assert.deepEqual(fired.at(-1), ['c', 300]);
    assert.equal(clock.pendingTimers, 0);
  });

  it('does not fire a timer before its due time', () => {
    const clock = new ManualClock();
    let fired = 0;
    clock.schedule(10, () => fired++);
    clock.advance(9);
    assert.equal(fired, 0);
    clock.advance(1);
    assert.equal(fired, 1);
  });

  it('cancel removes a timer, and cancelling twice is harmless', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const cancelA = clock.schedule(100, () => fired.push('a'));
    clock.schedule(100, () => fired.push('b'));
    cancelA();
    cancelA();
    clock.advance(1000);
    assert.deepEqual(fired, ['b']);
  });

  it('fires a timer scheduled from inside a timer if it falls due within the same advance', () => {
    const clock = new ManualClock();
    const fired: [string, number][] = [];
    clock.schedule(100, () => {
      fired.push(['outer', clock.now()]);
      clock.schedule(0, () => fired.push(['immediate', clock.now()]));
      clock.schedule(50, () => fired.push(['inner', clock.now()]));
      clock.schedule(500, () => fired.push(['later', clock.now()]));
    });
    clock.advance(200);
    assert.deepEqual(fired, [
      ['outer', 100],
      ['immediate', 100],
      ['inner', 150],
    ]);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(400);
    assert.deepEqual(fired.at(-1), ['later', 600]);
  });

  it('treats a negative delay as zero', () => {
    const clock = new ManualClock();
    clock.advance(10);
    let at = -1;
    clock.schedule(-5, () => {
      at = clock.now();
    });
    clock.advance(0);
    assert.equal(at, 10);
  });

  it('cancelling a timer that already fired changes nothing', () => {
    const clock = new ManualClock();
    const cancel = clock.schedule(1, () => {});
    clock.schedule(5, () => {});
    clock.advance(2);
    cancel();
    assert.equal(clock.pendingTimers, 1);
  });

  it('property: thousands of timers with ties and cancellations fire in (due, scheduled) order', () => {
    const random = seededRandom(8);
    const clock = new ManualClock();
    const fired: { id: number; at: number }[] = [];
    const expected: { id: number; at: number }[] = [];
    for (let id = 0; id < 3000; id++) {
      const delay = random.int(500); // many ties
      const cancel = clock.schedule(delay, () => fired.push({ id, at: clock.now() }));
      if (random.int(3) === 0) cancel();
      else expected.push({ id, at: delay });
    }
    assert.equal(clock.pendingTimers, expected.length);
    expected.sort((a, b) => a.at - b.at || a.id - b.id);
    while (clock.pendingTimers > 0) clock.advance(random.int(20));
    assert.deepEqual(fired, expected);
  });
});
