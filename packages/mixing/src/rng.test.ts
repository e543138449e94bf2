import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Rng, secureRng, shuffle } from './rng.ts';
import { seededRng } from './test-rng.ts';

/** Pearson's chi-square of observed counts against equal expected counts. */
function chiSquareUniform(counts: ReadonlyMap<string, number>, categories: number, samples: number): number {
  const expected = samples / categories;
  let statistic = (categories - counts.size) * expected; // categories never seen
  for (const observed of counts.values()) statistic += (observed - expected) ** 2 / expected;
  return statistic;
}

function orderCounts(shuffler: (items: string[]) => string[], samples: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < samples; i++) {
    const order = shuffler(['a', 'b', 'c']).join('');
    counts.set(order, (counts.get(order) ?? 0) + 1);
  }
  return counts;
}

// 6 orders, 5 degrees of freedom: P(chi2 > 40) is about 1.5e-7, so a uniform shuffle
// essentially never fails, while a biased one lands in the hundreds at this sample size.
const SAMPLES = 60_000;
const CHI_SQUARE_LIMIT = 40;

describe('shuffle', () => {
  it('returns the same array, holding a permutation of its items', () => {
    const rng = seededRng(7);
    for (let length = 0; length <= 20; length++) {
      const items = Array.from({ length }, (_, i) => i);
      const result = shuffle(items, rng);
      assert.equal(result, items);
      assert.deepEqual(
        [...result].sort((a, b) => a - b),
        Array.from({ length }, (_, i) => i),
      );
    }
  });

  it('asks the rng for j in [0, i] for i from n-1 down to 1', () => {
    const asked: number[] = [];
    const rng: Rng = {
      int(maxExclusive) {
        asked.push(maxExclusive);
        return 0;
      },
    };
    shuffle([1, 2, 3, 4, 5], rng);
    assert.deepEqual(asked, [5, 4, 3, 2]);
  });

  it('is uniform over the 6 orders of 3 items with secureRng (chi-square)', () => {
    const counts = orderCounts((items) => shuffle(items, secureRng), SAMPLES);
    assert.equal(counts.size, 6);
    const statistic = chiSquareUniform(counts, 6, SAMPLES);
    assert.ok(statistic < CHI_SQUARE_LIMIT, `chi-square ${statistic.toFixed(1)} over ${[...counts.entries()]}`);
  });

  it('the chi-square check rejects the classic biased shuffle (swap with any index)', () => {
    const naive = (items: string[]): string[] => {
      for (let i = 0; i < items.length; i++) {
        const j = secureRng.int(items.length);
        [items[i], items[j]] = [items[j]!, items[i]!];
      }
      return items;
    };
    const statistic = chiSquareUniform(orderCounts(naive, SAMPLES), 6, SAMPLES);
    assert.ok(statistic > CHI_SQUARE_LIMIT, `chi-square ${statistic.toFixed(1)}`);
  });
});

describe('secureRng', () => {
  it('int stays in [0, max)', () => {
    for (let i = 0; i < 1000; i++) {
      const value = secureRng.int(3);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 3, String(value));
    }
  });
});
