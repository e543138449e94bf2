/**
 * What every linking attack returns and how it is scored: one sender distribution per push,
 * keyed like the truth, scored by @mixlab/anonymity's scorer plus the area under the ROC curve.
 */
import {
  type DeliveryEstimate,
  type MessageScore,
  type ScoreSummary,
  type SenderDistribution,
  scoreDeliveries,
  type TruthRecord,
} from '@mixlab/anonymity';

/**
 * A distribution over `clients.length` senders from non-negative weights; uniform when they
 * sum to zero (the attack learned nothing about this message).
 */
export function distributionFromWeights(weights: Float64Array): SenderDistribution {
  let total = 0;
  for (const w of weights) total += w;
  const probabilities = new Float64Array(weights.length);
  for (let i = 0; i < weights.length; i++) {
    probabilities[i] = total > 0 ? (weights[i] as number) / total : 1 / weights.length;
  }
  return { probabilities, unattributed: 0 };
}

export interface LinkingSummary extends ScoreSummary {
  /**
   * Mean area under the ROC curve: the chance that the true sender scores above a wrong
   * client drawn at random (ties count half); per message (N − rank)/(N − 1). Random: 0.5.
   */
  readonly auc: number;
}

/** Scores a linking attack's estimates against the truth: scoreDeliveries and the AUC. */
export function scoreLinking(
  estimates: Iterable<DeliveryEstimate>,
  truth: Iterable<TruthRecord>,
  clients: readonly string[],
  options: { candidates?: number } = {},
): { messages: MessageScore[]; summary: LinkingSummary } {
  const { messages, summary } = scoreDeliveries(estimates, truth, clients, options);
  const n = clients.length;
  const auc =
    messages.length === 0 || n < 2
      ? Number.NaN
      : messages.reduce((sum, m) => sum + (n - m.rank) / (n - 1), 0) / messages.length;
  return { messages, summary: { ...summary, auc } };
}
