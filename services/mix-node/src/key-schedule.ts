/**
 * When a mix node holds which X25519 mixing keys. Pure: every function takes the time.
 *
 * Rules, for the epoch `e` that contains `nowMs` (same schedule as the directory):
 * - the node holds the keys of `e` (current) and `e + 1` (next: published ahead, so that
 *   clients holding epoch e's topology can already build packets for e + 1);
 * - it also holds the key of `e - 1` (previous) until `graceMs` after `e` started, for
 *   packets built before the boundary and still in flight;
 * - it publishes `[e, e + 1]` in its descriptor;
 * - it peels with the keys of `e` and `e - 1` (while held), and with the key of `e + 1` only
 *   in the last `nextKeyWindowMs` of `e` (for clocks a little ahead). Before that window a
 *   packet for `e + 1` is undecryptable: nobody can fill the next epoch's replay filter
 *   long in advance, and the filter only has to plan for the window.
 * A key is generated when its epoch first appears in that set and dropped when it leaves.
 */
import { type EpochSchedule, epochAt, epochScheduleProblems, epochStart } from '@mixlab/topology';

export interface KeySchedule {
  readonly epochs: EpochSchedule;
  /** How long after an epoch starts the previous epoch's key still peels (0 <= graceMs < lengthMs). */
  readonly graceMs: number;
  /** How long before an epoch starts its key already peels (0 <= nextKeyWindowMs < lengthMs). */
  readonly nextKeyWindowMs: number;
}

/** Which key opened a packet, relative to the current epoch (a bounded metric label). */
export type KeyRole = 'current' | 'previous' | 'next';

export interface HeldKeyEpochs {
  readonly current: number;
  readonly next: number;
  /** Present during the grace period after the boundary (never in epoch 0). */
  readonly previous?: number;
}

/** The default grace period: a quarter of the epoch, at most one minute. */
export function defaultGraceMs(epochLengthMs: number): number {
  return Math.min(Math.floor(epochLengthMs / 4), 60_000);
}

/** The default next-key window: a tenth of the epoch, at most 30 seconds. */
export function defaultNextKeyWindowMs(epochLengthMs: number): number {
  return Math.min(Math.floor(epochLengthMs / 10), 30_000);
}

/** How long one epoch's key peels: its window before the epoch, the epoch, the grace period after. */
export function keyLifetimeMs(schedule: KeySchedule): number {
  return schedule.nextKeyWindowMs + schedule.epochs.lengthMs + schedule.graceMs;
}

/** Reasons a key schedule is unusable; empty when it is valid. */
export function keyScheduleProblems(schedule: KeySchedule): string[] {
  const problems = epochScheduleProblems(schedule.epochs);
  for (const name of ['graceMs', 'nextKeyWindowMs'] as const) {
    const value = schedule[name];
    if (!Number.isSafeInteger(value) || value < 0 || value >= schedule.epochs.lengthMs) {
      problems.push(
        `${name} must be an integer from 0 to the epoch length minus 1 (${schedule.epochs.lengthMs - 1}), got ${value}`,
      );
    }
  }
  return problems;
}

export function checkKeySchedule(schedule: KeySchedule): void {
  const problems = keyScheduleProblems(schedule);
  if (problems.length > 0) throw new RangeError(`invalid key schedule: ${problems.join('; ')}`);
}

/** The epochs whose keys exist at `nowMs`. */
export function heldKeyEpochs(nowMs: number, schedule: KeySchedule): HeldKeyEpochs {
  const current = epochAt(nowMs, schedule.epochs);
  const inGrace = current > 0 && nowMs < epochStart(current, schedule.epochs) + schedule.graceMs;
  return inGrace ? { current, next: current + 1, previous: current - 1 } : { current, next: current + 1 };
}

/** The same, as a list: current first, then previous (if held), then next: the order packets are peeled in. */
export function peelOrder(held: HeldKeyEpochs): number[] {
  return held.previous === undefined ? [held.current, held.next] : [held.current, held.previous, held.next];
}

/** True in the last `nextKeyWindowMs` of the epoch that contains `nowMs`: the next epoch's key peels. */
function inNextKeyWindow(nowMs: number, schedule: KeySchedule): boolean {
  const next = epochStart(epochAt(nowMs, schedule.epochs) + 1, schedule.epochs);
  return nowMs >= next - schedule.nextKeyWindowMs;
}

/** The epochs whose keys peel at `nowMs`, in peel order: current, previous (in the grace period), next (in its window). */
export function peelableEpochs(nowMs: number, schedule: KeySchedule): number[] {
  const held = heldKeyEpochs(nowMs, schedule);
  const epochs = held.previous === undefined ? [held.current] : [held.current, held.previous];
  if (inNextKeyWindow(nowMs, schedule)) epochs.push(held.next);
  return epochs;
}

/**
 * The first millisecond after `nowMs` at which the held or the peelable set changes: the
 * grace expiry, the opening of the next key's window, or the next boundary.
 */
export function nextKeyChangeAt(nowMs: number, schedule: KeySchedule): number {
  const { current, previous } = heldKeyEpochs(nowMs, schedule);
  const start = epochStart(current, schedule.epochs);
  const boundary = start + schedule.epochs.lengthMs;
  const graceEnds = previous === undefined ? boundary : start + schedule.graceMs;
  const windowOpens = boundary - schedule.nextKeyWindowMs;
  // The grace period and the window may overlap (a long grace, a long window): whichever comes first.
  return Math.min(graceEnds, windowOpens > nowMs ? windowOpens : boundary, boundary);
}

/** How the key of `epoch` relates to the current epoch. */
export function keyRole(epoch: number, current: number): KeyRole {
  if (epoch === current) return 'current';
  return epoch < current ? 'previous' : 'next';
}
