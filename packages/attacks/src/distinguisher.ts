/**
 * "Cover that an adversary can tell apart is no cover": a supervised classifier that tries
 * to tell two kinds of wire messages apart (cover from real, acknowledgements from messages)
 * by what a tap sees of each (shape, size, timing). It is given the labels to learn from,
 * which a real adversary may not have, so its accuracy is an upper bound on what the wire
 * gives away: at chance, the kinds cannot be told apart by these features.
 *
 * Naive Bayes over categorical features with add-one smoothing, scored by two-fold
 * cross-validation on a seeded split.
 */
import { type Random, shuffle } from '@mixlab/runtime';

/** One message as the classifier sees it: categorical features (numbers are categories too) and its label. */
export interface LabelledSample {
  readonly features: readonly (string | number)[];
  readonly positive: boolean;
}

export interface DistinguisherScore {
  readonly samples: number;
  readonly positives: number;
  /** Share of test samples classified right. */
  readonly accuracy: number;
  /** What always guessing the larger class gets. */
  readonly majorityBaseline: number;
  /** Mean of the recall on each class: 0.5 is chance whatever the class sizes. */
  readonly balancedAccuracy: number;
}

interface Model {
  readonly classes: [number, number];
  /** counts[class][feature] value → count. */
  readonly counts: [Map<string | number, number>[], Map<string | number, number>[]];
}

function train(samples: readonly LabelledSample[], width: number): Model {
  const model: Model = {
    classes: [0, 0],
    counts: [Array.from({ length: width }, () => new Map()), Array.from({ length: width }, () => new Map())],
  };
  for (const sample of samples) {
    const c = sample.positive ? 1 : 0;
    model.classes[c]++;
    sample.features.forEach((value, f) => {
      const map = (model.counts[c] as Map<string | number, number>[])[f] as Map<string | number, number>;
      map.set(value, (map.get(value) ?? 0) + 1);
    });
  }
  return model;
}

function logScore(model: Model, c: 0 | 1, features: readonly (string | number)[]): number {
  const total = model.classes[c];
  let score = Math.log(total + 1);
  features.forEach((value, f) => {
    const own = model.counts[c][f] as Map<string | number, number>;
    const other = model.counts[c === 1 ? 0 : 1][f] as Map<string | number, number>;
    const values = new Set([...own.keys(), ...other.keys()]);
    score += Math.log(((own.get(value) ?? 0) + 1) / (total + values.size + 1));
  });
  return score;
}

/** Trains on one half and tests on the other, then the other way round; `random` splits. */
export function evaluateDistinguisher(samples: readonly LabelledSample[], random: Random): DistinguisherScore {
  if (samples.length < 2) throw new RangeError(`the distinguisher needs at least 2 samples, got ${samples.length}`);
  if (!samples.some((s) => s.positive) || samples.every((s) => s.positive)) {
    throw new RangeError('the distinguisher needs samples of both kinds');
  }
  const width = (samples[0] as LabelledSample).features.length;
  for (const sample of samples) {
    if (sample.features.length !== width) throw new RangeError('every sample needs the same number of features');
  }
  const order = shuffle(
    samples.map((_, i) => i),
    random,
  );
  const half = Math.floor(order.length / 2);
  const folds = [order.slice(0, half), order.slice(half)];
  let right = 0;
  const hits: [number, number] = [0, 0];
  const seen: [number, number] = [0, 0];
  for (const [trainFold, testFold] of [
    [folds[0], folds[1]],
    [folds[1], folds[0]],
  ] as [number[], number[]][]) {
    const model = train(
      trainFold.map((i) => samples[i] as LabelledSample),
      width,
    );
    for (const i of testFold) {
      const sample = samples[i] as LabelledSample;
      const guess = logScore(model, 1, sample.features) > logScore(model, 0, sample.features);
      const c = sample.positive ? 1 : 0;
      seen[c]++;
      if (guess === sample.positive) {
        right++;
        hits[c]++;
      }
    }
  }
  const positives = seen[1] as number;
  const recall = (c: 0 | 1) => (hits[c] as number) / (seen[c] as number);
  return {
    samples: samples.length,
    positives,
    accuracy: right / samples.length,
    majorityBaseline: Math.max(positives, samples.length - positives) / samples.length,
    balancedAccuracy: (recall(0) + recall(1)) / 2,
  };
}
