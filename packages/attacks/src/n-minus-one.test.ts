import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStrategyConfig } from '@mixlab/mixing';
import { seededRandom } from '@mixlab/runtime';
import {
  entryRoundsUntilPush,
  floodedNodeOutput,
  followTarget,
  simulateFlood,
  steadyPool,
  targetRetention,
} from './n-minus-one.ts';
import { clientNames, type Send, simulateCascade } from './test-support.ts';

/** Four standard errors of a share estimated from `trials` Bernoulli draws of probability p, plus rounding slack. */
const tolerance = (p: number, trials: number) => 4 * Math.sqrt((p * (1 - p)) / trials) + 1e-9;

describe('targetRetention', () => {
  it('gives the closed forms: batches in one round, (n/(N + n))^r, (1 − p)^r, e^(−r t/mean)', () => {
    for (const strategy of [
      'threshold:n=10',
      'timed:t=1s',
      'threshold-or-timed:n=5,t=1s',
      'threshold-and-timed:n=5,t=1s',
    ]) {
      const config = parseStrategyConfig(strategy);
      assert.equal(targetRetention(config, 0), 1);
      assert.equal(targetRetention(config, 1), 0);
    }
    const pool = parseStrategyConfig('pool:t=1s,min=4,fraction=1');
    assert.equal(targetRetention(pool, 3, { attackerPerRound: 6 }), 0.4 ** 3);
    assert.equal(targetRetention(parseStrategyConfig('binomial:t=1s,p=0.3'), 2), 0.7 ** 2);
    const exponential = parseStrategyConfig('exponential:mean=200ms');
    assert.equal(targetRetention(exponential, 2, { roundMs: 100 }), Math.exp(-1));
  });

  it('finds the pool a dynamic pool keeps under flooding', () => {
    assert.equal(steadyPool(4, 1, 6), 4);
    // fraction 0.5: floor(0.5 (P + 6 − 4)) = 6 leave when P = 10.
    assert.equal(steadyPool(4, 0.5, 6), 10);
  });
});

describe('simulateFlood (the real strategies, seeded)', () => {
  it('takes one round against threshold and timed batching, and always names the target', () => {
    for (const strategy of [
      'threshold:n=10',
      'timed:t=1s',
      'threshold-or-timed:n=5,t=1s',
      'threshold-and-timed:n=5,t=1s',
    ]) {
      const result = simulateFlood(parseStrategyConfig(strategy), seededRandom(1), { trials: 200 });
      assert.equal(result.successRate, 1, strategy);
      assert.equal(result.meanTargetRounds, 1, strategy);
      assert.equal(result.meanFlushRounds, 1, strategy);
      assert.deepEqual(result.retained.slice(0, 3), [1, 0, 0], strategy);
    }
  });

  it('refuses an exponential mix whose delays the senders choose', () => {
    assert.throws(
      () => simulateFlood(parseStrategyConfig('exponential:delay=sender'), seededRandom(1)),
      /drawn delays/,
    );
  });

  const trials = 4000;
  for (const [strategy, options] of [
    ['pool:t=1s,min=4,fraction=1', { attackerPerRound: 6 }],
    ['pool:t=1s,min=4,fraction=0.5', { attackerPerRound: 6 }],
    ['binomial:t=1s,p=0.3', {}],
    ['exponential:mean=1s', { roundMs: 500 }],
  ] as const) {
    it(`keeps the target as the closed form says against ${strategy}`, () => {
      const config = parseStrategyConfig(strategy);
      const result = simulateFlood(config, seededRandom(2), { ...options, trials, maxRounds: 200 });
      assert.equal(result.successRate, 1);
      for (let r = 1; r <= 6; r++) {
        const expected = targetRetention(config, r, options);
        const measured = result.retained[r] as number;
        assert.ok(Math.abs(measured - expected) <= tolerance(expected, trials), `r=${r}: ${measured} vs ${expected}`);
      }
    });
  }
});

/** Two threshold-5 layers, the attacker's flood and the target's sends in `sends`. */
const floodedCascade = (clients: readonly string[], sends: readonly Send[]) => {
  const threshold = parseStrategyConfig('threshold:n=5');
  return simulateCascade({
    clients,
    layers: [threshold, threshold],
    sends,
    endMs: 10_000,
    random: seededRandom(4),
    format: 'sphinx',
  });
};

describe('followTarget', () => {
  const clients = [...clientNames(4), 'attacker-0', 'attacker-1', 'attacker-2', 'attacker-3'];
  it('names the target’s recipient when only the target and the attacker got in', () => {
    const sends: Send[] = [
      { atMs: 100, sender: 'client-0', recipient: 'client-2', length: 10 },
      // The target's own loop cover comes back to it and says nothing.
      { atMs: 100.5, sender: 'client-0', recipient: 'client-0', length: 10 },
    ];
    for (let i = 0; i < 8; i++) {
      sends.push({ atMs: 101 + i, sender: `attacker-${i % 4}`, recipient: `attacker-${(i + 1) % 4}`, length: 10 });
    }
    const trace = floodedCascade(clients, sends);
    const found = followTarget(trace.events, trace.roles, {
      target: 'client-0',
      attackers: ['attacker-0', 'attacker-1', 'attacker-2', 'attacker-3'],
      sinceMs: 100,
    });
    assert.equal(found.targetSubmissions, 2);
    assert.equal(found.candidates.length, 1);
    assert.equal(found.recipient, 'client-2');
  });

  it('cannot name it when honest traffic was let through too', () => {
    const sends: Send[] = [
      { atMs: 100, sender: 'client-0', recipient: 'client-2', length: 10 },
      { atMs: 101, sender: 'client-1', recipient: 'client-3', length: 10 },
    ];
    for (let i = 0; i < 8; i++) {
      sends.push({ atMs: 102 + i, sender: `attacker-${i % 4}`, recipient: `attacker-${(i + 1) % 4}`, length: 10 });
    }
    const trace = floodedCascade(clients, sends);
    const found = followTarget(trace.events, trace.roles, {
      target: 'client-0',
      attackers: ['attacker-0'],
      sinceMs: 100,
    });
    assert.equal(found.recipient, undefined);
  });
});

describe('floodedNodeOutput', () => {
  // A flooded threshold node of 5 releases to two layer-2 nodes; the attacker routed 3 of its
  // 4 packets over mix-2a and 1 over mix-2b in that batch.
  const events = [
    { atMs: 50, from: 'mix-1', to: 'mix-2a', packets: 2, bytes: 5244 }, // before the attack
    { atMs: 100, from: 'gateway', to: 'mix-1', packets: 1, bytes: 2622 },
    { atMs: 120, from: 'mix-1', to: 'mix-2a', packets: 3, bytes: 7866 },
    { atMs: 120, from: 'mix-1', to: 'mix-2b', packets: 2, bytes: 5244 },
  ];
  const own = new Map([
    ['mix-2a', 3],
    ['mix-2b', 1],
  ]);

  it('names the link that carried one packet more than the attacker sent over it', () => {
    const found = floodedNodeOutput(events, { node: 'mix-1', sinceMs: 100, ownPackets: (e) => own.get(e.to) ?? 0 });
    assert.equal(found.identified, events[3]);
    assert.equal(found.releases, 1);
  });

  it('finds the target in a real threshold node flooded by the attacker', () => {
    const clients = ['client-0', 'client-1', 'attacker'];
    const sends: Send[] = [{ atMs: 100, sender: 'client-0', recipient: 'client-1', length: 10 }];
    for (let i = 0; i < 4; i++) sends.push({ atMs: 101 + i, sender: 'attacker', recipient: 'attacker', length: 10 });
    const trace = floodedCascade(clients, sends);
    // A whole-batch release: all 4 of the attacker's pooled packets left with it.
    const found = floodedNodeOutput(trace.events, { node: 'mix-1', sinceMs: 100, ownPackets: () => 4 });
    assert.equal(found.identified?.to, 'mix-2');
    assert.equal(found.identified?.packets, 5);
    assert.equal(found.releases, 1);
  });

  it('names nothing when the surplus is spread over several links', () => {
    const found = floodedNodeOutput(events, { node: 'mix-1', sinceMs: 100, ownPackets: () => 1 });
    assert.equal(found.candidates.length, 2);
    assert.equal(found.identified, undefined);
  });
});

describe('entryRoundsUntilPush', () => {
  const roles = {
    clients: ['alice', 'bob'],
    gateways: ['gateway'],
    nodes: [
      { name: 'mix-1', layer: 1, strategy: parseStrategyConfig('pool:t=1s,min=2,fraction=1') },
      { name: 'mix-2', layer: 2, strategy: parseStrategyConfig('threshold:n=1') },
      { name: 'mix-3', layer: 3, strategy: parseStrategyConfig('threshold:n=1') },
    ],
  };
  const release = (atMs: number, packets: number) => [
    { atMs, from: 'mix-1', to: 'mix-2', packets, bytes: 0 },
    { atMs: atMs + 5, from: 'mix-2', to: 'mix-3', packets, bytes: 0 },
    { atMs: atMs + 10, from: 'mix-3', to: 'gateway', packets, bytes: 0 },
  ];
  // The target (alice) and the attacker's own enter at 0; the entry releases every second.
  const events = [
    { atMs: 0, from: 'alice', to: 'gateway', packets: 1, bytes: 0 },
    { atMs: 2, from: 'gateway', to: 'mix-1', packets: 1, bytes: 0 },
    ...release(1000, 3),
    ...release(2000, 3),
    ...release(3000, 3),
    { atMs: 3020, from: 'gateway', to: 'bob', packets: 1, bytes: 0 },
    ...release(4000, 3),
  ];

  it('counts the entry releases up to the first push, whatever the order the taps reported them in', () => {
    assert.equal(entryRoundsUntilPush(events, roles), 3);
    assert.equal(entryRoundsUntilPush([...events].reverse(), roles), 3);
  });

  it('answers undefined while nothing was pushed', () => {
    assert.equal(entryRoundsUntilPush(events.slice(0, 8), roles), undefined);
  });
});
