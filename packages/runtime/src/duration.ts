/** The units a duration may be written in, and their length in ms. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

export type DurationUnit = keyof typeof UNIT_MS;

const UNIT_NAMES: Record<DurationUnit, string> = { ms: 'milliseconds', s: 'seconds', m: 'minutes', h: 'hours' };
const UNIT_EXAMPLES: Record<DurationUnit, string> = { ms: '500ms', s: '30s', m: '2m', h: '1h' };

export interface DurationOptions {
  /** Units accepted after the number; default all of ms, s, m, h. */
  readonly units?: readonly DurationUnit[];
  /** The unit of a number written without one (`45`); undefined (the default) requires a unit. */
  readonly bareUnit?: DurationUnit | undefined;
  /** Accept zero; by default a duration must be greater than 0. */
  readonly allowZero?: boolean;
  /** What is being parsed (a flag or field name), for error messages. */
  readonly what?: string;
}

/** Text that is not a duration of the accepted form; the message says what is accepted. */
export class DurationError extends Error {
  override readonly name = 'DurationError';
}

const DURATION = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$/;

/**
 * Parses a duration such as `500ms`, `1.5s`, `2m` or, with `bareUnit`, a bare `45` into
 * milliseconds. Throws a DurationError that quotes the text and says what is accepted.
 */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const { units = ['ms', 's', 'm', 'h'], bareUnit, allowZero = false, what = 'duration' } = options;
  const match = DURATION.exec(text);
  const unit = match?.[2] || bareUnit;
  if (!match || unit === undefined || !(units as readonly string[]).includes(unit) || !Object.hasOwn(UNIT_MS, unit)) {
    const withUnit = `a number with a unit: ${units.map((u) => UNIT_EXAMPLES[u]).join(', ')}`;
    const hint = bareUnit === undefined ? withUnit : `${UNIT_NAMES[bareUnit]}, or ${withUnit}`;
    throw new DurationError(`${what} "${text}" is not a duration (${hint})`);
  }
  const ms = Number(match[1]) * UNIT_MS[unit as DurationUnit];
  if (!Number.isFinite(ms)) throw new DurationError(`${what} "${text}" is too long`);
  if (ms === 0 && !allowZero) throw new DurationError(`${what} must be greater than 0, got "${text}"`);
  return ms;
}
