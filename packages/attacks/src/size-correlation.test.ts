import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WireEvent } from '@mixlab/anonymity';
import { parseStrategyConfig } from '@mixlab/mixing';
import { seededRandom } from '@mixlab/runtime';
import { evaluateExitLink } from './cover-evaluation.ts';
import { scoreLinking } from './linking.ts';
import { exitLinkSizes, learnShrinkBytes, sizeCorrelation } from './size-correlation.ts';
import {
  clientNames,
  GATEWAY,
  ONION_FRAMING_BYTES,
  ONION_HOP_BYTES,
  poissonSends,
  type Send,
  SPHINX_DELIVERY_BYTES,
  threeLayers,
} from './test-support.ts';
import { traceEnds } from './trace.ts';

const clients = clientNames(10);
const timed = parseStrategyConfig('timed:t=1s');

const cascade = (format: 'sphinx' | 'onion', sends: readonly Send[]) =>
  threeLayers('timed:t=1s', clients, sends, seededRandom(5), { format });

describe('sizeCorrelation', () => {
  it('links nearly every message through mixing under onion: sizes survive every hop', () => {
    const trace = cascade('onion', poissonSends(clients, 10, 120_000, seededRandom(11)));
    const { submissions, pushes } = traceEnds(trace.events, trace.roles);
    assert.equal(learnShrinkBytes(submissions, pushes), 3 * ONION_HOP_BYTES + ONION_FRAMING_BYTES);
    const windowed = sizeCorrelation(trace.events, trace.roles, { windowMs: 10_000 });
    const { summary } = scoreLinking(windowed.estimates, trace.truth, clients);
    assert.ok(summary.top1Accuracy > 0.97, `top-1 ${summary.top1Accuracy}`);
    // Over the whole trace only messages of equal length are confused.
    const whole = scoreLinking(sizeCorrelation(trace.events, trace.roles).estimates, trace.truth, clients).summary;
    assert.ok(whole.top1Accuracy > 0.8 && whole.top1Accuracy < summary.top1Accuracy, `${whole.top1Accuracy}`);
  });

  it('is exactly at chance under Sphinx when every client sends as much', () => {
    // Each client sends once per second, so at every push all have sent equally often.
    const sends = Array.from({ length: 200 }, (_, i) => ({
      atMs: Math.floor(i / 10) * 1000 + 1 + (i % 10),
      sender: clients[i % 10] as string,
      recipient: clients[(i + 3) % 10] as string,
      length: 10 + i,
    }));
    const trace = cascade('sphinx', sends);
    const { summary } = scoreLinking(sizeCorrelation(trace.events, trace.roles).estimates, trace.truth, clients);
    assert.equal(summary.messages, 200);
    assert.ok(Math.abs(summary.top1Accuracy - 0.1) < 1e-12, `${summary.top1Accuracy}`);
    assert.ok(Math.abs(summary.meanRank - 5.5) < 1e-12, `${summary.meanRank}`);
    assert.ok(Math.abs(summary.auc - 0.5) < 1e-12, `${summary.auc}`);
  });

  it('takes the shrink the caller knows instead of learning it', () => {
    const events: WireEvent[] = [
      { atMs: 0, from: 'client-0', to: GATEWAY, bytes: 500, packets: 1 },
      { atMs: 1, from: 'client-1', to: GATEWAY, bytes: 400, packets: 1 },
      { atMs: 9, from: GATEWAY, to: 'client-2', bytes: 300, packets: 1 },
    ];
    const roles = { clients, gateways: [GATEWAY], nodes: [] as never[] };
    const known = sizeCorrelation(events, roles, { shrinkBytes: 200 });
    assert.equal(known.shrinkBytes, 200);
    assert.equal(known.estimates[0]?.senders.probabilities[0], 1);
    const unknown = sizeCorrelation(events, roles);
    assert.equal(unknown.shrinkBytes, 100);
    assert.equal(unknown.estimates[0]?.senders.probabilities[1], 1);
  });
});

describe('the exit → gateway link', () => {
  const roles = { clients, gateways: [GATEWAY], nodes: [{ name: 'mix-1', layer: 1, strategy: timed }] };
  const exitTrace = (ackBytes: number) => {
    const random = seededRandom(2);
    const acks: boolean[] = [];
    const events: WireEvent[] = [];
    for (let i = 0; i < 400; i++) {
      const ack = random.float() < 0.5;
      acks.push(ack);
      events.push({ atMs: i, from: 'mix-1', to: GATEWAY, bytes: ack ? ackBytes : SPHINX_DELIVERY_BYTES, packets: 1 });
    }
    return { events, acks };
  };

  it('tells acknowledgements from messages when their sizes differ (2096 vs 2018 bytes)', () => {
    const { events, acks } = exitTrace(2096);
    assert.deepEqual(
      exitLinkSizes(events, roles).sizes.map((s) => s.bytes),
      [2018, 2096],
    );
    assert.equal(exitLinkSizes(events, roles).distinguishable, true);
    const score = evaluateExitLink(events, roles, (_e, i) => acks[i] as boolean, seededRandom(3));
    assert.equal(score.accuracy, 1);
    assert.equal(score.balancedAccuracy, 1);
  });

  it('cannot tell them apart once they are one size', () => {
    const { events, acks } = exitTrace(SPHINX_DELIVERY_BYTES);
    assert.equal(exitLinkSizes(events, roles).distinguishable, false);
    const score = evaluateExitLink(events, roles, (_e, i) => acks[i] as boolean, seededRandom(3));
    assert.equal(score.balancedAccuracy, 0.5);
  });
});
