/**
 * Scoring: joins the observer's per-message sender distributions with the load generator's
 * ground truth. Kept apart from the engine, which never sees truth.
 */
import type { SenderDistribution } from './observer.ts';

/** Ground truth for one delivered message: who sent the `order`-th message that reached `recipient`. */
export interface TruthRecord {
  readonly sender: string;
  readonly recipient: string;
  /** 1-based position among the messages delivered to `recipient`. */
  readonly order: number;
}

/** The observer's view of one delivered message, keyed like the truth (a PushObservation is one). */
export interface DeliveryEstimate {
  readonly recipient: string;
  readonly order: number;
  readonly senders: SenderDistribution;
}

/** How well one distribution points at the true sender. */
export interface SenderGuessScore {
  /** Probability the distribution gives the true sender. */
  readonly probability: number;
  /** 1-based rank of the true sender among the clients, by probability; tied clients share their mean rank. */
  readonly rank: number;
  /** Chance that guessing the most likely client (ties broken uniformly) names the true sender: 1/ties or 0. */
  readonly top1: number;
}

export interface MessageScore extends SenderGuessScore {
  readonly recipient: string;
  readonly order: number;
  readonly sender: string;
}

/** The accuracy of an adversary that guesses uniformly among `candidates` clients. */
export interface GuessBaseline {
  readonly candidates: number;
  readonly probability: number;
  readonly rank: number;
  readonly top1Accuracy: number;
}

export interface ScoreSummary {
  /** Messages with both an estimate and a truth record. */
  readonly messages: number;
  /** Truth records the observer had no estimate for (missed pushes), and estimates without truth (cover, strays). */
  readonly unmatchedTruth: number;
  readonly unmatchedEstimates: number;
  readonly meanProbability: number;
  readonly meanRank: number;
  readonly top1Accuracy: number;
  readonly baseline: GuessBaseline;
}

/** Probabilities closer than this count as a tie (sums of the same shares in another order differ by ulps). */
const TIE_TOLERANCE = 1e-12;

/** Scores one distribution against the index (in its `probabilities`) of the true sender. */
export function scoreGuess(senders: SenderDistribution, trueSender: number): SenderGuessScore {
  const probabilities = senders.probabilities;
  if (!(Number.isInteger(trueSender) && trueSender >= 0 && trueSender < probabilities.length)) {
    throw new RangeError(`true sender index ${trueSender} is not one of ${probabilities.length} clients`);
  }
  const truth = probabilities[trueSender] as number;
  let above = 0;
  let tied = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (const p of probabilities) {
    if (p > truth + TIE_TOLERANCE) above++;
    else if (p >= truth - TIE_TOLERANCE) tied++;
    if (p > max) max = p;
  }
  let atMax = 0;
  for (const p of probabilities) if (p >= max - TIE_TOLERANCE) atMax++;
  return {
    probability: truth,
    rank: above + (tied + 1) / 2,
    top1: truth >= max - TIE_TOLERANCE ? 1 / atMax : 0,
  };
}

/** The uniform guesser among `candidates` clients: probability 1/N, mean rank (N + 1)/2, top-1 1/N. */
export function randomGuessBaseline(candidates: number): GuessBaseline {
  if (!(Number.isSafeInteger(candidates) && candidates >= 1)) {
    throw new RangeError(`a baseline needs a whole number of candidates >= 1, got ${candidates}`);
  }
  return { candidates, probability: 1 / candidates, rank: (candidates + 1) / 2, top1Accuracy: 1 / candidates };
}

/**
 * Joins estimates and truth on (recipient, order) and scores every message found in both.
 * `clients` is `Roles.clients` (the index of `probabilities`); `candidates` sets the random
 * guesser's N (default: every client). Throws on a truth sender that is not a client or on a
 * (recipient, order) given twice.
 */
export function scoreDeliveries(
  estimates: Iterable<DeliveryEstimate>,
  truth: Iterable<TruthRecord>,
  clients: readonly string[],
  options: { candidates?: number } = {},
): { messages: MessageScore[]; summary: ScoreSummary } {
  const clientIndex = new Map(clients.map((name, index) => [name, index]));
  const key = (recipient: string, order: number) => `${order} ${recipient}`;
  const truthByKey = new Map<string, TruthRecord>();
  for (const record of truth) {
    if (!clientIndex.has(record.sender)) throw new RangeError(`truth names sender "${record.sender}", not a client`);
    const k = key(record.recipient, record.order);
    if (truthByKey.has(k)) throw new RangeError(`truth gives message ${record.order} to ${record.recipient} twice`);
    truthByKey.set(k, record);
  }
  const messages: MessageScore[] = [];
  const matched = new Set<string>();
  let unmatchedEstimates = 0;
  for (const estimate of estimates) {
    const k = key(estimate.recipient, estimate.order);
    const record = truthByKey.get(k);
    if (!record || matched.has(k)) {
      unmatchedEstimates++;
      continue;
    }
    matched.add(k);
    const score = scoreGuess(estimate.senders, clientIndex.get(record.sender) as number);
    messages.push({ recipient: record.recipient, order: record.order, sender: record.sender, ...score });
  }
  const mean = (pick: (score: MessageScore) => number) =>
    messages.length === 0 ? Number.NaN : messages.reduce((sum, score) => sum + pick(score), 0) / messages.length;
  return {
    messages,
    summary: {
      messages: messages.length,
      unmatchedTruth: truthByKey.size - matched.size,
      unmatchedEstimates,
      meanProbability: mean((s) => s.probability),
      meanRank: mean((s) => s.rank),
      top1Accuracy: mean((s) => s.top1),
      baseline: randomGuessBaseline(options.candidates ?? clients.length),
    },
  };
}
