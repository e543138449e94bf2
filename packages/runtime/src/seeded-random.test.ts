import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from './random.ts';

const draws = (random: { float(): number }, count = 8) => Array.from({ length: count }, () => random.float());

describe('seededRandom', () => {
  it('is mulberry32: the same seed gives the same stream, another seed another', () => {
    assert.deepEqual(draws(seededRandom(1)), draws(seededRandom(1)));
    assert.notDeepEqual(draws(seededRandom(1)), draws(seededRandom(2)));
    // mulberry32(0)'s first output, as published with the algorithm.
    assert.equal(seededRandom(0).float() * 2 ** 32, 1_144_304_738);
  });

  it('forks named streams that depend only on the seed and the name', () => {
    const root = seededRandom(42);
    const routes = draws(root.fork('routes'));
    draws(root, 100); // drawing from the parent does not move its forks
    draws(root.fork('schedule'), 100);
    assert.deepEqual(draws(root.fork('routes')), routes);
    assert.deepEqual(draws(seededRandom(42).fork('routes')), routes);
    assert.notDeepEqual(draws(root.fork('schedule')), routes);
    assert.notDeepEqual(draws(seededRandom(43).fork('routes')), routes);
    assert.notDeepEqual(draws(root.fork('routes').fork('0')), draws(root.fork('routes').fork('1')));
    assert.notDeepEqual(draws(root.fork('routes')), draws(seededRandom(42)));
  });

  it('keeps int in [0, max) and uniform over a fork (chi-square)', () => {
    const random = seededRandom(9).fork('x');
    const counts = new Array(10).fill(0) as number[];
    const samples = 100_000;
    for (let i = 0; i < samples; i++) {
      const value = random.int(10);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 10);
      counts[value]!++;
    }
    const expected = samples / 10;
    const statistic = counts.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    assert.ok(statistic < 50, `chi-square ${statistic.toFixed(1)} over ${counts}`); // 9 d.o.f.: P(> 50) ~ 1e-7
  });
});
