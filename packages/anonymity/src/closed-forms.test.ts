import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StrategyConfig } from '@mixlab/mixing';
import { seededRandom } from '@mixlab/runtime';
import {
  batchEntropyPerBatchBits,
  batchEntropyPerMessageBits,
  binomialMeanFieldEntropyBits,
  exponentialMixEntropyBits,
  exponentialMixExpectedEntropyBits,
  exponentialMixPoolSize,
  poolMixEntropyBits,
  thresholdEntropyBits,
} from './closed-forms.ts';
import { binaryEntropyBits } from './entropy.ts';
import { AnonymityObserver, type NodeOutput } from './observer.ts';
import { clientNames, observeAll, poissonSends, roundSends, simulateCascade } from './test-support.ts';

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (± ${tolerance})`);

describe('closed forms', () => {
  it('threshold: log2 n; per batch and per message means of a batch-size histogram', () => {
    assert.equal(thresholdEntropyBits(8), 3);
    assert.equal(thresholdEntropyBits(1), 0);
    const histogram = new Map([
      [2, 3],
      [8, 1],
    ]);
    assert.equal(batchEntropyPerBatchBits(histogram), (3 * 1 + 1 * 3) / 4);
    assert.equal(batchEntropyPerMessageBits(histogram), (3 * 2 * 1 + 8 * 3) / (3 * 2 + 8));
    assert.throws(() => batchEntropyPerBatchBits([]), /no batch/);
    assert.throws(() => thresholdEntropyBits(0), /n must be a whole number >= 1/);
  });

  it('pool mix: log2(N + n) + (n/N) log2((N + n)/n), the threshold mix when n = 0', () => {
    assert.equal(poolMixEntropyBits(8, 0), 3);
    assert.equal(poolMixEntropyBits(2, 2), 3); // log2 4 + 1 × log2 2
    close(poolMixEntropyBits(6, 4), Math.log2(10) + (4 / 6) * Math.log2(2.5), 1e-15, 'N=6, n=4');
  });

  it('binomial mean field: log2 N + H_b(p)/p, the threshold mix when p = 1', () => {
    assert.equal(binaryEntropyBits(0.5), 1);
    assert.equal(binaryEntropyBits(1), 0);
    assert.equal(binomialMeanFieldEntropyBits(8, 1), 3);
    assert.equal(binomialMeanFieldEntropyBits(8, 0.5), 5);
  });

  it('exponential mix: log2(e λ/μ), and a Poisson pool of mean λ/μ', () => {
    close(exponentialMixEntropyBits(20, 1), Math.log2(Math.E) + Math.log2(20), 1e-12, 'λ/μ = 20');
    const pool = exponentialMixPoolSize(20, 2);
    assert.equal(pool.mean, 10);
    let total = 0;
    let mean = 0;
    for (let k = 0; k < 100; k++) {
      total += pool.probability(k);
      mean += k * pool.probability(k);
    }
    close(total, 1, 1e-12, 'Σ P(k)');
    close(mean, 10, 1e-12, 'Σ k P(k)');
    close(pool.probability(0), Math.exp(-10), 1e-18, 'P(0)');
    assert.ok(exponentialMixPoolSize(5000, 1).probability(5000) > 0, 'no underflow for large pools');
  });

  it('exponential mix at a finite λ/μ: tends to log2(e λ/μ), and departs from it where the pool is small', () => {
    const exact = (ratio: number, seed = 1) => exponentialMixExpectedEntropyBits(ratio, 1, seededRandom(seed));
    // Seeded: the same source gives the same estimate; λ and μ enter only as λ/μ.
    assert.equal(exact(5), exact(5));
    close(exponentialMixExpectedEntropyBits(10, 2, seededRandom(1)), exact(5), 0.02, 'λ = 10, μ = 2 against λ/μ = 5');
    const gap = (ratio: number) => Math.abs(exact(ratio) - exponentialMixEntropyBits(ratio, 1));
    // Measured (seed 1): 0.006, 0.003, 0.003, 0.000, 0.001 bits.
    for (const ratio of [5, 10, 20, 50])
      assert.ok(gap(ratio) < 0.015, `λ/μ = ${ratio}: ${gap(ratio)} bits from the asymptote`);
    assert.ok(gap(100) < 0.005, `λ/μ = 100: ${gap(100)}`);
    // A nearly empty pool: the asymptote is negative there, the entropy is not (0.86 against 0.44 at 0.5).
    assert.ok(gap(0.5) > 0.3, `λ/μ = 0.5: ${exact(0.5)} against ${exponentialMixEntropyBits(0.5, 1)}`);
    close(exact(0.01), 0.02, 0.02, 'λ/μ = 0.01: almost every packet leaves alone');
    assert.throws(() => exponentialMixExpectedEntropyBits(0, 1, seededRandom(1)), /arrival rate/);
  });
});

/** The observer's mean entropy over the inputs, per leaving packet, after `skip` outputs of warm-up. */
function meanOutputEntropy(sim: ReturnType<typeof simulateCascade>, skip: number): number {
  const outputs = observeAll(new AnonymityObserver(sim.roles), sim.events).filter(
    (o): o is NodeOutput => o.kind === 'node-output',
  );
  let bits = 0;
  let packets = 0;
  for (const output of outputs.slice(skip)) {
    bits += output.inputEntropyBits * output.packets;
    packets += output.packets;
  }
  return bits / packets;
}

describe('the observer against the closed forms, on the real strategies', () => {
  const clients = clientNames(50);

  it('binomial, N = 10 per round, p = 0.5: within 0.05 bits of the mean field (measured: 0.0005)', () => {
    const layers: StrategyConfig[] = [{ name: 'binomial', intervalMs: 1000, probability: 0.5 }];
    const sim = simulateCascade({
      clients,
      layers,
      sends: roundSends(clients, 10, 1000, 3),
      endMs: 1_000_000,
      seed: 5,
    });
    close(meanOutputEntropy(sim, 50), binomialMeanFieldEntropyBits(10, 0.5), 0.05, 'binomial');
  });

  it('exponential, λ = 20/s, mean delay 1 s: within 0.05 bits of log2(e λ/μ) (measured: 0.003)', () => {
    const layers: StrategyConfig[] = [{ name: 'exponential', delay: 'drawn', meanDelayMs: 1000 }];
    const sizes = new Map<number, number>();
    const sim = simulateCascade({
      clients,
      layers,
      sends: poissonSends(clients, 20, 2_000_000, 11),
      endMs: 2_100_000,
      seed: 6,
      // Poisson arrivals see time averages (PASTA): sample the real pool as each packet is submitted.
      onEvent: (event, queued) => {
        if (event.to === 'gateway' && event.from.startsWith('client-')) {
          sizes.set(queued[0]!, (sizes.get(queued[0]!) ?? 0) + 1);
        }
      },
    });
    close(meanOutputEntropy(sim, 500), exponentialMixEntropyBits(20, 1), 0.05, 'exponential');
    const pool = exponentialMixPoolSize(20, 1);
    const samples = [...sizes.values()].reduce((sum, n) => sum + n, 0);
    let distance = 0;
    for (let k = 0; k < 100; k++) distance += Math.abs((sizes.get(k) ?? 0) / samples - pool.probability(k)) / 2;
    assert.ok(distance < 0.03, `total variation ${distance} between the pool sizes and Poisson(20)`);
  });

  // λ/μ = 0.5 tells the two apart: the asymptote is 0.44 bits, the expectation 0.86.
  for (const { rate, meanDelayMs, tolerance, measured } of [
    { rate: 5, meanDelayMs: 1000, tolerance: 0.03, measured: 0.02 },
    { rate: 5, meanDelayMs: 100, tolerance: 0.03, measured: 0.011 },
  ]) {
    const ratio = (rate * meanDelayMs) / 1000;
    it(`exponential, λ/μ = ${ratio}: the observer's mean is the finite-λ/μ expectation within ${tolerance} bits (measured: ${measured})`, () => {
      const layers: StrategyConfig[] = [{ name: 'exponential', delay: 'drawn', meanDelayMs }];
      const sim = simulateCascade({
        clients,
        layers,
        sends: poissonSends(clients, rate, 4_000_000, 12),
        endMs: 4_000_000 + 40 * meanDelayMs,
        seed: 7,
      });
      const expected = exponentialMixExpectedEntropyBits(rate, 1000 / meanDelayMs, seededRandom(2));
      const measured = meanOutputEntropy(sim, 200);
      close(measured, expected, tolerance, `exponential λ/μ = ${ratio}`);
    });
  }
});
