import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReceiveOptions, Subscription } from '@mixlab/client';
import type { KeyPair } from '@mixlab/crypto';
import { type Random, seededRandom } from '@mixlab/runtime';
import { drawRecipients, type LoadClient, LoadTally, latencyStats, percentile, runLoad } from './load-generator.ts';

describe('percentile (nearest rank)', () => {
  const ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

  it('picks the smallest value with at least p% at or below it', () => {
    assert.equal(percentile(ten, 50), 50);
    assert.equal(percentile(ten, 51), 60);
    assert.equal(percentile(ten, 95), 100);
    assert.equal(percentile(ten, 99), 100);
    assert.equal(percentile(ten, 10), 10);
    assert.equal(percentile(ten, 0), 10);
    assert.equal(percentile(ten, 100), 100);
  });

  it('is exact on 100 values and on one', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 95), 95);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile([7], 99), 7);
  });

  it('refuses no values and p outside [0, 100]', () => {
    assert.throws(() => percentile([], 50), /no values/);
    assert.throws(() => percentile(ten, 101), /\[0, 100\]/);
    assert.throws(() => percentile(ten, -1), /\[0, 100\]/);
  });

  it('latencyStats sorts a copy and reports min, mean and max', () => {
    const values = [300, 100, 200, 400];
    assert.deepEqual(latencyStats(values), {
      count: 4,
      minMs: 100,
      p50Ms: 200,
      p95Ms: 400,
      p99Ms: 400,
      maxMs: 400,
      meanMs: 250,
    });
    assert.deepEqual(values, [300, 100, 200, 400]);
    assert.equal(latencyStats([]), undefined);
  });
});

describe('LoadTally', () => {
  const settings = { clients: 4, ratePerClient: 2, durationMs: 10_000, drainMs: 5000, strategy: 'timed:t=1s' };

  it('adds up sent, delivered, lost, duplicates, unexpected and throughput', () => {
    const tally = new LoadTally(1_000_000);
    const sendTimes = { a: 1_000_100, b: 1_000_200, c: 1_005_000, d: 1_006_000, e: 1_007_000, f: 1_008_000 };
    for (const [id, at] of Object.entries(sendTimes)) tally.recordSending(id, at);
    for (const id of ['a', 'b', 'c', 'd', 'e']) tally.recordSent(id);
    tally.recordSendError('f');
    assert.equal(tally.sendTimeOf('a'), 1_000_100);
    assert.equal(tally.sendTimeOf('f'), undefined, 'a failed send is forgotten');
    tally.recordReceived('a', 1_000_600); // 500 ms
    tally.recordReceived('b', 1_001_200); // 1000 ms
    tally.recordReceived('a', 1_001_300); // duplicate: not a second latency
    tally.recordReceived('x', 1_002_000); // not ours: unexpected, and no send time to measure from
    tally.recordReceived('c', 1_012_500); // 7500 ms, the last delivery, 11.9 s after the first
    tally.recordUnreadable();
    assert.equal(tally.inFlight, 2);
    const summary = tally.summary(settings, 1_015_000);
    assert.deepEqual(
      { ...summary, latencyMs: undefined },
      {
        strategy: 'timed:t=1s',
        clients: 4,
        ratePerClient: 2,
        offeredRate: 8,
        durationSeconds: 10,
        drainSeconds: 5,
        sent: 5,
        sendErrors: 1,
        delivered: 3,
        lost: 2,
        duplicates: 1,
        unexpected: 2,
        latencyMs: undefined,
        throughput: 3 / 11.9,
        elapsedSeconds: 15,
        startedAt: new Date(1_000_000).toISOString(),
      },
    );
    assert.deepEqual(summary.latencyMs, {
      count: 3,
      minMs: 500,
      p50Ms: 1000,
      p95Ms: 7500,
      p99Ms: 7500,
      maxMs: 7500,
      meanMs: 3000,
    });
  });

  it('matches a receipt that comes before its send resolved', () => {
    const tally = new LoadTally(0);
    tally.recordSending('early', 0);
    tally.recordReceived('early', 40);
    assert.equal(tally.delivered, 0);
    tally.recordSent('early');
    assert.equal(tally.delivered, 1);
    assert.equal(tally.inFlight, 0);
    assert.deepEqual(tally.latenciesMs, [40]);
  });

  it('divides by the load duration at least, and reports null latency when nothing arrived', () => {
    // 2 delivered over 25 s of deliveries, more than the 10 s of load: a network falling behind.
    const slow = new LoadTally(0);
    for (const id of ['p', 'q']) {
      slow.recordSending(id, 0);
      slow.recordSent(id);
    }
    slow.recordReceived('p', 5_000);
    slow.recordReceived('q', 30_000);
    assert.equal(slow.summary(settings, 30_000).throughput, 2 / 25);
    const tally = new LoadTally(0);
    tally.recordSent('a');
    const summary = tally.summary(settings, 20_000);
    assert.equal(summary.throughput, 0);
    assert.equal(summary.latencyMs, null);
    assert.equal(summary.lost, 1);
    const quick = new LoadTally(0);
    quick.recordSending('b', 0);
    quick.recordSent('b');
    quick.recordReceived('b', 100);
    assert.equal(quick.summary(settings, 20_000).throughput, 1 / 10);
  });
});

/**
 * An in-memory network: every message arrives `delayMs` later, `duplicate` ones twice. It
 * records, per receipt, the send time the receiver would report latency from.
 */
function fakeNetwork(delayMs: number, duplicate: (n: number) => boolean) {
  const mailboxes = new Map<string, (message: { id: string; body: Uint8Array }) => void>();
  const reportedSendTimes: { sentAt: number | undefined; receivedAt: number }[] = [];
  /** Send times the load generator put in messages (it must put none). */
  const sealedSendTimes: (number | undefined)[] = [];
  const loopHandlers = new Map<string, ReceiveOptions['onLoop']>();
  let drops = 0;
  let count = 0;
  let clientCount = 0;
  /** [sending client, recipient key], both numbered from 1 in creation order. */
  const sends: [number, number][] = [];
  /** What each simulated client's route stream drew first, in creation order. */
  const firstRouteDraws: number[] = [];
  const connect = (random: Random): LoadClient => {
    const self = ++clientCount;
    firstRouteDraws.push(random.float());
    return {
      async send(recipient, body, options = {}) {
        count++;
        const id = options.messageId ?? `m${count}`;
        const address = Buffer.from(recipient).toString('hex');
        sealedSendTimes.push(options.sentAt);
        if (options.kind === 'loop') {
          setTimeout(() => loopHandlers.get(address)?.({ id, body, kind: 'loop' }), delayMs).unref();
          return { messageId: id, route: [] };
        }
        sends.push([self, recipient[0] as number]);
        const deliver = () => mailboxes.get(address)?.({ id, body });
        setTimeout(deliver, delayMs).unref();
        if (duplicate(count)) setTimeout(deliver, delayMs + 5).unref();
        return { messageId: id, route: [] };
      },
      async sendDrop() {
        drops++;
      },
      receive(keys, onMessage, options?: ReceiveOptions): Subscription {
        assert.equal(options?.reportLatency, true);
        mailboxes.set(Buffer.from(keys.publicKey).toString('hex'), (message) => {
          void onMessage(message);
          reportedSendTimes.push({ sentAt: options?.sendTimeOf?.(message), receivedAt: Date.now() });
        });
        loopHandlers.set(Buffer.from(keys.publicKey).toString('hex'), options?.onLoop);
        return { opened: Promise.resolve(), done: new Promise(() => {}), close: () => {} };
      },
    };
  };
  let keyCount = 0;
  const generateKeys = (): KeyPair => {
    keyCount++;
    return { publicKey: new Uint8Array(32).fill(keyCount), privateKey: new Uint8Array(32) };
  };
  return { connect, generateKeys, sends, firstRouteDraws, drops: () => drops, reportedSendTimes, sealedSendTimes };
}

describe('runLoad', () => {
  it('sends to the other simulated clients, waits for stragglers, and counts duplicates', async () => {
    const network = fakeNetwork(30, (n) => n === 3);
    const progress: number[] = [];
    const { summary, latenciesMs, truth } = await runLoad({
      clients: 3,
      ratePerClient: 20,
      durationMs: 400,
      drainMs: 1000,
      strategy: 'fake',
      seed: 3,
      connect: network.connect,
      generateKeys: network.generateKeys,
      progressIntervalMs: 100,
      onProgress: (p) => progress.push(p.sent),
    });
    assert.ok(summary.sent > 5, `sent ${summary.sent}`);
    assert.equal(summary.delivered, summary.sent);
    assert.equal(summary.lost, 0);
    assert.equal(summary.duplicates, 1);
    assert.equal(summary.unexpected, 0);
    assert.equal(latenciesMs.length, summary.sent);
    assert.ok(latenciesMs.every((latency) => latency >= 25 && latency < 1000));
    assert.ok(progress.length >= 3, `progress reports ${progress.length}`);
    // Each simulated client (its client and key pair made together) sends only to the others.
    assert.equal(network.sends.length, summary.sent);
    assert.ok(network.sends.every(([from, to]) => from !== to));
    assert.deepEqual(new Set(network.sends.map(([, to]) => to)), new Set([1, 2, 3]));
    // Latency comes from the generator's own send times; nothing rides in the message.
    assert.deepEqual(new Set(network.sealedSendTimes), new Set([undefined]));
    assert.equal(network.reportedSendTimes.length, summary.sent + 1, 'every receipt, the duplicate too');
    for (const { sentAt, receivedAt } of network.reportedSendTimes) {
      assert.ok(sentAt !== undefined && receivedAt - sentAt >= 25 && receivedAt - sentAt < 1000, `sent at ${sentAt}`);
    }
    // The truth: who sent what to whom, in send order (keys are numbered from 1, clients from 0).
    assert.equal(truth.clients, 3);
    assert.deepEqual(
      truth.messages.map(({ from, to }) => [from + 1, to + 1]),
      network.sends,
    );
    for (const message of truth.messages) {
      const latency = (message.receivedAtMs as number) - message.sentAtMs;
      assert.ok(latency >= 25 && latency < 1000, `first receipt ${latency} ms after the send`);
    }
    // Receipts numbered 1, 2, ... in the order they came, which orders those within one millisecond.
    const byOrder = truth.messages
      .filter((m) => m.receivedOrder != null)
      .sort((a, b) => (a.receivedOrder as number) - (b.receivedOrder as number));
    assert.deepEqual(
      byOrder.map((m) => m.receivedOrder),
      Array.from({ length: byOrder.length }, (_, i) => i + 1),
    );
    assert.ok(
      byOrder.every((m, i) => i === 0 || (m.receivedAtMs as number) >= (byOrder[i - 1]?.receivedAtMs as number)),
    );
  });

  it('sends cover beside the load when asked, and its loops come back to their senders', async () => {
    const network = fakeNetwork(20, () => false);
    const { summary, truth } = await runLoad({
      clients: 2,
      ratePerClient: 5,
      dropRatePerClient: 20,
      loopRatePerClient: 20,
      durationMs: 500,
      drainMs: 300,
      seed: 7,
      connect: network.connect,
      generateKeys: network.generateKeys,
    });
    const cover = summary.cover;
    assert.ok(cover, 'a cover summary');
    assert.ok(cover.drops > 5 && cover.loopsSent > 5, JSON.stringify(cover));
    assert.equal(cover.drops, network.drops());
    assert.equal(cover.loopsReturned, cover.loopsSent);
    assert.equal(cover.loopsLost, 0);
    assert.equal(cover.loopsOutstanding, 0);
    assert.ok((cover.loopRoundTripMs?.p50Ms ?? 0) >= 15);
    assert.equal(summary.lost, 0, 'cover never counts as (lost) load');
    // The truth lists every drop by its sender, for a scorer that must tell cover submissions from real ones.
    assert.equal(truth.cover?.length, cover.drops);
    assert.deepEqual(new Set(truth.cover?.map((drop) => drop.from)), new Set([0, 1]));
  });

  it('repeats the traffic pattern for the same seed, from separate streams per client and use', async () => {
    const run = async (seed: number | undefined) => {
      const network = fakeNetwork(5, () => false);
      const options = { clients: 3, ratePerClient: 30, durationMs: 300, drainMs: 200 };
      const { summary } = await runLoad({ ...options, seed, ...network });
      // Per sender, the order of its recipients (the senders' interleaving follows the timers).
      const bySender = [1, 2, 3].map((from) => network.sends.filter(([f]) => f === from).map(([, to]) => to));
      return { sent: summary.sent, bySender, routes: network.firstRouteDraws };
    };
    const first = await run(11);
    assert.ok(first.sent > 5, `sent ${first.sent}`);
    assert.deepEqual(await run(11), first);
    const other = await run(12);
    assert.notDeepEqual(other.bySender, first.bySender);
    assert.equal(new Set(first.routes).size, 3, 'each simulated client routes from its own stream');
    assert.notDeepEqual((await run(undefined)).routes, (await run(undefined)).routes, 'unseeded: secure');
  });

  it('gives up on lost messages after the drain', async () => {
    const network = fakeNetwork(10_000, () => false);
    const started = Date.now();
    const { summary } = await runLoad({
      clients: 1,
      ratePerClient: 20,
      durationMs: 200,
      drainMs: 300,
      seed: 5,
      connect: network.connect,
      generateKeys: network.generateKeys,
    });
    assert.ok(Date.now() - started < 2000);
    assert.equal(summary.delivered, 0);
    assert.equal(summary.lost, summary.sent);
    assert.equal(summary.strategy, null);
  });

  it('stops sending when aborted', async () => {
    const network = fakeNetwork(10, () => false);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const started = Date.now();
    const { summary } = await runLoad({
      clients: 2,
      ratePerClient: 10,
      durationMs: 60_000,
      drainMs: 60_000,
      signal: controller.signal,
      connect: network.connect,
      generateKeys: network.generateKeys,
    });
    assert.ok(Date.now() - started < 2000);
    assert.ok(summary.sent < 20);
  });
});

describe('drawRecipients', () => {
  const stream = (seed: number) => {
    const root = seededRandom(seed);
    return (name: string) => root.fork(name);
  };

  it('sends everyone to a uniform other client by default', () => {
    const { recipients, friends } = drawRecipients([50, 50, 50], 3, stream(1));
    assert.equal(friends, undefined);
    recipients.forEach((row, self) => {
      assert.equal(row.length, 50);
      assert.ok(row.every((to) => to !== self && to >= 0 && to < 3));
    });
  });

  it('plants a target that sends only to its m friends while the others send uniformly among all N', () => {
    const sends = Array.from({ length: 6 }, () => 600);
    const { recipients, friends } = drawRecipients(sends, 6, stream(2), { client: 4, friends: 2 });
    assert.equal(friends?.length, 2);
    assert.ok(friends?.every((f) => f !== 4));
    assert.deepEqual([...new Set(recipients[4])].sort(), friends);
    // Everyone else: every one of the 6 recipients, itself included, about 100 times each (600/6).
    for (const [self, row] of recipients.entries()) {
      if (self === 4) continue;
      const counts = Array.from({ length: 6 }, (_, to) => row.filter((r) => r === to).length);
      // 4 standard deviations of a binomial(600, 1/6): sqrt(600 x 1/6 x 5/6) = 9.1.
      assert.ok(
        counts.every((c) => Math.abs(c - 100) <= 37),
        `client ${self}: ${counts}`,
      );
    }
    // Seeded: the same draw again.
    assert.deepEqual(drawRecipients(sends, 6, stream(2), { client: 4, friends: 2 }).recipients, recipients);
  });

  it('refuses a target or a number of friends that does not fit', () => {
    assert.throws(() => drawRecipients([1, 1], 2, stream(3), { client: 2, friends: 1 }), /planted target/);
    assert.throws(() => drawRecipients([1, 1], 2, stream(3), { client: 0, friends: 2 }), /friends/);
  });
});
