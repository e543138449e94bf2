/**
 * The n − 1 attack's tell (Loopix; Piotrowska et al., USENIX Security 2017): a mix node sends
 * loop cover through the network back to itself; an attacker who holds back every packet
 * entering the node holds back its loops too, as it cannot tell them from the packets it
 * must stop. The alarm: the share of the node's most recent loops that did not come back
 * within a timeout. Here the pure alarm over loop records, its expected delay, and a seeded
 * simulation of how fast it fires as a function of the loop rate.
 */
import { exponentialGapMs, type SeededRandom } from '@mixlab/runtime';

/** One loop the node sent, and when it came back (undefined: not yet, or never). */
export interface LoopRecord {
  readonly sentAtMs: number;
  readonly returnedAtMs?: number | undefined;
}

export interface LoopAlarmOptions {
  /** A loop not back within this many ms of being sent is lost. */
  readonly timeoutMs: number;
  /** The alarm looks at the last this many resolved loops (returned in time or timed out). */
  readonly window: number;
  /** It fires when at least this share of them was lost, in (0, 1]. */
  readonly threshold: number;
}

function checkAlarm(options: LoopAlarmOptions): void {
  if (!(options.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${options.timeoutMs}`);
  if (!(Number.isSafeInteger(options.window) && options.window >= 1)) {
    throw new RangeError(`window must be a whole number >= 1, got ${options.window}`);
  }
  if (!(options.threshold > 0 && options.threshold <= 1)) {
    throw new RangeError(`threshold must be in (0, 1], got ${options.threshold}`);
  }
}

/**
 * The alarm rule, fed one resolved loop at a time (in time order): a loop is resolved at its
 * return, if within the timeout, or lost at the timeout. Fires while the last `window` resolved
 * loops are all in and at least ceil(threshold × window) of them were lost. The mix node runs
 * it live; `loopLossAlarm` replays a trace through it.
 */
export class LoopLossWindow {
  readonly #size: number;
  readonly #needed: number;
  /** Ring of the last `#size` outcomes, true for lost. */
  readonly #outcomes: boolean[] = [];
  #next = 0;
  #lost = 0;

  constructor(options: LoopAlarmOptions) {
    checkAlarm(options);
    this.#size = options.window;
    this.#needed = Math.ceil(options.threshold * options.window - 1e-9);
  }

  /** Records one resolved loop; returns whether the alarm fires now. */
  record(lost: boolean): boolean {
    if (this.#outcomes.length < this.#size) this.#outcomes.push(lost);
    else {
      if (this.#outcomes[this.#next]) this.#lost--;
      this.#outcomes[this.#next] = lost;
      this.#next = (this.#next + 1) % this.#size;
    }
    if (lost) this.#lost++;
    return this.firing;
  }

  /** The share of the resolved loops in the window that were lost (0 before any). */
  get lossRatio(): number {
    return this.#outcomes.length === 0 ? 0 : this.#lost / this.#outcomes.length;
  }

  get firing(): boolean {
    return this.#outcomes.length === this.#size && this.#lost >= this.#needed;
  }
}

/**
 * When the alarm first fires: loops resolve at their return (if within the timeout) or at
 * sentAtMs + timeoutMs, in time order; the alarm fires at the first resolution after which
 * the window is full and holds at least ceil(threshold × window) losses.
 */
export function loopLossAlarm(
  loops: readonly LoopRecord[],
  options: LoopAlarmOptions,
): { readonly firesAtMs: number | undefined; readonly lost: number; readonly resolved: number } {
  const alarm = new LoopLossWindow(options);
  const outcomes = loops
    .map((loop) => {
      const back = loop.returnedAtMs !== undefined && loop.returnedAtMs - loop.sentAtMs <= options.timeoutMs;
      return { atMs: back ? (loop.returnedAtMs as number) : loop.sentAtMs + options.timeoutMs, lost: !back };
    })
    .sort((a, b) => a.atMs - b.atMs);
  let lost = 0;
  let firesAtMs: number | undefined;
  for (const outcome of outcomes) {
    if (outcome.lost) lost++;
    if (alarm.record(outcome.lost) && firesAtMs === undefined) firesAtMs = outcome.atMs;
  }
  return { firesAtMs, lost, resolved: outcomes.length };
}

/**
 * Expected time from the start of the attack to the alarm, for Poisson loops at
 * `loopRatePerSecond` that take `roundTripMs` (<= timeoutMs) when not held back: every loop
 * due back after the start is lost, the k = ceil(threshold × window)-th of them was sent a
 * Gamma(k, λ) time after start − roundTrip, and is declared lost timeoutMs after it was sent:
 * E = timeoutMs − roundTripMs + k/λ.
 */
export function expectedLoopAlarmDelayMs(
  loopRatePerSecond: number,
  roundTripMs: number,
  options: LoopAlarmOptions,
): number {
  checkAlarm(options);
  if (!(loopRatePerSecond > 0)) throw new RangeError(`loop rate must be > 0, got ${loopRatePerSecond}`);
  if (!(roundTripMs >= 0 && roundTripMs <= options.timeoutMs)) {
    throw new RangeError(`roundTripMs must be in [0, timeoutMs], got ${roundTripMs}`);
  }
  const needed = Math.ceil(options.threshold * options.window - 1e-9);
  return options.timeoutMs - roundTripMs + (needed * 1000) / loopRatePerSecond;
}

/**
 * Seeded trials: loops leave at Poisson times from 0, take `roundTripMs`, and from
 * `attackStartMs` every loop due back is held back for good. Returns each trial's delay from
 * the start of the attack to the alarm (undefined if it did not fire by `endMs`).
 */
export function simulateLoopAlarm(
  random: SeededRandom,
  scenario: {
    readonly loopRatePerSecond: number;
    readonly roundTripMs: number;
    readonly attackStartMs: number;
    readonly endMs: number;
    readonly trials: number;
  },
  options: LoopAlarmOptions,
): { readonly delaysMs: readonly (number | undefined)[]; readonly meanDelayMs: number; readonly falseAlarms: number } {
  const delaysMs: (number | undefined)[] = [];
  let falseAlarms = 0;
  for (let trial = 0; trial < scenario.trials; trial++) {
    const stream = random.fork(`trial-${trial}`);
    const loops: LoopRecord[] = [];
    for (
      let at = exponentialGapMs(scenario.loopRatePerSecond, stream);
      at < scenario.endMs;
      at += exponentialGapMs(scenario.loopRatePerSecond, stream)
    ) {
      const back = at + scenario.roundTripMs;
      loops.push({ sentAtMs: at, returnedAtMs: back < scenario.attackStartMs ? back : undefined });
    }
    const { firesAtMs } = loopLossAlarm(loops, options);
    if (firesAtMs !== undefined && firesAtMs < scenario.attackStartMs) falseAlarms++;
    delaysMs.push(firesAtMs === undefined ? undefined : firesAtMs - scenario.attackStartMs);
  }
  const fired = delaysMs.filter((d): d is number => d !== undefined);
  return {
    delaysMs,
    meanDelayMs: fired.length === 0 ? Number.NaN : fired.reduce((a, b) => a + b, 0) / fired.length,
    falseAlarms,
  };
}
