import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RecordedTrace } from '@mixlab/attacks';
import type { LoadTruth } from '@mixlab/load';
import { disclosureAttack, formatLinking, linkingAttack, scoreLinkingResult } from './attack-command.ts';

/** Three clients submit on client-1..3 and are pushed to on client-4..6; no mixing: 20 ms later. */
function unmixed(): { trace: RecordedTrace; truth: LoadTruth } {
  const events: RecordedTrace['events'][number][] = [];
  const messages: LoadTruth['messages'][number][] = [];
  let atMs = 1000;
  for (let i = 0; i < 30; i++) {
    const from = i % 3;
    const to = (from + 1 + (i % 2)) % 3;
    // Irregular gaps (150-649 ms): a periodic trace would teach the attack its period as a delay.
    atMs += 150 + ((i * 7919) % 500);
    const bytes = 500 + ((i * 37) % 400);
    events.push({ atMs, from: `client-${from + 1}`, to: 'gw', bytes: bytes + 236, packets: 1 });
    events.push({ atMs: atMs + 20, from: 'gw', to: `client-${to + 4}`, bytes, packets: 1 });
    messages.push({ from, to, sentAtMs: atMs - 5, receivedAtMs: atMs + 22 });
  }
  const trace: RecordedTrace = {
    clients: Array.from({ length: 6 }, (_, i) => ({ name: `client-${i + 1}`, endpoint: `10.0.0.9:${4000 + i}` })),
    nodes: [{ name: 'mix-1', layer: 1 }],
    gateways: ['gw'],
    strategy: 'threshold:n=1',
    events,
  };
  return { trace, truth: { clients: 3, messages } };
}

describe('mixlab attack (analysis)', () => {
  it('links every message by timing and by size when nothing mixes, and scores among the senders', () => {
    const { trace, truth } = unmixed();
    for (const attack of ['timing', 'size'] as const) {
      const result = linkingAttack(attack, trace);
      assert.deepEqual(result.senders, ['client-1', 'client-2', 'client-3']);
      const { summary, unjoined } = scoreLinkingResult(result, trace, truth);
      assert.equal(unjoined, 0);
      assert.equal(summary.messages, 30);
      assert.equal(summary.top1Accuracy, 1, attack);
      assert.equal(summary.baseline.candidates, 3);
      assert.equal(summary.auc, 1);
    }
    const size = linkingAttack('size', trace);
    assert.equal(size.learned.shrinkBytes, 236);
    assert.match(formatLinking(size), /learned shrinkBytes 236/);
  });

  it("ranks the target's recipients and scores them against the truth", () => {
    const { trace, truth } = unmixed();
    const result = disclosureAttack(trace, { target: 'client-1', friends: 2, roundMs: 100, lagMs: 20 }, truth);
    assert.equal(result.targetRounds, 10);
    assert.deepEqual([...(result.score?.friends ?? [])].sort(), ['client-5', 'client-6']);
    assert.equal(result.score?.inTop, 2);
    assert.throws(() => disclosureAttack(trace, { target: 'nobody', friends: 1, roundMs: 300, lagMs: 0 }), /nobody/);
  });

  it("cuts rounds at the first layer's releases when no --round-ms is given, and says when the friends were disclosed", () => {
    const { trace, truth } = unmixed();
    // A layer-2 node, and a layer-1 release just after every submission (no mixing).
    const events = [...trace.events];
    for (const e of trace.events.filter((e) => e.to === 'gw'))
      events.push({ atMs: e.atMs + 5, from: 'mix-1', to: 'mix-2', bytes: e.bytes, packets: 1 });
    const layered: RecordedTrace = {
      ...trace,
      nodes: [...trace.nodes, { name: 'mix-2', layer: 2 }],
      events: events.sort((a, b) => a.atMs - b.atMs),
    };
    const result = disclosureAttack(layered, { target: 'client-1', friends: 2 }, truth);
    assert.equal(result.roundsFrom, 'batches');
    assert.equal(result.rounds, 30);
    assert.equal(result.meanBatch, 1);
    assert.equal(result.targetRounds, 10);
    assert.equal(result.score?.inTop, 2);
    assert.ok((result.score?.targetRoundsToDisclose ?? 0) >= 2, 'two friends need two target rounds at least');
  });
});
