/**
 * The node's X25519 mixing key pairs, one per epoch, kept in step with the key
 * schedule (key-schedule.ts): a fresh pair for each epoch when it becomes the next (or
 * current) one, kept as previous during the grace period, then dropped and forgotten.
 * Keys live in memory only: a restarted node makes and publishes new ones.
 * `start` re-checks at every change time.
 */
import { generateKeyPair, type KeyPair, toHex } from '@mixlab/crypto';
import type { Clock } from '@mixlab/runtime';
import type { MixingKey } from '@mixlab/topology';
import {
  checkKeySchedule,
  type HeldKeyEpochs,
  heldKeyEpochs,
  type KeySchedule,
  nextKeyChangeAt,
  peelableEpochs,
  peelOrder,
} from './key-schedule.ts';

/** The keys a peeler opens packets with: the current epoch's and the others the schedule lets peel now. */
export interface MixingKeySet {
  readonly current: number;
  /** Every held key pair by epoch; holds `current`. */
  readonly byEpoch: ReadonlyMap<number, KeyPair>;
}

export interface KeyChange {
  /** True when the current epoch moved (the published keys changed). */
  readonly rotated: boolean;
  readonly added: readonly number[];
  readonly dropped: readonly number[];
  /** True when the next epoch's key began to peel (its window opened). */
  readonly nextKeyOpened: boolean;
}

export class MixingKeys {
  readonly #schedule: KeySchedule;
  /** A wall clock (ms since the Unix epoch, like the directory's epochs). */
  readonly #clock: Clock;
  readonly #generate: () => KeyPair;
  readonly #pairs = new Map<number, KeyPair>();
  #held: HeldKeyEpochs;
  #peelable: number[];
  #cancel: (() => void) | undefined;

  constructor(schedule: KeySchedule, clock: Clock, generate: () => KeyPair = generateKeyPair) {
    checkKeySchedule(schedule);
    this.#schedule = schedule;
    this.#clock = clock;
    this.#generate = generate;
    this.#held = heldKeyEpochs(clock.now(), schedule);
    this.#peelable = peelableEpochs(clock.now(), schedule);
    for (const epoch of [this.#held.current, this.#held.next]) this.#pairs.set(epoch, generate());
  }

  get current(): number {
    return this.#held.current;
  }

  /** What the peelers use, in peel order (current, previous, next): the keys that peel now. */
  keySet(): MixingKeySet {
    const byEpoch = new Map<number, KeyPair>();
    for (const epoch of this.#peelable) {
      const pair = this.#pairs.get(epoch);
      if (pair) byEpoch.set(epoch, pair);
    }
    return { current: this.#held.current, byEpoch };
  }

  /** What the descriptor publishes: the current and the next epoch's public keys. */
  published(): MixingKey[] {
    return [this.#held.current, this.#held.next].map((epoch) => ({
      epoch,
      publicKey: toHex((this.#pairs.get(epoch) as KeyPair).publicKey),
    }));
  }

  /** Brings the key pairs in line with the schedule at the clock's time; returns what changed, if anything. */
  update(): KeyChange | undefined {
    const now = this.#clock.now();
    const held = heldKeyEpochs(now, this.#schedule);
    const peelable = peelableEpochs(now, this.#schedule);
    const nextKeyOpened = peelable.includes(held.next) && !this.#peelable.includes(held.next);
    const wanted = new Set(peelOrder(held));
    // Only current and next keys are ever made: a previous key nobody was given is useless.
    const added = [held.current, held.next].filter((epoch) => !this.#pairs.has(epoch));
    const dropped = [...this.#pairs.keys()].filter((epoch) => !wanted.has(epoch)).sort((a, b) => a - b);
    const rotated = held.current !== this.#held.current;
    this.#held = held;
    this.#peelable = peelable;
    if (!rotated && !nextKeyOpened && added.length === 0 && dropped.length === 0) return undefined;
    for (const epoch of dropped) this.#pairs.delete(epoch);
    for (const epoch of added) this.#pairs.set(epoch, this.#generate());
    return { rotated, added, dropped, nextKeyOpened };
  }

  /** Updates at every change time from now on, calling `onChange` after each change. */
  start(onChange: (change: KeyChange) => void): void {
    this.stop();
    const tick = () => {
      const change = this.update();
      const now = this.#clock.now();
      this.#cancel = this.#clock.schedule(Math.max(1, nextKeyChangeAt(now, this.#schedule) - now), tick);
      if (change) onChange(change);
    };
    tick();
  }

  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }
}
