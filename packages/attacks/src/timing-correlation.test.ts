import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TruthRecord, WireEvent } from '@mixlab/anonymity';
import { seededRandom, shuffle } from '@mixlab/runtime';
import { scoreLinking } from './linking.ts';
import { clientNames, GATEWAY, poissonSends, threeLayers } from './test-support.ts';
import { learnDelayProfile, timingCorrelation } from './timing-correlation.ts';
import { traceEnds } from './trace.ts';

const clients = clientNames(10);

/** Top-1, mean rank and AUC of the timing attack on a three-layer cascade of `strategy`. */
function attack(strategy: string, seed = 7) {
  const random = seededRandom(seed);
  const sends = poissonSends(clients, 10, 120_000, random.fork('sends'));
  const trace = threeLayers(strategy, clients, sends, random.fork('mix'));
  const { estimates } = timingCorrelation(trace.events, trace.roles);
  return scoreLinking(estimates, trace.truth, clients).summary;
}

describe('timingCorrelation', () => {
  it('links every message to its sender through a cascade that does not mix (threshold n=1)', () => {
    const summary = attack('threshold:n=1');
    assert.ok(summary.messages > 1000);
    assert.ok(summary.top1Accuracy > 0.97, `top-1 ${summary.top1Accuracy}`);
    assert.ok(summary.auc > 0.99, `AUC ${summary.auc}`);
    assert.ok(summary.meanRank < 1.05, `mean rank ${summary.meanRank}`);
  });

  it('gives exactly chance when every client sends at the same instant and the batch is shuffled', () => {
    const four = clientNames(4);
    const random = seededRandom(1);
    const events: WireEvent[] = [];
    const truth: TruthRecord[] = [];
    const delivered = new Map<string, number>();
    for (let round = 0; round < 50; round++) {
      const at = round * 1000;
      for (const sender of four) events.push({ atMs: at, from: sender, to: GATEWAY, bytes: 2622, packets: 1 });
      for (const sender of shuffle([...four], random)) {
        const recipient = four[random.int(4)] as string;
        const order = (delivered.get(recipient) ?? 0) + 1;
        delivered.set(recipient, order);
        truth.push({ sender, recipient, order });
        events.push({ atMs: at + 500, from: GATEWAY, to: recipient, bytes: 2018, packets: 1 });
      }
    }
    const roles = { clients: four, gateways: [GATEWAY], nodes: [] };
    const { summary } = scoreLinking(timingCorrelation(events, roles).estimates, truth, four);
    assert.equal(summary.messages, 200);
    assert.equal(summary.top1Accuracy, 1 / 4);
    assert.equal(summary.meanRank, 2.5);
    assert.equal(summary.auc, 0.5);
    assert.equal(summary.baseline.top1Accuracy, 1 / 4);
  });

  it('falls as mixing grows, for every strategy, towards the random guess', () => {
    const none = attack('threshold:n=1');
    const short = attack('timed:t=100ms');
    const long = attack('timed:t=1s');
    assert.ok(short.top1Accuracy < none.top1Accuracy - 0.2, `${short.top1Accuracy}`);
    assert.ok(long.top1Accuracy < short.top1Accuracy - 0.2, `${long.top1Accuracy}`);
    for (const strategy of [
      'timed:t=1s',
      'threshold:n=10',
      'threshold-or-timed:n=10,t=1s',
      'threshold-and-timed:n=5,t=500ms',
      'pool:t=1s,min=10,fraction=1',
      'binomial:t=1s,p=0.5',
      'exponential:mean=2s',
    ]) {
      const summary = attack(strategy);
      assert.ok(summary.top1Accuracy < 0.25, `${strategy}: top-1 ${summary.top1Accuracy}`);
      assert.ok(summary.auc < 0.65, `${strategy}: AUC ${summary.auc}`);
      assert.ok(summary.top1Accuracy > summary.baseline.top1Accuracy - 0.03, `${strategy}: ${summary.top1Accuracy}`);
    }
  });

  it('learns the delay from the trace alone: the profile peaks at the true delay', () => {
    const random = seededRandom(3);
    const sends = poissonSends(clients, 20, 60_000, random);
    const events: WireEvent[] = [];
    for (const send of sends) {
      events.push({ atMs: send.atMs, from: send.sender, to: GATEWAY, bytes: 2622, packets: 1 });
      events.push({ atMs: send.atMs + 300, from: GATEWAY, to: send.recipient, bytes: 2018, packets: 1 });
    }
    const { submissions, pushes } = traceEnds(events, { clients, gateways: [GATEWAY], nodes: [] });
    const profile = learnDelayProfile(submissions, pushes, { binMs: 10, windowMs: 2000 });
    const peak = profile.weights.indexOf(Math.max(...profile.weights));
    assert.equal(peak, 30);
    assert.ok(profile.background > 0);
  });

  it('rejects a bin or window that cannot work', () => {
    assert.throws(() => learnDelayProfile([], [], { binMs: 0 }), /binMs/);
    assert.throws(() => learnDelayProfile([], [], { binMs: 10, windowMs: 5 }), /windowMs/);
  });
});
