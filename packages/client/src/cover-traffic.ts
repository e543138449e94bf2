/**
 * A client's cover traffic (Loopix): drop cover to the sink and loop cover to itself,
 * each sent at the times of its own Poisson process. On the wire both are packets like
 * any other; the client counts them, and a loop that does not come back within
 * `loopTimeoutMs` is counted lost.
 */
import type { KeyPair } from '@mixlab/crypto';
import { type Clock, exponentialDelay, monotonicClock, type Random, secureRandom } from '@mixlab/runtime';
import { type Message, newMessageId } from './message.ts';
import type { MixnetClient } from './mixnet-client.ts';

export interface CoverTrafficOptions {
  /** Drop cover per second, on average; 0 sends none. */
  readonly dropRate: number;
  /** Loop cover per second, on average; 0 sends none. */
  readonly loopRate: number;
  readonly loopTimeoutMs: number;
  /** Body bytes of a cover packet, so it is as large as the messages it hides among (onion shows sizes). */
  readonly bodyBytes?: number;
  readonly clock?: Clock;
  /** Draws the cover's send times; the CSPRNG by default. */
  readonly random?: Random;
  readonly onError?: (error: Error) => void;
}

export interface CoverCounts {
  drops: number;
  loopsSent: number;
  loopsReturned: number;
  loopsLost: number;
  /** Round trips of returned loops, in milliseconds. */
  readonly loopRoundTripsMs: number[];
}

/** The part of MixnetClient cover traffic uses. */
export type CoverClient = Pick<MixnetClient, 'send' | 'sendDrop'>;

export class CoverTraffic {
  readonly counts: CoverCounts = { drops: 0, loopsSent: 0, loopsReturned: 0, loopsLost: 0, loopRoundTripsMs: [] };
  readonly #client: CoverClient;
  readonly #keys: KeyPair;
  readonly #options: CoverTrafficOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #loops = new Map<string, { sentAt: number; cancel: () => void; left: boolean }>();
  readonly #cancels: (() => void)[] = [];

  constructor(client: CoverClient, keys: KeyPair, options: CoverTrafficOptions) {
    for (const [name, rate] of [
      ['dropRate', options.dropRate],
      ['loopRate', options.loopRate],
    ] as const) {
      if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`${name} must be a rate >= 0, got ${rate}`);
    }
    this.#client = client;
    this.#keys = keys;
    this.#options = options;
    this.#clock = options.clock ?? monotonicClock;
    this.#random = options.random ?? secureRandom;
  }

  start(): void {
    this.#every(this.#options.dropRate, () => this.#sendDrop());
    this.#every(this.#options.loopRate, () => this.#sendLoop());
  }

  /** Stops sending new cover; loops still out can still return or be counted lost. */
  stopSending(): void {
    for (const cancel of this.#cancels.splice(0)) cancel();
  }

  /** Stops everything; loops still out are neither returned nor lost. */
  stop(): void {
    this.stopSending();
    for (const { cancel } of this.#loops.values()) cancel();
    this.#loops.clear();
  }

  /** Give to `MixnetClient.receive(keys, ..., { onLoop })` for this client's keys. */
  readonly handleLoop = (message: Message): void => {
    const loop = this.#loops.get(message.id);
    if (!loop) return; // already counted lost, or a copy
    loop.cancel();
    this.#loops.delete(message.id);
    this.counts.loopsReturned++;
    this.counts.loopRoundTripsMs.push(this.#clock.now() - loop.sentAt);
  };

  /** Each process's own chain of exponential gaps: inter-arrival times of a Poisson process. */
  #every(rate: number, send: () => Promise<void>): void {
    if (rate === 0) return;
    const next = () => {
      const cancel = this.#clock.schedule(exponentialDelay(1000 / rate, this.#random), () => {
        this.#cancels.splice(this.#cancels.indexOf(cancel), 1);
        next();
        send().catch((error: Error) => this.#options.onError?.(error));
      });
      this.#cancels.push(cancel);
    };
    next();
  }

  async #sendDrop(): Promise<void> {
    this.counts.drops++;
    await this.#client.sendDrop(this.#options.bodyBytes ?? 0);
  }

  async #sendLoop(): Promise<void> {
    const body = new Uint8Array(this.#options.bodyBytes ?? 0);
    // Waiting for it before it leaves: it may be home before the gateway has answered.
    const messageId = newMessageId();
    const cancel = this.#clock.schedule(this.#options.loopTimeoutMs, () => {
      if (this.#loops.get(messageId)?.left) this.counts.loopsLost++; // one that never left is not lost
      this.#loops.delete(messageId);
    });
    const loop = { sentAt: this.#clock.now(), cancel, left: false };
    this.#loops.set(messageId, loop);
    try {
      await this.#client.send(this.#keys.publicKey, body, { kind: 'loop', messageId });
    } catch (error) {
      cancel();
      this.#loops.delete(messageId);
      throw error;
    }
    loop.left = true;
    this.counts.loopsSent++;
  }
}
