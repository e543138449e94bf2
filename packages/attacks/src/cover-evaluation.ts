/**
 * Is the cover distinguishable? Describes every submission by what the tap sees of its
 * shape and timing, labels it with the truth (cover or real, for scoring only) and asks the
 * distinguisher to tell them apart. The goal for the cover is chance.
 */
import type { Roles, WireEvent } from '@mixlab/anonymity';
import type { Random } from '@mixlab/runtime';
import { type DistinguisherScore, evaluateDistinguisher, type LabelledSample } from './distinguisher.ts';
import { exitLinkEvents, type Submission, traceEnds } from './trace.ts';

export interface SubmissionShapeOptions {
  /** A submission with no other client's submission within this many ms is "lone" (default 50). */
  readonly loneMs?: number;
}

/**
 * The features of each submission, in time order: packets, bytes, whether it was lone (outside
 * any burst of other clients' traffic) and the octave of the gap since the same client's
 * previous submission (floor(log2(gap ms + 1)), −1 for its first).
 */
export function submissionShapes(
  submissions: readonly Submission[],
  options: SubmissionShapeOptions = {},
): (string | number)[][] {
  const loneMs = options.loneMs ?? 50;
  // No other client's submission within loneMs on either side.
  const lone = (i: number): boolean => {
    const { atMs, sender } = submissions[i] as Submission;
    for (const step of [-1, 1]) {
      for (let j = i + step; j >= 0 && j < submissions.length; j += step) {
        const other = submissions[j] as Submission;
        if (Math.abs(other.atMs - atMs) > loneMs) break;
        if (other.sender !== sender) return false;
      }
    }
    return true;
  };
  const previous = new Map<string, number>();
  return submissions.map((submission, i) => {
    const last = previous.get(submission.sender);
    previous.set(submission.sender, submission.atMs);
    const gapOctave = last === undefined ? -1 : Math.floor(Math.log2(submission.atMs - last + 1));
    return [submission.packets, submission.bytes, lone(i) ? 'lone' : 'crowd', gapOctave];
  });
}

/**
 * How well a tap tells cover submissions from real ones. `isCover` is the truth for the
 * `index`-th submission in time order (as `traceEnds` lists them); `random` splits the folds.
 */
export function evaluateCover(
  events: Iterable<WireEvent>,
  roles: Roles,
  isCover: (submission: Submission, index: number) => boolean,
  random: Random,
  options: SubmissionShapeOptions = {},
): DistinguisherScore {
  const { submissions } = traceEnds(events, roles);
  const shapes = submissionShapes(submissions, options);
  const samples: LabelledSample[] = submissions.map((submission, i) => ({
    features: shapes[i] as (string | number)[],
    positive: isCover(submission, i),
  }));
  return evaluateDistinguisher(samples, random);
}

/**
 * How well the exit → gateway link tells two kinds of delivery apart (e.g. acknowledgements
 * from messages) by bytes per packet; `isPositive` is the truth for the `index`-th event.
 */
export function evaluateExitLink(
  events: Iterable<WireEvent>,
  roles: Roles,
  isPositive: (event: WireEvent, index: number) => boolean,
  random: Random,
): DistinguisherScore {
  const samples = exitLinkEvents(events, roles).map((event, i) => ({
    features: [event.bytes / Math.max(event.packets, 1)],
    positive: isPositive(event, i),
  }));
  return evaluateDistinguisher(samples, random);
}
