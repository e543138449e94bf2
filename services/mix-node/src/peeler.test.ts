import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import type { MixingKeySet } from './mixing-keys.ts';
import {
  InlinePeeler,
  leastBusy,
  measurePeelRate,
  type Peeler,
  type PeelerOptions,
  type PeelResult,
  WorkerPeeler,
} from './peeler.ts';
import { singleKeySet, TEST_REPLAY } from './test-support.ts';

const next = () => generateKeyPair();
/** A Sphinx packet whose first hop is the holder of `key`. */
function packetFor(key: KeyPair, message = 0): Uint8Array {
  const onward = generateKeyPair();
  return sphinx.wrap(
    [
      { id: 'mix-1', publicKey: key.publicKey },
      { id: 'mix-2', publicKey: onward.publicKey },
    ],
    { gateway: 'gateway-1', recipient: onward.publicKey },
    new Uint8Array([message]),
  );
}
const summary = (results: PeelResult[]) =>
  results.map((result) => (result.ok ? `${result.key}:${result.epoch}` : result.reason));

describe('peelers', () => {
  let self: KeyPair;
  let options: PeelerOptions;
  let packets: Uint8Array[];
  let workers: WorkerPeeler;

  before(async () => {
    await cryptoReady();
    self = generateKeyPair();
    options = { format: 'sphinx', keys: singleKeySet(self, 3), replay: TEST_REPLAY, maxPacketBytes: 4096 };
    const good = Array.from({ length: 8 }, (_, i) => packetFor(self, i));
    const tampered = Uint8Array.from(good[0] as Uint8Array);
    tampered[40] = (tampered[40] as number) ^ 1;
    packets = [...good, tampered, new Uint8Array(5000), new Uint8Array(10)];
    workers = new WorkerPeeler(options, 2);
  });

  after(async () => {
    await workers.close();
  });

  it('worker threads peel exactly what the inline peeler does, results in request order', async () => {
    const inline = await new InlinePeeler(options).peel(packets);
    const threaded = await workers.peel(packets);
    assert.deepEqual(threaded, inline);
    assert.deepEqual(
      inline.map((result) => (result.ok ? result.peeled.kind : result.reason)),
      [...Array(8).fill('forward'), 'undecryptable', 'malformed', 'malformed'],
    );
    assert.deepEqual(summary(inline).slice(0, 2), ['current:3', 'current:3'], 'tells the epoch of the key');
    assert.match((inline[9] as { message: string }).message, /exceeds 4096/);
  });

  it('spreads concurrent requests over the workers and answers each one', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => workers.peel([0, 1, 2, 3].map((j) => packetFor(self, 10 * i + j)))),
    );
    for (const batch of results)
      assert.deepEqual(
        batch.map((r) => r.ok),
        [true, true, true, true],
      );
    assert.equal(workers.size, 2);
  });

  it('drops a second copy as a replay, in the same request or a later one, with the key that opened it', async () => {
    const peeler = new InlinePeeler(options);
    const packet = packetFor(self, 42);
    assert.deepEqual(summary(await peeler.peel([packet, packet])), ['current:3', 'replay']);
    assert.deepEqual(summary(await peeler.peel([Uint8Array.from(packet)])), ['replay']);
    assert.equal(peeler.replayFilters.entries, 1);
  });

  it('two workers peeling copies of the same packets at once let each one through exactly once', async () => {
    const two = new WorkerPeeler(options, 2);
    try {
      const batch = Array.from({ length: 300 }, (_, i) => packetFor(self, i % 256));
      // Two requests at once go to the two workers (each the least busy in turn), which peel the same packets in the same order.
      const [first, second] = await Promise.all([two.peel(batch), two.peel(batch)]);
      const passed = batch.map((_, i) => [first[i], second[i]].filter((result) => result?.ok).length);
      assert.deepEqual(passed, Array(300).fill(1));
      const refused = [...first, ...second].filter((result) => !result.ok);
      assert.deepEqual(new Set(refused.map((result) => result.reason)), new Set(['replay']));
      assert.equal(two.replayFilters.entries, 300, 'both workers set bits in the one shared filter');
    } finally {
      await two.close();
    }
  });

  it('measures the peel rate of one thread and scales it by the workers', () => {
    let reads = 0;
    const clock = { now: () => (reads++ === 0 ? 1_000 : 1_050), schedule: () => () => {} };
    // 20 packets in 50 ms on one thread: 400 packets/s; three workers peel three times that.
    assert.equal(measurePeelRate('sphinx', 3, clock, 20), 1_200);
    reads = 0;
    assert.equal(measurePeelRate('onion', 0, clock, 20), 400, 'the event loop thread alone');
  });

  it('sends a request to the worker with the fewest in flight, in turn among equals', () => {
    assert.equal(leastBusy([0, 0, 0], 0), 0);
    assert.equal(leastBusy([1, 0, 0], 1), 1, 'round robin while all are as busy');
    assert.equal(leastBusy([1, 1, 0], 2), 2);
    assert.equal(leastBusy([1, 1, 1], 3), 0, 'wraps around');
    assert.equal(leastBusy([2, 5, 1], 1), 2, 'a worker held back gets nothing more until it catches up');
    assert.equal(leastBusy([0, 3, 0], 1), 2, 'the first of the least busy from where the turn is');
  });

  it('refuses a pool of no workers, and a key set without its current key', () => {
    assert.throws(() => new WorkerPeeler(options, 0), /at least 1/);
    const noCurrent: MixingKeySet = { current: 4, byEpoch: new Map([[3, next()]]) };
    assert.throws(() => new InlinePeeler({ ...options, keys: noCurrent }), /no key for its current epoch 4/);
  });
});

describe('peeling under key rotation', () => {
  let previous: KeyPair;
  let current: KeyPair;
  let upcoming: KeyPair;
  let stranger: KeyPair;
  let rotated: MixingKeySet;

  before(async () => {
    await cryptoReady();
    [previous, current, upcoming, stranger] = [next(), next(), next(), next()];
    // Epoch 7, within the grace period: keys of 7 (current), 6 (previous), 8 (next).
    rotated = {
      current: 7,
      byEpoch: new Map([
        [7, current],
        [6, previous],
        [8, upcoming],
      ]),
    };
  });

  async function check(peeler: Peeler): Promise<void> {
    const results = await peeler.peel([
      packetFor(current),
      packetFor(previous),
      packetFor(upcoming),
      packetFor(stranger),
    ]);
    assert.deepEqual(summary(results), ['current:7', 'previous:6', 'next:8', 'undecryptable']);
    assert.ok(results.slice(0, 3).every((result) => result.ok && result.peeled.kind === 'forward'));
  }

  it('opens a packet with whichever held key it was built for, and says which', async () => {
    await check(new InlinePeeler({ format: 'sphinx', keys: rotated, replay: TEST_REPLAY, maxPacketBytes: 4096 }));
  });

  it('does the same on worker threads', async () => {
    const peeler = new WorkerPeeler({ format: 'sphinx', keys: rotated, replay: TEST_REPLAY, maxPacketBytes: 4096 }, 2);
    try {
      await check(peeler);
    } finally {
      await peeler.close();
    }
  });

  it('a packet for a dropped key is undecryptable once the grace period is over', async () => {
    const peeler = new InlinePeeler({ format: 'sphinx', keys: rotated, replay: TEST_REPLAY, maxPacketBytes: 4096 });
    const late = packetFor(previous);
    peeler.setKeys({
      current: 7,
      byEpoch: new Map([
        [7, current],
        [8, upcoming],
      ]),
    });
    const [result] = await peeler.peel([late]);
    assert.ok(result && !result.ok);
    assert.equal(result.reason, 'undecryptable');
  });

  it('every worker gets key updates: a packet for a freshly rotated key peels on each of them', async () => {
    const peeler = new WorkerPeeler(
      { format: 'sphinx', keys: singleKeySet(current, 7), replay: TEST_REPLAY, maxPacketBytes: 4096 },
      3,
    );
    try {
      const fresh = next(); // made after the workers started
      // A packet of its own for each worker: a copy would be a replay.
      const perWorker = (key: KeyPair) => Promise.all(Array.from({ length: 3 }, () => peeler.peel([packetFor(key)])));
      assert.deepEqual((await perWorker(fresh)).flatMap(summary), Array(3).fill('undecryptable'));

      // Boundary: 8 becomes current with the fresh key; 7 stays for the grace period.
      peeler.setKeys({
        current: 8,
        byEpoch: new Map([
          [8, fresh],
          [7, current],
        ]),
      });
      assert.deepEqual((await perWorker(fresh)).flatMap(summary), Array(3).fill('current:8'));
      assert.deepEqual((await perWorker(current)).flatMap(summary), Array(3).fill('previous:7'));

      peeler.setKeys(singleKeySet(fresh, 8)); // grace over
      assert.deepEqual((await perWorker(current)).flatMap(summary), Array(3).fill('undecryptable'));
    } finally {
      await peeler.close();
    }
  });
});
