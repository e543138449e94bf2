import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProgress, formatSummary, parseLoadArgs } from './load-format.ts';
import type { LoadSummary } from './load-generator.ts';

describe('parseLoadArgs', () => {
  it('reads clients, a per-client rate, a duration and a drain', () => {
    assert.deepEqual(parseLoadArgs({ clients: '4', rate: '2', duration: '2m', drain: '10', strategy: 'timed:t=1s' }), {
      clients: 4,
      ratePerClient: 2,
      durationMs: 120_000,
      drainMs: 10_000,
      strategy: 'timed:t=1s',
      dropRatePerClient: 0,
      loopRatePerClient: 0,
    });
    assert.equal(parseLoadArgs({ clients: '1', rate: '0.5', duration: '30s' }).drainMs, 30_000);
    const withCover = parseLoadArgs({ clients: '1', rate: '1', duration: '5', 'drop-rate': '2', 'loop-rate': '0.5' });
    assert.deepEqual([withCover.dropRatePerClient, withCover.loopRatePerClient], [2, 0.5]);
    assert.throws(
      () => parseLoadArgs({ clients: '1', rate: '1', duration: '5', 'loop-rate': '-1' }),
      /--loop-rate must be a number of packets per second >= 0/,
    );
    assert.throws(
      () => parseLoadArgs({ clients: '1', rate: '1', duration: '5', 'drop-rate': 'lots' }),
      /--drop-rate must be/,
    );
    assert.equal(parseLoadArgs({ clients: '1', rate: '0.5', duration: '30s', drain: '0' }).drainMs, 0);
    assert.equal(parseLoadArgs({ clients: '1', rate: '1', duration: '5', seed: '42' }).seed, 42);
    assert.throws(() => parseLoadArgs({ clients: '1', rate: '1', duration: '5', seed: '-1' }), /--seed must be/);
    assert.throws(() => parseLoadArgs({ clients: '1', rate: '1', duration: '5', seed: '4294967296' }), /--seed must/);
  });

  it('names the option that is missing or wrong', () => {
    assert.throws(() => parseLoadArgs({ rate: '2', duration: '30s' }), /load needs --clients N/);
    assert.throws(() => parseLoadArgs({ clients: '4', duration: '30s' }), /load needs --rate R/);
    assert.throws(() => parseLoadArgs({ clients: '4', rate: '2' }), /load needs --duration D/);
    assert.throws(
      () => parseLoadArgs({ clients: '2.5', rate: '2', duration: '1' }),
      /--clients must be a whole number/,
    );
    assert.throws(() => parseLoadArgs({ clients: '0', rate: '2', duration: '1' }), /--clients must be a whole number/);
    assert.throws(() => parseLoadArgs({ clients: '4', rate: '-1', duration: '1' }), /--rate must be a number/);
    assert.throws(() => parseLoadArgs({ clients: '4', rate: 'x', duration: '1' }), /--rate must be a number/);
    assert.throws(() => parseLoadArgs({ clients: '4', rate: '2', duration: '1 week' }), /--duration "1 week" is not/);
    assert.throws(() => parseLoadArgs({ clients: '4', rate: '2', duration: '0s' }), /--duration must be greater/);
    assert.throws(() => parseLoadArgs({ clients: '4', rate: '2', duration: '5', drain: 'soon' }), /--drain "soon"/);
  });
});

describe('formatting', () => {
  const settings = { clients: 4, ratePerClient: 2, durationMs: 20_000, drainMs: 30_000 };

  it('shows elapsed, sent, delivered, in flight and p50 on one line', () => {
    assert.equal(
      formatProgress(
        { phase: 'sending', elapsedMs: 5_000, sent: 40, delivered: 31, inFlight: 9, p50Ms: 1234.4 },
        settings,
      ),
      '5.0s/20s  sent 40  delivered 31  in flight 9  p50 1234 ms',
    );
    assert.equal(
      formatProgress(
        { phase: 'draining', elapsedMs: 21_500, sent: 160, delivered: 150, inFlight: 10, p50Ms: undefined },
        settings,
      ),
      'draining 21.5s  sent 160  delivered 150  in flight 10  p50 -',
    );
  });

  it('prints every number of the summary', () => {
    const summary: LoadSummary = {
      strategy: 'threshold:n=3,maxWait=1s',
      clients: 4,
      ratePerClient: 2,
      offeredRate: 8,
      durationSeconds: 20,
      drainSeconds: 30,
      sent: 160,
      sendErrors: 0,
      delivered: 158,
      lost: 2,
      duplicates: 0,
      unexpected: 0,
      latencyMs: { count: 158, minMs: 300, p50Ms: 1000.4, p95Ms: 2000, p99Ms: 2500, maxMs: 2600, meanMs: 1100 },
      throughput: 7.5,
      elapsedSeconds: 23.04,
      startedAt: '2026-11-25T00:00:00.000Z',
    };
    assert.equal(
      formatSummary(summary),
      [
        'strategy     threshold:n=3,maxWait=1s',
        'offered load 4 clients x 2 msg/s = 8 msg/s for 20 s (drain up to 30 s)',
        'sent         160',
        'delivered    158 (98.8%)',
        'lost         2 (1.3%)',
        'duplicates   0',
        'latency      p50 1000 ms  p95 2000 ms  p99 2500 ms  (min 300 ms, mean 1100 ms, max 2600 ms)',
        'throughput   7.50 msg/s delivered',
        'elapsed      23.0 s',
      ].join('\n'),
    );
  });
});
