/**
 * Epochs: consecutive, equal, half-open intervals of wall-clock time starting at genesis.
 * Epoch e covers [genesisMs + e * lengthMs, genesisMs + (e + 1) * lengthMs). Mixing keys
 * and topology documents belong to one epoch. Every function is pure and exact on
 * integer milliseconds (no floating-point division).
 */
export interface EpochSchedule {
  /** Start of epoch 0, ms since the Unix epoch (an integer >= 0). */
  readonly genesisMs: number;
  /** Length of every epoch in ms (an integer >= 1). */
  readonly lengthMs: number;
}

/** Reasons a schedule is unusable; empty when it is valid. */
export function epochScheduleProblems(schedule: EpochSchedule): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(schedule.genesisMs) || schedule.genesisMs < 0) {
    problems.push(`genesisMs must be a non-negative integer of ms, got ${schedule.genesisMs}`);
  }
  if (!Number.isSafeInteger(schedule.lengthMs) || schedule.lengthMs < 1) {
    problems.push(`lengthMs must be a positive integer of ms, got ${schedule.lengthMs}`);
  }
  return problems;
}

function checkSchedule(schedule: EpochSchedule): void {
  const problems = epochScheduleProblems(schedule);
  if (problems.length > 0) throw new RangeError(`invalid epoch schedule: ${problems.join('; ')}`);
}

/** The epoch that contains `nowMs`; throws before genesis (epochs are numbered from 0). */
export function epochAt(nowMs: number, schedule: EpochSchedule): number {
  checkSchedule(schedule);
  if (!Number.isSafeInteger(nowMs)) throw new RangeError(`time must be an integer of ms, got ${nowMs}`);
  const offset = nowMs - schedule.genesisMs;
  if (offset < 0) {
    throw new RangeError(
      `time ${nowMs} is before genesis ${schedule.genesisMs}: check the clock or the configured genesis`,
    );
  }
  // Subtracting the remainder first makes the division exact.
  return (offset - (offset % schedule.lengthMs)) / schedule.lengthMs;
}

/** First millisecond of `epoch`. */
export function epochStart(epoch: number, schedule: EpochSchedule): number {
  checkSchedule(schedule);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
  const start = schedule.genesisMs + epoch * schedule.lengthMs;
  if (!Number.isSafeInteger(start)) throw new RangeError(`epoch ${epoch} starts beyond the representable time`);
  return start;
}

/** First millisecond after `epoch` (exclusive end), which is the start of the next epoch. */
export function epochEnd(epoch: number, schedule: EpochSchedule): number {
  return epochStart(epoch, schedule) + schedule.lengthMs;
}

/** A schedule read against a clock; inject `now` in tests. */
export class EpochClock {
  readonly schedule: EpochSchedule;
  readonly #now: () => number;

  constructor(schedule: EpochSchedule, now: () => number = Date.now) {
    checkSchedule(schedule);
    this.schedule = schedule;
    this.#now = now;
  }

  /** The epoch now. */
  current(): number {
    return epochAt(this.#now(), this.schedule);
  }

  /** Ms from now until the next epoch starts (from 1 to lengthMs). */
  msUntilNextEpoch(): number {
    const now = this.#now();
    return epochEnd(epochAt(now, this.schedule), this.schedule) - now;
  }

  startOf(epoch: number): number {
    return epochStart(epoch, this.schedule);
  }

  endOf(epoch: number): number {
    return epochEnd(epoch, this.schedule);
  }
}
