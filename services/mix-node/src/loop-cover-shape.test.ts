/**
 * Cover an adversary can tell apart is no cover. A tap on layer 1's link to layer 2 sees
 * requests (when, how many packets, how many bytes); it tries to tell the node's own loops
 * from real packets by the shape of the request that carried them (evaluateCover's features:
 * packets, bytes, lone or in a crowd, octave of the gap since the previous request), scored by
 * the naive-Bayes distinguisher of @mixlab/attacks on held-out halves. Seeded, ManualClock,
 * real Sphinx packets, a real MixNode with `threshold:n=3`, real arrivals at 2/s, loops at 1/s,
 * 900 s. Through the pool the distinguisher is at chance (balanced accuracy within 0.5 ± 0.05);
 * a loop sent alone (the old way, kept here as the control) is told apart almost always.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { evaluateDistinguisher, type LabelledSample } from '@mixlab/attacks';
import { cryptoReady, type KeyPair, toHex } from '@mixlab/crypto';
import { createServiceRegistry, loopAlarmMetrics, loopMetrics, mixNodeMetrics } from '@mixlab/metrics';
import { ThresholdStrategy } from '@mixlab/mixing';
import { type Peeled, sphinx } from '@mixlab/packet';
import { exponentialDelay, ManualClock, seededRandom } from '@mixlab/runtime';
import { hopFound } from '@mixlab/service-kit';
import type { Topology } from '@mixlab/topology';
import { LoopCover } from './loop-cover.ts';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { InlinePeeler } from './peeler.ts';
import { singleKeySet, TEST_REPLAY, threeLayerCascade } from './test-support.ts';

const DURATION_MS = 900_000;
const REAL_RATE = 2;
const LOOP_RATE = 1;
const STEP_MS = 50;

interface TappedRequest {
  readonly atMs: number;
  readonly frames: readonly Uint8Array[];
}

describe('node loop cover on the wire', () => {
  let keys: Record<string, KeyPair>;
  let topology: Topology;

  before(async () => {
    await cryptoReady();
    ({ keys, topology } = threeLayerCascade());
  });

  /** Runs layer 1 for DURATION_MS; `pooled` false sends each loop alone, as before. */
  async function tap(pooled: boolean): Promise<{ requests: TappedRequest[]; loops: Set<string> }> {
    const clock = new ManualClock();
    const random = seededRandom(10);
    const requests: TappedRequest[] = [];
    const loops = new Set<string>();
    const registry = createServiceRegistry({ node: 'mix-1', layer: '1' });
    const node = new MixNode({
      peeler: new InlinePeeler({
        format: 'sphinx',
        keys: singleKeySet(keys['mix-1'] as KeyPair),
        replay: TEST_REPLAY,
        maxPacketBytes: 4096,
      }),
      keys: singleKeySet(keys['mix-1'] as KeyPair),
      clock,
      metrics: mixNodeMetrics(registry),
      logger: { warn: () => {} },
      createStrategy: ({ release }) =>
        new ThresholdStrategy<PooledPacket>({ threshold: 3 }, { clock, random: random.fork('pool'), release }),
      resolve: async () => hopFound('http://mix-2:8080'),
      send: async (_url, frames) => {
        requests.push({ atMs: clock.now(), frames: [...frames] });
      },
    });
    const cover = new LoopCover({
      nodeId: 'mix-1',
      layer: 1,
      keys: keys['mix-1'] as KeyPair,
      format: sphinx,
      rate: LOOP_RATE,
      timeoutMs: 60_000,
      alarm: { window: 10, threshold: 0.5 },
      clock,
      random: random.fork('loops'),
      topology: async () => topology,
      enqueue: (packet: Extract<Peeled, { kind: 'forward' }>) => {
        loops.add(toHex(packet.packet));
        if (pooled) node.inject(packet);
        else requests.push({ atMs: clock.now(), frames: [packet.packet] });
      },
      metrics: { ...loopMetrics(registry, 'node'), ...loopAlarmMetrics(registry) },
      logger: { warn: () => {}, info: () => {} },
    });
    const route = topology.layers.map((nodes) => ({
      id: nodes[0]?.id as string,
      publicKey: Buffer.from(nodes[0]?.publicKey as string, 'hex'),
    }));
    const arrivals = random.fork('arrivals');
    cover.start();
    while (clock.now() < DURATION_MS) {
      const arrival = clock.now() + exponentialDelay(1000 / REAL_RATE, arrivals);
      // In 50 ms steps: a loop enters the pool within 50 ms of its time, not at the next arrival.
      while (clock.now() < arrival) {
        clock.advance(Math.min(STEP_MS, arrival - clock.now()));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await node.settled();
      const real = sphinx.wrap(route, { gateway: 'gw', recipient: new Uint8Array(32) }, new Uint8Array(100));
      await node.receive([real]);
      await node.settled();
    }
    cover.stop();
    return { requests, loops };
  }

  /** One sample per packet, with what the tap sees of the request that carried it. */
  function samples({ requests, loops }: { requests: TappedRequest[]; loops: Set<string> }): LabelledSample[] {
    const out: LabelledSample[] = [];
    requests.forEach((request, i) => {
      const near = (j: number) => Math.abs((requests[j]?.atMs ?? Number.NEGATIVE_INFINITY) - request.atMs) <= 50;
      const lone = !(near(i - 1) || near(i + 1));
      const previous = requests[i - 1];
      const gapOctave = previous ? Math.floor(Math.log2(request.atMs - previous.atMs + 1)) : -1;
      const bytes = request.frames.reduce((sum, frame) => sum + frame.length, 0);
      for (const frame of request.frames) {
        out.push({
          features: [request.frames.length, bytes, lone ? 'lone' : 'crowd', gapOctave],
          positive: loops.has(toHex(frame)),
        });
      }
    });
    return out;
  }

  it('leaves loops in batches, where the tap tells them from real packets at chance only', async () => {
    const through = await tap(true);
    const score = evaluateDistinguisher(samples(through), seededRandom(11));
    assert.ok(through.loops.size > 700, `${through.loops.size} loops`);
    assert.ok(
      through.requests.every((request) => request.frames.length === 3),
      'every request is a batch of the threshold',
    );
    assert.ok(Math.abs(score.balancedAccuracy - 0.5) <= 0.05, `balanced accuracy ${score.balancedAccuracy}`);

    const alone = await tap(false);
    const control = evaluateDistinguisher(samples(alone), seededRandom(11));
    assert.ok(control.balancedAccuracy >= 0.95, `control (loops sent alone): ${control.balancedAccuracy}`);
    console.log(
      `loop vs real on layer 1 → 2: balanced accuracy ${score.balancedAccuracy.toFixed(3)} through the pool (${score.positives} loops of ${score.samples} packets), ${control.balancedAccuracy.toFixed(3)} sent alone`,
    );
  });
});
