import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Random, secureRandom, seededRandom } from './random.ts';
import { scriptedRandom } from './scripted-random.ts';
import { shuffle, takeRandom } from './shuffle.ts';

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
    const random = seededRandom(7);
    for (let length = 0; length <= 20; length++) {
      const items = Array.from({ length }, (_, i) => i);
      const result = shuffle(items, random);
      assert.equal(result, items);
      assert.deepEqual(
        [...result].sort((a, b) => a - b),
        Array.from({ length }, (_, i) => i),
      );
    }
  });

  it('asks the random source for j in [0, i] for i from n-1 down to 1', () => {
    const asked: number[] = [];
    const random: Random = {
      int(maxExclusive) {
        asked.push(maxExclusive);
        return 0;
      },
      float: () => 0,
    };
    shuffle([1, 2, 3, 4, 5], random);
    assert.deepEqual(asked, [5, 4, 3, 2]);
  });

  it('is uniform over the 6 orders of 3 items with secureRandom (chi-square)', () => {
    const counts = orderCounts((items) => shuffle(items, secureRandom), SAMPLES);
    assert.equal(counts.size, 6);
    const statistic = chiSquareUniform(counts, 6, SAMPLES);
    assert.ok(statistic < CHI_SQUARE_LIMIT, `chi-square ${statistic.toFixed(1)} over ${[...counts.entries()]}`);
  });

  it('the chi-square check rejects the classic biased shuffle (swap with any index)', () => {
    const naive = (items: string[]): string[] => {
      for (let i = 0; i < items.length; i++) {
        const j = secureRandom.int(items.length);
        [items[i], items[j]] = [items[j]!, items[i]!];
      }
      return items;
    };
    const statistic = chiSquareUniform(orderCounts(naive, SAMPLES), 6, SAMPLES);
    assert.ok(statistic > CHI_SQUARE_LIMIT, `chi-square ${statistic.toFixed(1)}`);
  });
});

describe('secureRandom', () => {
  it('int stays in [0, max)', () => {
    for (let i = 0; i < 1000; i++) {
      const value = secureRandom.int(3);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 3, String(value));
    }
  });
});

describe('secureRandom.float', () => {
  it('stays in [0, 1)', () => {
    for (let i = 0; i < 10_000; i++) {
      const value = secureRandom.float();
      assert.ok(value >= 0 && value < 1, String(value));
    }
  });

  it('is uniform over 10 equal buckets (chi-square)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < SAMPLES; i++) {
      const bucket = String(Math.floor(secureRandom.float() * 10));
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    // 9 degrees of freedom: P(chi2 > 50) is about 1e-7.
    const statistic = chiSquareUniform(counts, 10, SAMPLES);
    assert.ok(statistic < 50, `chi-square ${statistic.toFixed(1)}`);
  });
});

describe('takeRandom', () => {
  it('removes count items and returns them; the rest stay behind', () => {
    const random = seededRandom(3);
    for (let count = 0; count <= 6; count++) {
      const items = [0, 1, 2, 3, 4, 5];
      const taken = takeRandom(items, count, random);
      assert.equal(taken.length, count);
      assert.equal(items.length, 6 - count);
      assert.deepEqual(
        [...taken, ...items].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5],
      );
    }
  });

  it('takes from the end after a partial Fisher–Yates over the injected draws', () => {
    // i = 4: swap with 0 -> [e,b,c,d,a]; i = 3: swap with 1 -> [e,d,c,b,a]; take the last 2.
    const items = ['a', 'b', 'c', 'd', 'e'];
    assert.deepEqual(takeRandom(items, 2, scriptedRandom([0, 1])), ['b', 'a']);
    assert.deepEqual(items, ['e', 'd', 'c']);
  });

  it('with count equal to the length draws exactly as shuffle does', () => {
    const draws = [2, 0, 1, 0];
    assert.deepEqual(
      takeRandom([1, 2, 3, 4, 5], 5, scriptedRandom(draws)),
      shuffle([1, 2, 3, 4, 5], scriptedRandom(draws)),
    );
  });

  it('chooses each item equally often', () => {
    const random = seededRandom(11);
    const chosen = [0, 0, 0, 0, 0];
    const rounds = 50_000;
    for (let i = 0; i < rounds; i++) {
      for (const item of takeRandom([0, 1, 2, 3, 4], 2, random)) chosen[item]!++;
    }
    for (const count of chosen) assert.ok(Math.abs(count / rounds - 0.4) < 0.01, `${chosen}`);
  });

  it('rejects a count outside [0, length]', () => {
    for (const count of [-1, 4, 1.5]) {
      assert.throws(() => takeRandom([1, 2, 3], count, seededRandom(1)), RangeError);
    }
  });
});
