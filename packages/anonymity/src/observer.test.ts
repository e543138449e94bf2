import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StrategyConfig } from '@mixlab/mixing';
import { poolMixEntropyBits } from './closed-forms.ts';
import {
  AnonymityObserver,
  type DeliveryObservation,
  type NodeOutput,
  type Observation,
  type PushObservation,
  senderAnonymity,
} from './observer.ts';
import { scoreDeliveries } from './scoring.ts';
import {
  cascadeRoles,
  clientNames,
  GATEWAY,
  nodeName,
  observeAll,
  poissonSends,
  roundSends,
  simulateCascade,
} from './test-support.ts';
import { type Roles, type WireEvent, WireTraceError } from './wire.ts';

const wire = (atMs: number, from: string, to: string, packets = 1): WireEvent => ({
  atMs,
  from,
  to,
  packets,
  bytes: 2048 * packets,
});

const outputsOf = (observations: Observation[], node?: string) =>
  observations.filter((o): o is NodeOutput => o.kind === 'node-output' && (node === undefined || o.node === node));
const pushesOf = (observations: Observation[]) => observations.filter((o): o is PushObservation => o.kind === 'push');
const deliveriesOf = (observations: Observation[]) =>
  observations.filter((o): o is DeliveryObservation => o.kind === 'delivery');
const probabilities = (o: { senders: { probabilities: Float64Array } }) => [...o.senders.probabilities];

/** Each client in `senders` submits one packet that the gateway forwards to mix-1 at once. */
function submissions(senders: readonly string[], startMs = 0, stepMs = 1): WireEvent[] {
  return senders.flatMap((sender, i) => [
    wire(startMs + i * stepMs, sender, GATEWAY),
    wire(startMs + i * stepMs, GATEWAY, nodeName(1)),
  ]);
}

const clients4 = clientNames(4);
const [a, b, c, d] = clients4 as [string, string, string, string];

describe('AnonymityObserver: threshold', () => {
  it('gives every packet of a batch of n the uniform distribution over the batch: log2 n bits', () => {
    const roles = cascadeRoles(clients4, [{ name: 'threshold', threshold: 4 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b, c, d]),
      wire(3.2, nodeName(1), GATEWAY, 4),
      wire(3.4, GATEWAY, b),
      wire(3.5, GATEWAY, a),
    ]);
    const [output, ...others] = outputsOf(observations);
    assert.equal(others.length, 0);
    assert.equal(output?.packets, 4);
    assert.equal(output?.inputEntropyBits, 2);
    assert.deepEqual(probabilities(output!), [0.25, 0.25, 0.25, 0.25]);
    const deliveries = deliveriesOf(observations);
    assert.equal(deliveries.length, 4);
    for (const delivery of deliveries) {
      assert.equal(delivery.entropyBits, 2);
      assert.equal(delivery.effectiveSetSize, 4);
      assert.equal(delivery.degree, 1);
      assert.equal(delivery.clientsSeen, 4);
    }
    const pushes = pushesOf(observations);
    assert.deepEqual(
      pushes.map((p) => [p.recipient, p.order, p.entropyBits]),
      [
        [b, 1, 2],
        [a, 1, 2],
      ],
    );
  });

  it('does not mix a packet that arrived after the batch closed into it', () => {
    const roles = cascadeRoles(clients4, [{ name: 'threshold', threshold: 3 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b, c]),
      // d arrives after the third packet closed the batch, before the batch shows on the wire.
      ...submissions([d], 2.5),
      wire(3, nodeName(1), GATEWAY, 3),
      ...submissions([a, a], 10),
      wire(12, nodeName(1), GATEWAY, 3),
    ]);
    const outputs = outputsOf(observations);
    assert.deepEqual(
      outputs.map((o) => probabilities(o)),
      [
        [1 / 3, 1 / 3, 1 / 3, 0],
        [2 / 3, 0, 0, 1 / 3],
      ],
    );
    assert.equal(observer.pooled(nodeName(1)), 0);
  });

  it('with maxWait, a flush takes only what arrived within maxWait of the batch’s first packet', () => {
    const roles = cascadeRoles(clients4, [{ name: 'threshold', threshold: 3, maxWaitMs: 1000 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b], 0, 10),
      ...submissions([c], 1000.5), // after the flush at 1000, before its packets are seen
      wire(1001, nodeName(1), GATEWAY, 2),
    ]);
    const [output] = outputsOf(observations);
    assert.equal(output?.inputEntropyBits, 1);
    assert.deepEqual(probabilities(output!), [0.5, 0.5, 0, 0]);
    assert.equal(observer.pooled(nodeName(1)), 1);
  });

  it('without mixing (threshold n=1) links every message to its true sender', () => {
    const clients = clientNames(6);
    const layers: StrategyConfig[] = [1, 2, 3].map(() => ({ name: 'threshold', threshold: 1 }));
    const sim = simulateCascade({
      clients,
      layers,
      sends: poissonSends(clients, 50, 20_000, 1),
      endMs: 21_000,
      seed: 2,
    });
    const observations = observeAll(new AnonymityObserver(sim.roles), sim.events);
    const pushes = pushesOf(observations);
    assert.equal(pushes.length, sim.truth.length);
    assert.ok(pushes.length > 900, `${pushes.length} messages`);
    for (const push of pushes) assert.equal(push.entropyBits, 0);
    for (const output of outputsOf(observations)) assert.equal(output.inputEntropyBits, 0);
    const { summary } = scoreDeliveries(pushes, sim.truth, clients);
    assert.equal(summary.messages, sim.truth.length);
    assert.equal(summary.top1Accuracy, 1);
    assert.equal(summary.meanProbability, 1);
    assert.equal(summary.meanRank, 1);
  });

  it('through a cascade, the end-to-end sender distribution is exactly the first layer’s batch mix', () => {
    const layers: StrategyConfig[] = [
      { name: 'threshold', threshold: 3 },
      { name: 'threshold', threshold: 3 },
      { name: 'threshold', threshold: 3 },
    ];
    const observer = new AnonymityObserver(cascadeRoles(clients4, layers));
    const observations = observeAll(observer, [
      ...submissions([a, a, c]),
      wire(2, nodeName(1), nodeName(2), 3),
      wire(2, nodeName(2), nodeName(3), 3),
      wire(2, nodeName(3), GATEWAY, 3),
      wire(2, GATEWAY, b),
      wire(2, GATEWAY, d),
      wire(2, GATEWAY, b),
    ]);
    const firstBatch = outputsOf(observations, nodeName(1))[0]!;
    assert.deepEqual(probabilities(firstBatch), [2 / 3, 0, 1 / 3, 0]);
    const pushes = pushesOf(observations);
    assert.equal(pushes.length, 3);
    for (const push of pushes) {
      assert.deepEqual(probabilities(push), probabilities(firstBatch));
      assert.equal(push.entropyBits, -(2 / 3) * Math.log2(2 / 3) - (1 / 3) * Math.log2(1 / 3));
    }
    // Each later layer mixes whole copies of that one batch: over its own inputs the entropy is log2 3.
    for (const layer of [2, 3])
      assert.equal(outputsOf(observations, nodeName(layer))[0]?.inputEntropyBits, Math.log2(3));
  });

  it('on the real strategies, gives every message of a threshold cascade its layer-1 batch’s sender mix', () => {
    const clients = clientNames(8);
    const n = 4;
    const sim = simulateCascade({
      clients,
      layers: [1, 2, 3].map(() => ({ name: 'threshold', threshold: n })),
      sends: poissonSends(clients, 20, 60_000, 5),
      endMs: 61_000,
      seed: 6,
    });
    const pushes = pushesOf(observeAll(new AnonymityObserver(sim.roles), sim.events));
    assert.equal(pushes.length, sim.truth.length);
    assert.ok(pushes.length > 1000, `${pushes.length} messages`);
    const truthOf = new Map(sim.truth.map((t) => [`${t.recipient} ${t.order}`, t]));
    for (const push of pushes) {
      const truth = truthOf.get(`${push.recipient} ${push.order}`)!;
      const batch = sim.batches[0]![truth.batchAtLayer[0]!]!;
      const mix = clients.map((client) => batch.filter((sender) => sender === client).length / n);
      assert.deepEqual(probabilities(push), mix);
    }
  });

  it('agrees with the per-message batch entropy of the batches a real threshold:n=5,maxWait mix made', () => {
    const clients = clientNames(8);
    const sim = simulateCascade({
      clients,
      layers: [{ name: 'threshold', threshold: 5, maxWaitMs: 1000 }],
      sends: poissonSends(clients, 3, 120_000, 3),
      endMs: 125_000,
      seed: 4,
    });
    const outputs = outputsOf(observeAll(new AnonymityObserver(sim.roles), sim.events));
    const sizes = sim.batches[0]!.map((batch) => batch.length);
    assert.ok(new Set(sizes).size > 2, `batch sizes ${[...new Set(sizes)]}`);
    assert.deepEqual(
      outputs.map((o) => [o.packets, o.inputEntropyBits]),
      sizes.map((size) => [size, Math.log2(size)]),
    );
  });
});

describe('AnonymityObserver: strategies that release everything pooled', () => {
  it('timed: a release of k is the k oldest; a later arrival waits for the next tick', () => {
    const roles = cascadeRoles(clients4, [{ name: 'timed', intervalMs: 1000 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b], 0, 10),
      ...submissions([c], 999.8),
      wire(1000.3, nodeName(1), GATEWAY, 2),
    ]);
    assert.deepEqual(probabilities(outputsOf(observations)[0]!), [0.5, 0.5, 0, 0]);
    assert.equal(observer.pooled(nodeName(1)), 1);
  });

  it('counts the outputs of one node within one millisecond as one release', () => {
    const layers: StrategyConfig[] = [
      { name: 'timed', intervalMs: 1000 },
      { name: 'threshold', threshold: 1 },
      { name: 'threshold', threshold: 1 },
    ];
    const roles: Roles = {
      ...cascadeRoles(clients4, layers),
      nodes: [
        { name: 'mix-1', layer: 1, strategy: layers[0]! },
        { name: 'mix-2a', layer: 2, strategy: layers[1]! },
        { name: 'mix-2b', layer: 2, strategy: layers[2]! },
      ],
    };
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b, c, d]),
      // One batch of four, split by next hop into two requests seen a fraction of a ms apart.
      wire(1000.1, 'mix-1', 'mix-2a', 1),
      wire(1000.6, 'mix-1', 'mix-2b', 3),
    ]);
    for (const output of outputsOf(observations, 'mix-1')) {
      assert.equal(output.inputEntropyBits, 2);
      assert.deepEqual(probabilities(output), [0.25, 0.25, 0.25, 0.25]);
    }
  });

  it('counts as sunk what a batch held but never sent (drop cover at the exit)', () => {
    const roles = cascadeRoles(clients4, [{ name: 'timed', intervalMs: 1000 }]);
    const observer = new AnonymityObserver(roles, { releaseLagMs: 100 });
    const observations = observeAll(observer, [...submissions([a, b, c], 0, 10), wire(1000, nodeName(1), GATEWAY, 2)]);
    const [output] = outputsOf(observations);
    assert.equal(output?.packets, 2);
    assert.equal(output?.inputEntropyBits, Math.log2(3));
    assert.equal(observer.pooled(nodeName(1)), 0);
    assert.equal(observer.stats.sunkPackets, 1);
  });

  it('threshold-or-timed: a release holds at most n', () => {
    const roles = cascadeRoles(clients4, [{ name: 'threshold-or-timed', threshold: 2, intervalMs: 1000 }]);
    const observer = new AnonymityObserver(roles, { releaseLagMs: 0 });
    const observations = observeAll(observer, [
      ...submissions([a, b, c]), // in one millisecond the node releases a, b at n = 2 ...
      wire(2, nodeName(1), GATEWAY, 2),
      wire(1000, nodeName(1), GATEWAY, 1), // ... and c at the tick
    ]);
    assert.deepEqual(
      outputsOf(observations).map((o) => probabilities(o)),
      [
        [0.5, 0.5, 0, 0],
        [0, 0, 1, 0],
      ],
    );
  });
});

describe('AnonymityObserver: strategies that release uniformly from the pool', () => {
  it('pool: what stays collapses to the mean and carries its mass into the next round', () => {
    const roles = cascadeRoles(clients4, [{ name: 'pool', intervalMs: 1000, minPool: 1, fraction: 1 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b]),
      wire(1000, nodeName(1), GATEWAY, 1),
      ...submissions([c], 1500),
      wire(2000, nodeName(1), GATEWAY, 1),
    ]);
    const [first, second] = outputsOf(observations);
    assert.equal(first?.inputEntropyBits, 1);
    assert.deepEqual(probabilities(first!), [0.5, 0.5, 0, 0]);
    // Half the held packet (itself a+b half and half), half c: 1/2 (1 + 1) + 1/2 (0 + 1) = 1.5 bits.
    assert.equal(second?.inputEntropyBits, 1.5);
    assert.deepEqual(probabilities(second!), [0.25, 0.25, 0.5, 0]);
  });

  it('pool keeping n and receiving N per round reaches the closed form of Serjantov & Danezis', () => {
    const clients = clientNames(10);
    const N = 6;
    const kept = 4;
    const sim = simulateCascade({
      clients,
      layers: [{ name: 'pool', intervalMs: 1000, minPool: kept, fraction: 1 }],
      sends: roundSends(clients, N, 200, 7),
      endMs: 200_000,
      seed: 8,
    });
    const outputs = outputsOf(observeAll(new AnonymityObserver(sim.roles), sim.events));
    assert.deepEqual(new Set(sim.batches[0]!.slice(1).map((batch) => batch.length)), new Set([N]));
    const expected = poolMixEntropyBits(N, kept); // log2 10 + (4/6) log2(10/4) = 4.203...
    // The distance to the fixed point shrinks by n/(N+n) = 0.4 per round: after 100 rounds it is far below 1e-9.
    for (const output of outputs.slice(100)) assert.ok(Math.abs(output.inputEntropyBits - expected) < 1e-9);
    // The first tick finds only the first round's N, and sends N − n of them: a plain batch of N.
    assert.equal(outputs[0]?.inputEntropyBits, Math.log2(N));
  });

  it('binomial: every leaving packet is the mean of the pool, whatever the batch size', () => {
    const roles = cascadeRoles(clients4, [{ name: 'binomial', intervalMs: 1000, probability: 0.5 }]);
    const observations = observeAll(new AnonymityObserver(roles), [
      ...submissions([a, b, c, d]),
      wire(1000, nodeName(1), GATEWAY, 3),
      wire(2000, nodeName(1), GATEWAY, 1),
    ]);
    const [first, second] = outputsOf(observations);
    assert.equal(first?.inputEntropyBits, 2);
    assert.deepEqual(probabilities(second!), [0.25, 0.25, 0.25, 0.25]);
    // The one left behind is the mean of the first pool: over the inputs it is still 2 bits.
    assert.equal(second?.inputEntropyBits, 2);
  });

  it('exponential: each packet leaves alone, as the mean of what is pooled', () => {
    const roles = cascadeRoles(clients4, [{ name: 'exponential', delay: 'drawn', meanDelayMs: 100 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b]),
      wire(50, nodeName(1), GATEWAY, 1),
      ...submissions([c], 60),
      wire(70, nodeName(1), GATEWAY, 1),
    ]);
    const [, second] = outputsOf(observations);
    assert.deepEqual(probabilities(second!), [0.25, 0.25, 0.5, 0]);
    assert.equal(observer.pooled(nodeName(1)), 1);
  });
});

describe('AnonymityObserver: calibrated against the truth on the real strategies', () => {
  const clients = clientNames(8);
  // If each distribution is the true posterior, the probability it gives the true sender is on
  // average what it predicts itself: E[p(true)] = E[Σ p²]. Recipients are drawn independently of
  // senders here, so that the recipient carries no hint the observer ignores.
  const calibration = (layers: StrategyConfig[], roles?: (simulated: Roles) => Roles) => {
    const sends = poissonSends(clients, 10, 300_000, 1, 'anyone');
    const sim = simulateCascade({ clients, layers, sends, endMs: 320_000, seed: 2 });
    const pushes = pushesOf(observeAll(new AnonymityObserver(roles ? roles(sim.roles) : sim.roles), sim.events));
    const { summary } = scoreDeliveries(pushes, sim.truth, clients);
    assert.equal(summary.messages, sim.truth.length);
    let predicted = 0;
    for (const push of pushes) for (const p of push.senders.probabilities) predicted += p * p;
    return { observed: summary.meanProbability, predicted: predicted / pushes.length };
  };
  const strategies: StrategyConfig[] = [
    { name: 'pool', intervalMs: 500, minPool: 3, fraction: 0.5 },
    { name: 'binomial', intervalMs: 500, probability: 0.4 },
    { name: 'exponential', delay: 'drawn', meanDelayMs: 300 },
    { name: 'timed', intervalMs: 700 },
    { name: 'threshold-or-timed', threshold: 4, intervalMs: 700 },
    { name: 'threshold-and-timed', threshold: 3, intervalMs: 700 },
    { name: 'threshold', threshold: 4, maxWaitMs: 600 },
  ];
  for (const strategy of strategies) {
    it(`${strategy.name}: three layers, about 3000 messages, within 0.01 (measured: at most 0.0006)`, () => {
      const { observed, predicted } = calibration([strategy, strategy, strategy]);
      assert.ok(observed > 1 / clients.length, `${observed} is no better than a guess`);
      assert.ok(Math.abs(observed - predicted) < 0.01, `observed ${observed}, predicted ${predicted}`);
    });
  }

  it('and is not calibrated under the wrong rule: a pool read as a timed mix (measured: 0.05 off)', () => {
    const pool: StrategyConfig = { name: 'pool', intervalMs: 500, minPool: 3, fraction: 0.5 };
    const timed: StrategyConfig = { name: 'timed', intervalMs: 500 };
    const misread = (roles: Roles) => ({ ...roles, nodes: roles.nodes.map((node) => ({ ...node, strategy: timed })) });
    const { observed, predicted } = calibration([pool, pool, pool], misread);
    assert.ok(predicted - observed > 0.03, `observed ${observed}, predicted ${predicted}`);
  });
});

describe('AnonymityObserver: gateway relays', () => {
  it('forwards submissions to layer 1 first in, first out', () => {
    const roles = cascadeRoles(clients4, [{ name: 'threshold', threshold: 1 }]);
    const observations = observeAll(new AnonymityObserver(roles), [
      wire(0, a, GATEWAY),
      wire(1, b, GATEWAY, 2),
      wire(2, GATEWAY, nodeName(1)),
      wire(2, nodeName(1), GATEWAY),
      wire(3, GATEWAY, nodeName(1), 2),
      wire(3, nodeName(1), GATEWAY),
      wire(3, nodeName(1), GATEWAY),
    ]);
    assert.deepEqual(
      outputsOf(observations).map((o) => probabilities(o)),
      [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 1, 0, 0],
      ],
    );
  });

  it('passes deliveries to recipients first in, first out, numbering each recipient’s messages', () => {
    const roles = cascadeRoles(clients4, [{ name: 'threshold', threshold: 1 }]);
    const observer = new AnonymityObserver(roles);
    const observations = observeAll(observer, [
      ...submissions([a, b]),
      wire(1, nodeName(1), GATEWAY), // a's, by the relay and the n=1 rule
      wire(1, nodeName(1), GATEWAY), // b's
      wire(5, GATEWAY, c),
      wire(6, GATEWAY, d),
      wire(7, GATEWAY, c), // nothing is pending: the observer cannot attribute it
    ]);
    assert.deepEqual(
      pushesOf(observations).map((p) => [p.recipient, p.order, probabilities(p), p.senders.unattributed]),
      [
        [c, 1, [1, 0, 0, 0], 0],
        [d, 1, [0, 1, 0, 0], 0],
        [c, 2, [0, 0, 0, 0], 1],
      ],
    );
    assert.equal(observer.stats.unattributedPackets, 1);
  });
});

describe('AnonymityObserver: input and memory', () => {
  const roles = cascadeRoles(clients4, [{ name: 'threshold', threshold: 2 }]);

  it('rejects events out of time order or malformed, and keeps going unchanged', () => {
    const observer = new AnonymityObserver(roles);
    observer.observe(wire(10, a, GATEWAY));
    assert.throws(() => observer.observe(wire(9.5, b, GATEWAY)), WireTraceError);
    assert.throws(() => observer.observe({ ...wire(11, a, GATEWAY), packets: 1.5 }), /packets must be a whole number/);
    assert.throws(() => observer.observe({ ...wire(11, a, GATEWAY), atMs: Number.NaN }), /atMs/);
    observer.observe(wire(10.5, GATEWAY, nodeName(1)));
    observer.observe(wire(11, b, GATEWAY));
    observer.observe(wire(11, GATEWAY, nodeName(1)));
    const [output] = outputsOf(observeAll(observer, [wire(12, nodeName(1), GATEWAY, 2)]));
    assert.deepEqual(probabilities(output!), [0.5, 0.5, 0, 0]);
    assert.equal(observer.stats.events, 5);
  });

  it('advanceTo processes every millisecond before it and refuses events older than it', () => {
    const observer = new AnonymityObserver(roles);
    for (const event of submissions([a, b])) observer.observe(event);
    observer.observe(wire(5.1, nodeName(1), GATEWAY, 2));
    assert.deepEqual(observer.advanceTo(5.9), []); // millisecond 5 may still get events
    const [output] = outputsOf(observer.advanceTo(6));
    assert.equal(output?.inputEntropyBits, 1);
    assert.throws(() => observer.observe(wire(5.95, a, GATEWAY)), /time order/);
    assert.deepEqual(observeAll(observer, [wire(6, a, GATEWAY)]), []);
  });

  it('says how anonymous a sender distribution is, counting unattributed mass as one more candidate', () => {
    const half = { probabilities: Float64Array.from([0.25, 0.25, 0, 0]), unattributed: 0.5 };
    assert.deepEqual(senderAnonymity(half, 4), {
      entropyBits: 1.5,
      effectiveSetSize: 2 ** 1.5,
      degree: 0.75,
      clientsSeen: 4,
    });
    const certain = { probabilities: Float64Array.from([0, 1]), unattributed: 0 };
    assert.deepEqual(senderAnonymity(certain, 1), { entropyBits: 0, effectiveSetSize: 1, degree: 0, clientsSeen: 1 });
  });

  it('ignores events on links it has no model for, and events without packets', () => {
    const observer = new AnonymityObserver(roles);
    observeAll(observer, [
      wire(0, a, nodeName(1)),
      wire(1, 'somebody', GATEWAY),
      wire(2, a, GATEWAY, 0),
      wire(3, GATEWAY, GATEWAY),
    ]);
    assert.equal(observer.stats.ignoredEvents, 4);
    assert.equal(observer.stats.clientsSeen, 0);
    assert.equal(observer.pooled(nodeName(1)), 0);
  });

  it('rejects roles that name an endpoint twice or a node without a layer', () => {
    assert.throws(
      () => new AnonymityObserver({ ...roles, gateways: [a] }),
      /"client-0" is listed as both client and gateway/,
    );
    assert.throws(
      () =>
        new AnonymityObserver({
          ...roles,
          nodes: [{ name: 'mix-1', layer: 0, strategy: { name: 'timed', intervalMs: 1 } }],
        }),
      /layer >= 1/,
    );
    const zero: StrategyConfig = { name: 'threshold', threshold: 0 };
    assert.throws(
      () => new AnonymityObserver({ ...roles, nodes: [{ name: 'mix-1', layer: 1, strategy: zero }] }),
      /threshold must be a whole number >= 1, got 0/,
    );
    const strategy = { name: 'mystery' } as unknown as StrategyConfig;
    assert.throws(
      () => new AnonymityObserver({ ...roles, nodes: [{ name: 'mix-1', layer: 1, strategy }] }),
      /unknown strategy "mystery"/,
    );
  });

  it('keeps its memory bounded over 100k events of a three-layer cascade', () => {
    const clients = clientNames(20);
    const layers: StrategyConfig[] = [
      { name: 'exponential', delay: 'drawn', meanDelayMs: 200 },
      { name: 'pool', intervalMs: 500, minPool: 5, fraction: 0.6 },
      { name: 'threshold', threshold: 4, maxWaitMs: 500 },
    ];
    const sim = simulateCascade({
      clients,
      layers,
      sends: poissonSends(clients, 40, 620_000, 9),
      endMs: 630_000,
      seed: 10,
    });
    assert.ok(sim.events.length >= 100_000, `${sim.events.length} events`);
    const observer = new AnonymityObserver(sim.roles);
    let maxRuns = 0;
    let pushes = 0;
    for (const event of sim.events) {
      for (const o of observer.observe(event)) if (o.kind === 'push') pushes++;
      maxRuns = Math.max(maxRuns, observer.stats.retainedRuns);
    }
    pushes += observer.flush().filter((o) => o.kind === 'push').length;
    assert.equal(pushes, sim.truth.length);
    // Runs live only while their packets are pooled: about rate × mean delay per node, not the trace's length.
    assert.ok(maxRuns < 100, `at most ${maxRuns} runs held`); // measured: 38
    const stats = observer.stats;
    assert.equal(stats.unattributedPackets + stats.sunkPackets + stats.evictedPackets + stats.ignoredEvents, 0);
  });

  it('evicts the oldest runs of a pool that never releases, and counts them', () => {
    const observer = new AnonymityObserver(cascadeRoles(clients4, [{ name: 'threshold', threshold: 1000 }]), {
      maxRunsPerQueue: 10,
    });
    const events: WireEvent[] = [];
    for (let i = 0; i < 100; i++) events.push(wire(i, a, GATEWAY), wire(i, GATEWAY, nodeName(1)));
    observeAll(observer, events);
    assert.equal(observer.pooled(nodeName(1)), 10);
    assert.equal(observer.stats.evictedPackets, 90);
    assert.equal(observer.stats.retainedRuns, 10);
  });
});
