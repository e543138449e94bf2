import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectedDelayMs } from './expected-delay.ts';
import { parseStrategyConfig } from './strategy-config.ts';

const at = (strategy: string, arrivalsPerSecond: number, senderMeanDelayMs?: number) =>
  expectedDelayMs(parseStrategyConfig(strategy), { arrivalsPerSecond, senderMeanDelayMs });

describe('expectedDelayMs', () => {
  it('threshold: the n - 1 packets after it, capped by maxWait', () => {
    assert.equal(at('threshold:n=3', 2), 1000);
    assert.equal(at('threshold:n=3,maxWait=1s', 1), 1000);
    assert.equal(at('threshold:n=3,maxWait=1s', 10), 200);
    assert.equal(at('threshold:n=1', 1), 0);
  });

  it('timed and its threshold variants: half a period, or the batch when it comes first / last', () => {
    assert.equal(at('timed:t=500ms', 1), 250);
    assert.equal(at('threshold-or-timed:n=10,t=1s', 1), 500);
    assert.equal(at('threshold-or-timed:n=10,t=1s', 100), 90);
    assert.equal(at('threshold-and-timed:n=10,t=1s', 1), 9000);
    assert.equal(at('threshold-and-timed:n=10,t=1s', 100), 500);
  });

  it('pool: Little’s law on the steady pool', () => {
    // min=5 at 1/s: 5 s; t/fraction: 1 s / 0.5 = 2 s.
    assert.equal(at('pool:t=1s,min=5,fraction=0.5', 1), 7000);
    assert.equal(at('pool:t=1s,min=0,fraction=1', 1), 1000);
  });

  it('binomial: half a period, then a geometric number of periods', () => {
    assert.equal(at('binomial:t=1s,p=0.5', 1), 1500);
    assert.equal(at('binomial:t=1s,p=1', 1), 500);
  });

  it('exponential: its mean, or the sender’s for delay=sender', () => {
    assert.equal(at('exponential:mean=200ms', 1), 200);
    assert.equal(at('exponential:delay=sender', 1, 300), 300);
    assert.equal(at('exponential:delay=sender', 1), 0);
  });

  it('refuses a rate that is not positive', () => {
    assert.throws(() => at('timed:t=1s', 0), /arrivalsPerSecond must be positive/);
  });
});
