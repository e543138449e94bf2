import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { createServiceRegistry, mixNodeMetrics } from '@mixlab/metrics';
import { createStrategy, parseStrategyConfig } from '@mixlab/mixing';
import { sphinx } from '@mixlab/packet';
import { type Clock, ManualClock, monotonicClock } from '@mixlab/runtime';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { InlinePeeler } from './peeler.ts';
import { everyHopToMix2, singleKeySet, TEST_REPLAY } from './test-support.ts';

describe('exponential:delay=sender in the mix node', () => {
  let self: KeyPair;
  let next: KeyPair;
  before(async () => {
    await cryptoReady();
    self = generateKeyPair();
    next = generateKeyPair();
  });

  /** A node with `strategy` on `clock` (default a ManualClock); `advance` moves that clock on. */
  function node(
    strategy: string,
    clock: Clock = new ManualClock(),
    advance = (ms: number) => (clock as ManualClock).advance(ms),
  ) {
    let sent = 0;
    const mixNode = new MixNode({
      peeler: new InlinePeeler({
        format: 'sphinx',
        keys: singleKeySet(self),
        replay: TEST_REPLAY,
        maxPacketBytes: 4096,
      }),
      keys: singleKeySet(self),
      clock,
      metrics: mixNodeMetrics(createServiceRegistry({})),
      logger: { warn: () => {} },
      createStrategy: ({ release }) =>
        createStrategy<PooledPacket>(
          parseStrategyConfig(strategy),
          { clock, random: { int: () => 0, float: () => 1 - Math.exp(-1) }, release },
          { delayOf: (packet) => packet.peeled.delayMs || undefined },
        ),
      resolve: everyHopToMix2,
      send: async (_url, frames) => {
        sent += frames.length;
      },
    });
    /** How many packets were sent once `ms` more have passed. */
    const sentAfter = async (ms: number) => {
      advance(ms);
      await mixNode.settled();
      return sent;
    };
    return { mixNode, sentAfter };
  }

  const packet = (delayMs?: number) =>
    sphinx.wrap(
      [
        { id: 'mix-1', publicKey: self.publicKey, delayMs },
        { id: 'mix-2', publicKey: next.publicKey },
      ],
      { gateway: 'gateway-1', recipient: next.publicKey },
      new Uint8Array(10),
    );

  it('holds each packet for exactly the delay its sender chose for this hop', async () => {
    const { mixNode, sentAfter } = node('exponential:delay=sender,mean=5s');
    await mixNode.receive([packet(700), packet(250)]);
    assert.equal(await sentAfter(249), 0);
    assert.equal(await sentAfter(1), 1);
    assert.equal(await sentAfter(450), 2);
  });

  it('draws a delay with the configured mean when the sender chose none', async () => {
    const { mixNode, sentAfter } = node('exponential:delay=sender,mean=400ms');
    await mixNode.receive([packet()]);
    // The random source's u = 1 - 1/e makes the drawn delay exactly the mean.
    assert.equal(await sentAfter(399), 0);
    assert.equal(await sentAfter(1), 1);
  });

  it('holds a packet carrying the longest delay, 2^32 - 1 ms, that long on the real clock (setTimeout alone fires it at once)', async (t) => {
    // The node's own clock, whose timeouts past 2^31 - 1 ms run as a chain; node:test's timers clamp as Node's do.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { mixNode, sentAfter } = node('exponential:delay=sender,mean=5s', monotonicClock, (ms) =>
      t.mock.timers.tick(ms),
    );
    const longest = 2 ** 32 - 1;
    await mixNode.receive([packet(longest)]);
    // Steps that end where the chained timeouts are due (mock timers count a timeout set in a
    // callback from the end of the tick, so a step past one would delay the rest by as much).
    const longestTimeout = 2 ** 31 - 1;
    assert.equal(await sentAfter(1), 0, 'not released at once');
    assert.equal(await sentAfter(longestTimeout - 1), 0, 'nor after the longest single timeout');
    assert.equal(await sentAfter(longestTimeout), 0, 'nor 1 ms early');
    assert.equal(await sentAfter(longest - 2 * longestTimeout), 1, 'released after exactly 2^32 - 1 ms');
  });
});
