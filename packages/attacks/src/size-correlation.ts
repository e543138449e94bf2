/**
 * Size correlation (passive): links each push to the submissions whose size, less the
 * network's constant shrink, equals the push's size. Under the onion format a packet loses
 * the same bytes at every hop and the exit delivers the message at its own length, so the
 * size survives every mix; under Sphinx every packet and every delivery has one size, and
 * the attack is left with each client's share of the traffic. The shrink is learned from
 * the trace (the shift that best lines up the two size histograms) unless given; on the live
 * wire, where base64 in JSON rounds sizes, the exact model of the encoding (wire-sizes.ts)
 * names the submission sizes a push's message can have had instead.
 */
import type { DeliveryEstimate, Roles, WireEvent } from '@mixlab/anonymity';
import { distributionFromWeights } from './linking.ts';
import { exitLinkEvents, type Push, type Submission, traceEnds } from './trace.ts';
import type { WireSizeModel } from './wire-sizes.ts';

export interface SizeOptions {
  /** Submission bytes − push bytes of one message, when the format is known (onion: hops × overhead + framing). */
  readonly shrinkBytes?: number;
  /** Longest delay considered, in ms (default: the whole trace, so that only sizes speak). */
  readonly windowMs?: number;
  /**
   * The exact size model of the wire encoding (`onionWireModel`: the format is public): for
   * each push, the submission sizes its message can have had, weighted. Replaces the shrink.
   */
  readonly wireModel?: WireSizeModel;
}

const histogram = (sizes: Iterable<number>): Map<number, number> => {
  const counts = new Map<number, number>();
  for (const size of sizes) counts.set(size, (counts.get(size) ?? 0) + 1);
  return counts;
};

/**
 * The shift d that maximises Σ_x S(x + d) P(x) (the cross-correlation of the submission and
 * push size histograms): with varied message lengths only the true shrink lines them all up.
 * Ties go to the smallest d. Undefined without submissions or pushes.
 */
export function learnShrinkBytes(submissions: readonly Submission[], pushes: readonly Push[]): number | undefined {
  const score = shiftScores(submissions, pushes);
  let best: number | undefined;
  let bestScore = -1;
  for (const [shift, value] of score) {
    if (value > bestScore || (value === bestScore && shift < (best as number))) {
      best = shift;
      bestScore = value;
    }
  }
  return best;
}

/** Shift → score of the cross-correlation of the two size histograms (see learnShrinkBytes). */
function shiftScores(submissions: readonly Submission[], pushes: readonly Push[]): Map<number, number> {
  const sent = histogram(submissions.map((s) => s.bytes));
  const delivered = histogram(pushes.map((p) => p.bytes));
  const score = new Map<number, number>();
  for (const [s, sCount] of sent) {
    for (const [p, pCount] of delivered) score.set(s - p, (score.get(s - p) ?? 0) + sCount * pCount);
  }
  return score;
}

/** For every push, the distribution of its sender over `roles.clients` by size alone. */
export function sizeCorrelation(
  events: Iterable<WireEvent>,
  roles: Roles,
  options: SizeOptions = {},
): { estimates: DeliveryEstimate[]; shrinkBytes: number | undefined } {
  const { submissions, pushes } = traceEnds(events, roles);
  const { wireModel } = options;
  const shrinkBytes = wireModel ? undefined : (options.shrinkBytes ?? learnShrinkBytes(submissions, pushes));
  // The submission sizes a push's message can have had, weighted: from the model, or push + shrink.
  const candidates = (push: Push): ReadonlyMap<number, number> =>
    wireModel
      ? wireModel.submissionSizes({ bytes: push.bytes, from: push.gateway })
      : new Map(shrinkBytes === undefined ? [] : [[push.bytes + shrinkBytes, 1]]);
  const windowMs = options.windowMs ?? Number.POSITIVE_INFINITY;
  const clientIndex = new Map(roles.clients.map((name, index) => [name, index]));
  // Submissions so far, by size then sender; those older than the window are taken out again.
  const bySize = new Map<number, Float64Array>();
  const count = (submission: Submission, sign: number) => {
    let row = bySize.get(submission.bytes);
    if (!row) {
      row = new Float64Array(roles.clients.length);
      bySize.set(submission.bytes, row);
    }
    const index = clientIndex.get(submission.sender) as number;
    row[index] = (row[index] as number) + sign;
  };
  let added = 0;
  let removed = 0;
  const estimates = pushes.map((push) => {
    while (added < submissions.length && (submissions[added] as Submission).atMs <= push.atMs) {
      count(submissions[added++] as Submission, 1);
    }
    while (removed < added && (submissions[removed] as Submission).atMs < push.atMs - windowMs) {
      count(submissions[removed++] as Submission, -1);
    }
    const weights = new Float64Array(roles.clients.length);
    for (const [size, weight] of candidates(push)) {
      const row = bySize.get(size);
      if (row)
        for (let i = 0; i < weights.length; i++)
          weights[i] = (weights[i] as number) + weight * Math.max(row[i] as number, 0);
    }
    return { recipient: push.recipient, order: push.order, senders: distributionFromWeights(weights) };
  });
  return { estimates, shrinkBytes };
}

/** How many exit → gateway messages had each size, smallest first. */
export interface ExitLinkSizes {
  readonly sizes: readonly { readonly bytes: number; readonly events: number }[];
  /** More than one size: the link tells kinds of traffic apart (e.g. acknowledgements from messages). */
  readonly distinguishable: boolean;
}

/** What sizes alone show on the exit → gateway link. */
export function exitLinkSizes(events: Iterable<WireEvent>, roles: Roles): ExitLinkSizes {
  const counts = histogram(exitLinkEvents(events, roles).map((event) => event.bytes / Math.max(event.packets, 1)));
  const sizes = [...counts].sort((a, b) => a[0] - b[0]).map(([bytes, n]) => ({ bytes, events: n }));
  return { sizes, distinguishable: sizes.length > 1 };
}
