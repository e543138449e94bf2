import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SenderDistribution } from './observer.ts';
import { randomGuessBaseline, scoreDeliveries, scoreGuess, type TruthRecord } from './scoring.ts';

const distribution = (...probabilities: number[]): SenderDistribution => ({
  probabilities: Float64Array.from(probabilities),
  unattributed: 1 - probabilities.reduce((sum, p) => sum + p, 0),
});

describe('scoreGuess', () => {
  it('gives the true sender’s probability, its rank, and top-1 with ties broken uniformly', () => {
    const skewed = distribution(0.5, 0.25, 0.25);
    assert.deepEqual(scoreGuess(skewed, 0), { probability: 0.5, rank: 1, top1: 1 });
    assert.deepEqual(scoreGuess(skewed, 2), { probability: 0.25, rank: 2.5, top1: 0 });
    const uniform = distribution(1 / 3, 1 / 3, 1 / 3);
    assert.deepEqual(scoreGuess(uniform, 1), { probability: 1 / 3, rank: 2, top1: 1 / 3 });
  });

  it('treats shares equal up to rounding as ties', () => {
    const tied = distribution(0.1 + 0.2, 0.3, 0.4);
    assert.equal(scoreGuess(tied, 0).rank, 2.5);
  });

  it('rejects an index that is not a client', () => {
    assert.throws(() => scoreGuess(distribution(1, 0), 2), /not one of 2 clients/);
  });
});

describe('scoreDeliveries', () => {
  const clients = ['alice', 'bob', 'carol', 'dave'];
  const truth: TruthRecord[] = [
    { sender: 'alice', recipient: 'bob', order: 1 },
    { sender: 'carol', recipient: 'bob', order: 2 },
    { sender: 'bob', recipient: 'dave', order: 1 },
  ];

  it('joins on recipient and order and averages over the matched messages', () => {
    const { messages, summary } = scoreDeliveries(
      [
        { recipient: 'bob', order: 2, senders: distribution(0.5, 0, 0.5, 0) },
        { recipient: 'bob', order: 1, senders: distribution(1, 0, 0, 0) },
        { recipient: 'carol', order: 1, senders: distribution(0, 0, 0, 1) }, // no truth: cover, or a stray
      ],
      truth,
      clients,
    );
    assert.deepEqual(
      messages.map((m) => [m.recipient, m.order, m.sender, m.probability, m.rank, m.top1]),
      [
        ['bob', 2, 'carol', 0.5, 1.5, 0.5],
        ['bob', 1, 'alice', 1, 1, 1],
      ],
    );
    assert.deepEqual(summary, {
      messages: 2,
      unmatchedTruth: 1,
      unmatchedEstimates: 1,
      meanProbability: 0.75,
      meanRank: 1.25,
      top1Accuracy: 0.75,
      baseline: { candidates: 4, probability: 0.25, rank: 2.5, top1Accuracy: 0.25 },
    });
  });

  it('refuses truth that names a stranger or gives one message twice', () => {
    assert.throws(() => scoreDeliveries([], [{ sender: 'eve', recipient: 'bob', order: 1 }], clients), /"eve"/);
    assert.throws(() => scoreDeliveries([], [truth[0]!, truth[0]!], clients), /twice/);
  });

  it('has a baseline for a guesser that excludes the recipient', () => {
    assert.deepEqual(randomGuessBaseline(3), { candidates: 3, probability: 1 / 3, rank: 2, top1Accuracy: 1 / 3 });
    assert.equal(scoreDeliveries([], [], clients, { candidates: 3 }).summary.baseline.candidates, 3);
  });
});
