/**
 * Timing correlation (passive, global): links each push to a sender from times alone. The
 * delay profile (how likely a push follows a submission by d ms) is learned from the trace
 * itself, as the cross-correlation of push and submission times minus its background: lags
 * below zero are impossible (a push before its submission), so their level is what unrelated
 * pairs give at any lag. No ids, no sizes, no truth.
 */
import type { DeliveryEstimate, Roles, WireEvent } from '@mixlab/anonymity';
import { distributionFromWeights } from './linking.ts';
import { type Push, type Submission, traceEnds } from './trace.ts';

export interface TimingOptions {
  /** Width of a lag bin in ms (default 5). */
  readonly binMs?: number;
  /** Longest delay considered, in ms: submissions older than this cannot have caused a push (default 10 000). */
  readonly windowMs?: number;
}

/** The learned likelihood of a delay, per lag bin: weight[k] for lags in [k binMs, (k + 1) binMs). */
export interface DelayProfile {
  readonly binMs: number;
  readonly windowMs: number;
  /** Non-negative weights per bin; never all zero. */
  readonly weights: Float64Array;
  /** Pairs per bin at negative lags: the background subtracted. */
  readonly background: number;
}

function checkOptions(options: TimingOptions): { binMs: number; windowMs: number } {
  const binMs = options.binMs ?? 5;
  const windowMs = options.windowMs ?? 10_000;
  if (!(binMs > 0 && Number.isFinite(binMs))) throw new RangeError(`binMs must be a number > 0, got ${binMs}`);
  if (!(windowMs >= binMs && Number.isFinite(windowMs))) {
    throw new RangeError(`windowMs must be a number >= binMs, got ${windowMs}`);
  }
  return { binMs, windowMs };
}

/** Calls `visit(push, submission, lag)` for every submission within ±windowMs of each push (lag = push − submission). */
function forPairs(
  submissions: readonly Submission[],
  pushes: readonly Push[],
  windowMs: number,
  visit: (push: Push, submission: Submission, lagMs: number) => void,
): void {
  let first = 0;
  for (const push of pushes) {
    while (first < submissions.length && (submissions[first] as Submission).atMs <= push.atMs - windowMs) first++;
    for (let i = first; i < submissions.length; i++) {
      const submission = submissions[i] as Submission;
      const lag = push.atMs - submission.atMs;
      if (lag <= -windowMs) break;
      visit(push, submission, lag);
    }
  }
}

/** Learns the delay profile from submission and push times (both in time order). */
export function learnDelayProfile(
  submissions: readonly Submission[],
  pushes: readonly Push[],
  options: TimingOptions = {},
): DelayProfile {
  const { binMs, windowMs } = checkOptions(options);
  const bins = Math.ceil(windowMs / binMs);
  const positive = new Float64Array(bins);
  let negative = 0;
  forPairs(submissions, pushes, windowMs, (_push, submission, lag) => {
    if (lag >= 0) {
      const k = Math.floor(lag / binMs);
      if (k < bins) positive[k] = (positive[k] as number) + submission.packets;
    } else negative += submission.packets;
  });
  const background = negative / bins;
  const weights = new Float64Array(bins);
  let max = 0;
  for (let k = 0; k < bins; k++) {
    weights[k] = Math.max((positive[k] as number) - background, 0);
    max = Math.max(max, weights[k] as number);
  }
  // A floor keeps every lag in the window possible: a candidate at an unlikely lag still
  // outranks a client that sent nothing in the window.
  const floor = max > 0 ? max * 1e-6 : 1;
  for (let k = 0; k < bins; k++) weights[k] = Math.max(weights[k] as number, floor);
  return { binMs, windowMs, weights, background };
}

/**
 * For every push, the distribution over `roles.clients` of its sender: each client weighs
 * Σ profile(lag) over its submissions (times their packets) in the window before the push.
 */
export function timingCorrelation(
  events: Iterable<WireEvent>,
  roles: Roles,
  options: TimingOptions & { readonly profile?: DelayProfile } = {},
): { estimates: DeliveryEstimate[]; profile: DelayProfile } {
  const { submissions, pushes } = traceEnds(events, roles);
  const profile = options.profile ?? learnDelayProfile(submissions, pushes, options);
  const clientIndex = new Map(roles.clients.map((name, index) => [name, index]));
  const weightsByPush = new Map<Push, Float64Array>();
  for (const push of pushes) weightsByPush.set(push, new Float64Array(roles.clients.length));
  forPairs(submissions, pushes, profile.windowMs, (push, submission, lag) => {
    if (lag < 0) return;
    const k = Math.floor(lag / profile.binMs);
    const index = clientIndex.get(submission.sender) as number;
    const weights = weightsByPush.get(push) as Float64Array;
    if (k < profile.weights.length) {
      weights[index] = (weights[index] as number) + submission.packets * (profile.weights[k] as number);
    }
  });
  const estimates = pushes.map((push) => ({
    recipient: push.recipient,
    order: push.order,
    senders: distributionFromWeights(weightsByPush.get(push) as Float64Array),
  }));
  return { estimates, profile };
}
