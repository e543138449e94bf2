/**
 * The node's X25519 mixing key pairs, one per epoch, kept in step with the key
 * schedule (key-schedule.ts): a fresh pair for each epoch when it becomes the next (or
 * current) one, kept as previous during the grace period, then dropped and forgotten.
 * With a store (mixing-key-store.ts) every new pair is kept on disk before it is used and
 * every dropped one is deleted there, and a restarted node takes back the pairs of the epochs
 * it still holds instead of making new ones, so packets wrapped to them before the restart
 * still open. `start` re-checks at every change time.
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
import type { MixingKeyStore } from './mixing-key-store.ts';

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
  /** Set when the store could not save the change: the keys are used anyway, but a restart would lose them. */
  readonly saveError?: Error;
}

export interface MixingKeysOptions {
  readonly generate?: () => KeyPair;
  /** Where the pairs are kept across restarts; without one they live in memory only. */
  readonly store?: MixingKeyStore;
}

export class MixingKeys {
  readonly #schedule: KeySchedule;
  /** A wall clock (ms since the Unix epoch, like the directory's epochs). */
  readonly #clock: Clock;
  readonly #generate: () => KeyPair;
  readonly #store: MixingKeyStore | undefined;
  readonly #pairs = new Map<number, KeyPair>();
  #held: HeldKeyEpochs;
  #peelable: number[];
  #cancel: (() => void) | undefined;
  /** The epochs whose pairs were taken back from the store at construction, in peel order. */
  readonly restored: readonly number[];

  /** Takes back the stored pairs of the epochs held now, makes the missing current and next ones, deletes the rest. */
  constructor(schedule: KeySchedule, clock: Clock, options: MixingKeysOptions = {}) {
    checkKeySchedule(schedule);
    this.#schedule = schedule;
    this.#clock = clock;
    this.#generate = options.generate ?? generateKeyPair;
    this.#store = options.store;
    this.#held = heldKeyEpochs(clock.now(), schedule);
    this.#peelable = peelableEpochs(clock.now(), schedule);
    const kept = this.#store?.load() ?? new Map<number, KeyPair>();
    const wanted = peelOrder(this.#held);
    this.restored = wanted.filter((epoch) => kept.has(epoch));
    for (const epoch of this.restored) this.#pairs.set(epoch, kept.get(epoch) as KeyPair);
    const added = this.#makeMissing();
    this.#store?.save(
      added,
      [...kept.keys()].filter((epoch) => !wanted.includes(epoch)),
    );
    for (const [epoch, pair] of added) this.#pairs.set(epoch, pair);
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
    const dropped = [...this.#pairs.keys()].filter((epoch) => !wanted.has(epoch)).sort((a, b) => a - b);
    const rotated = held.current !== this.#held.current;
    this.#held = held;
    this.#peelable = peelable;
    const added = this.#makeMissing();
    if (!rotated && !nextKeyOpened && added.size === 0 && dropped.length === 0) return undefined;
    let saveError: Error | undefined;
    try {
      this.#store?.save(added, dropped);
    } catch (error) {
      saveError = error as Error;
    }
    for (const epoch of dropped) this.#pairs.delete(epoch);
    for (const [epoch, pair] of added) this.#pairs.set(epoch, pair);
    const change = { rotated, added: [...added.keys()], dropped, nextKeyOpened };
    return saveError ? { ...change, saveError } : change;
  }

  /** New pairs for the current and next epochs that have none. Only these are ever made: a previous key nobody was given is useless. */
  #makeMissing(): Map<number, KeyPair> {
    const missing = [this.#held.current, this.#held.next].filter((epoch) => !this.#pairs.has(epoch));
    return new Map(missing.map((epoch) => [epoch, this.#generate()]));
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
