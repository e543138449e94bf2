import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, type KeyPair } from '@mixlab/crypto';
import { createServiceRegistry, loopAlarmMetrics, loopMetrics } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import { type Peeled, sphinx } from '@mixlab/packet';
import { ManualClock } from '@mixlab/runtime';
import type { Topology, TopologyDocument } from '@mixlab/topology';
import { LoopCover, loopLayers, topologyForEpoch } from './loop-cover.ts';
import { threeLayerCascade } from './test-support.ts';

describe('loopLayers', () => {
  it('visits every other layer once, in cyclic order after the own one', () => {
    assert.deepEqual(loopLayers(1, 3), [2, 3]);
    assert.deepEqual(loopLayers(2, 3), [3, 1]);
    assert.deepEqual(loopLayers(3, 3), [1, 2]);
    assert.deepEqual(loopLayers(1, 1), []);
  });
});

describe('topologyForEpoch', () => {
  const node = { id: 'mix-1', layer: 1, url: 'http://mix-1:8080', identityKey: 'aa'.repeat(32) };
  const document: TopologyDocument = {
    version: 1,
    epoch: 7,
    validFrom: 70_000,
    validUntil: 80_000,
    layers: [[{ ...node, publicKey: '07'.repeat(32), nextPublicKey: '08'.repeat(32) }]],
    gateways: [],
  };
  const keyOf = (topology: Topology) => topology.layers[0]?.[0]?.publicKey;

  it("wraps loops with the document's keys in its own epoch, and with its next keys one epoch later", () => {
    assert.equal(keyOf(topologyForEpoch(document, 7)), '07'.repeat(32));
    assert.equal(keyOf(topologyForEpoch(document, 8)), '08'.repeat(32), 'fetched just before the boundary');
  });
});

describe('LoopCover', () => {
  let keys: Record<string, KeyPair>;
  let topology: Topology;

  before(async () => {
    await cryptoReady();
    ({ keys, topology } = threeLayerCascade());
  });

  function setUp() {
    const clock = new ManualClock();
    const registry = createServiceRegistry({ node: 'mix-2', layer: '2' });
    const sends: { nextHop: string; packet: Uint8Array }[] = [];
    const logs: string[] = [];
    const cover = new LoopCover({
      nodeId: 'mix-2',
      layer: 2,
      keys: keys['mix-2'] as KeyPair,
      format: sphinx,
      rate: 2,
      timeoutMs: 5_000,
      alarm: { window: 4, threshold: 0.5 },
      clock,
      random: { int: () => 0, float: () => 0.5 },
      topology: async () => topology,
      enqueue: ({ nextHop, packet }) => {
        sends.push({ nextHop, packet });
      },
      metrics: { ...loopMetrics(registry, 'node'), ...loopAlarmMetrics(registry) },
      logger: {
        warn: (_, message) => logs.push(`warn ${message}`),
        info: (_, message) => logs.push(`info ${message}`),
      },
    });
    const count = (event: string) => seriesValue(registry, 'mixlab_loops_total', { event });
    return { clock, cover, sends, count, registry, logs };
  }

  /** Carries a loop packet through mix-3 and mix-1 and returns what mix-1 delivers. */
  function travel(packet: Uint8Array): Extract<Peeled, { kind: 'deliver' }> {
    const atThree = sphinx.peel(packet, keys['mix-3'] as KeyPair);
    assert.ok(atThree.kind === 'forward' && atThree.nextHop === 'mix-1');
    const atOne = sphinx.peel(atThree.packet, keys['mix-1'] as KeyPair);
    assert.ok(atOne.kind === 'deliver');
    return atOne;
  }

  it('pools a loop (as peeled here) for the other layers and back to itself, and counts it returned', async () => {
    const { clock, cover, sends, count, registry } = setUp();
    await cover.sendLoop();
    assert.equal(sends[0]?.nextHop, 'mix-3', 'into the own pool, on to the next layer in a batch');
    assert.equal(sends[0]?.packet.length, sphinx.geometry.packetBytes, 'the same size as any packet');
    const delivered = travel(sends[0]?.packet as Uint8Array);
    assert.equal(delivered.destination.gateway, 'mix-2');
    assert.deepEqual(delivered.destination.recipient, keys['mix-2']?.publicKey);
    clock.advance(1_200);
    // As the exit hands it over: padded to the format's one delivery size.
    const padded = new Uint8Array(sphinx.deliveryPayloadBytes);
    padded.set(delivered.payload);
    assert.equal(cover.returned(padded), true);
    assert.equal(cover.returned(delivered.payload), false, 'a copy does not count twice');
    assert.equal(await count('sent'), 1);
    assert.equal(await count('returned'), 1);
    assert.equal(await count('lost'), 0);
    assert.equal(await seriesValue(registry, 'mixlab_loop_round_trip_seconds_sum'), 1.2);
    clock.advance(10_000);
    assert.equal(await count('lost'), 0, 'a returned loop is never lost');
  });

  it('counts a loop lost when it is not back in time, and ignores it if it comes later', async () => {
    const { clock, cover, sends, count } = setUp();
    await cover.sendLoop();
    clock.advance(5_000);
    assert.equal(await count('lost'), 1);
    assert.equal(cover.outstanding, 0);
    assert.equal(cover.returned(travel(sends[0]?.packet as Uint8Array).payload), false);
    assert.equal(await count('returned'), 0);
  });

  it('sends at Poisson times while started, and stops', async () => {
    const { clock, cover, sends } = setUp();
    cover.start();
    // random.float() = 0.5: every gap is -500 ms × ln(0.5) ≈ 346.6 ms at 2 loops per second.
    clock.advance(346);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sends.length, 0);
    clock.advance(1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sends.length, 1);
    clock.advance(347 * 3);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sends.length, 4);
    cover.stop();
    clock.advance(10_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sends.length, 4);
    assert.equal(clock.pendingTimers, 0);
  });

  it('raises the loop-loss alarm when half of the last four loops are lost, logs it once, and clears', async () => {
    const { clock, cover, sends, registry, logs } = setUp();
    const gauge = (name: string) => seriesValue(registry, name);
    const returnLast = () => {
      const delivered = travel(sends.at(-1)?.packet as Uint8Array);
      assert.equal(cover.returned(delivered.payload), true);
    };
    for (let i = 0; i < 2; i++) {
      await cover.sendLoop();
      clock.advance(5_000); // lost
    }
    assert.equal(await gauge('mixlab_loop_loss_ratio'), 1);
    assert.equal(await gauge('mixlab_loop_alarm'), 0, 'the window is not full yet');
    await cover.sendLoop();
    returnLast();
    await cover.sendLoop();
    returnLast();
    assert.equal(cover.alarming, true);
    assert.equal(await gauge('mixlab_loop_alarm'), 1);
    assert.equal(await gauge('mixlab_loop_loss_ratio'), 0.5);
    await cover.sendLoop();
    clock.advance(5_000); // lost, while a loss leaves the window: still firing, not logged again
    assert.equal(await gauge('mixlab_loop_alarm'), 1);
    for (let i = 0; i < 2; i++) {
      await cover.sendLoop();
      returnLast();
    }
    assert.equal(cover.alarming, false);
    assert.equal(await gauge('mixlab_loop_alarm'), 0);
    assert.equal(await gauge('mixlab_loop_loss_ratio'), 0.25);
    assert.deepEqual(
      logs.map((line) => line.split(':')[0]),
      ['warn loop-loss alarm', 'info loop-loss alarm cleared'],
    );
  });

  it('does not mistake a sealed payload for another key for a loop', async () => {
    const { cover } = setUp();
    assert.equal(cover.returned(new Uint8Array(64)), false);
  });
});
