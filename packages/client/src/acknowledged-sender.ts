/**
 * Sending with delivery acknowledgements: each message carries a single-use reply
 * block; the recipient answers through it; a message whose acknowledgement has not
 * come back after `ackTimeoutMs` is sent again (same id, fresh routes and reply block),
 * up to `maxAttempts` sends. A send that fails while the gateway, directory or a layer is away
 * counts as an attempt whose packet was lost. Timers run on an injected Clock.
 */
import { type KeyPair, toHex } from '@mixlab/crypto';
import type { ReplySecret } from '@mixlab/packet';
import { type Clock, monotonicClock } from '@mixlab/runtime';
import { rememberBounded } from './bounded-set.ts';
import { decodeAcknowledgement, newMessageId } from './message.ts';
import type { MixnetClient, SendReceipt } from './mixnet-client.ts';
import { failureReason, isTransient, retryAfterOf } from './transient.ts';

/** Reply ids of settled messages remembered to recognise their late acknowledgements. */
const REMEMBERED_REPLY_IDS = 10_000;

export type DeliveryOutcome = 'acknowledged' | 'expired' | 'cancelled';

export type DeliveryEvent =
  | { readonly type: 'sent'; readonly messageId: string; readonly attempt: number; readonly route: readonly string[] }
  | {
      readonly type: 'send_failed';
      readonly messageId: string;
      readonly attempt: number;
      readonly reason: string;
      /** What the send threw: unreachableReason turns a connection failure into what to check. */
      readonly error: unknown;
    }
  /** `waitedMs`: the timeout (or Retry-After) that ran out before this attempt. */
  | { readonly type: 'retransmitting'; readonly messageId: string; readonly attempt: number; readonly waitedMs: number }
  | { readonly type: 'acknowledged'; readonly messageId: string; readonly attempts: number; readonly afterMs: number }
  | { readonly type: 'expired'; readonly messageId: string; readonly attempts: number };

/** The acknowledgement timeout when neither the caller nor the route says. */
export const DEFAULT_ACK_TIMEOUT_MS = 20_000;
/** No timeout shorter than this: a route of quick mixes still crosses the network twice. */
export const MIN_ACK_TIMEOUT_MS = 5_000;

/**
 * The acknowledgement timeout for a route whose mean round trip is `expectedRoundTripMs`:
 * twice the mean (mixing delays spread widely: exponential, geometric, a pool's tail) plus
 * 2 s for the network and processing, at least MIN_ACK_TIMEOUT_MS.
 */
export function ackTimeoutForRoundTrip(expectedRoundTripMs: number): number {
  return Math.max(MIN_ACK_TIMEOUT_MS, Math.ceil(2 * expectedRoundTripMs + 2_000));
}

export interface AcknowledgedSenderOptions {
  /**
   * How long to wait for an acknowledgement before sending again. Unset: per attempt, from its
   * route's expected round trip (ackTimeoutForRoundTrip of SendReceipt.expectedRoundTripMs),
   * else DEFAULT_ACK_TIMEOUT_MS.
   */
  readonly ackTimeoutMs?: number;
  /** Sends in all, the first included. */
  readonly maxAttempts: number;
  readonly clock?: Clock;
  /**
   * Seal each attempt's send time (read on `now`) into the message, for the recipient's
   * latency display: a leak, opt-in (SendOptions.sentAt).
   */
  readonly revealSendTime?: boolean;
  /** Wall clock for a revealed send time. */
  readonly now?: () => number;
  readonly onEvent?: (event: DeliveryEvent) => void;
  /** Replies that cannot be read (altered, or not acknowledgements). */
  readonly onError?: (error: Error) => void;
}

/** The part of MixnetClient this needs. */
export type AcknowledgingClient = Pick<MixnetClient, 'send' | 'replyFormat'>;

interface Outstanding {
  readonly recipient: Uint8Array;
  readonly body: Uint8Array;
  readonly startedAt: number;
  readonly replyIds: string[];
  attempts: number;
  /** When the last attempt was made (clock ms): what a retransmission waited is measured from it. */
  attemptAt: number;
  /** The last attempt's timeout: also the wait after an attempt that did not go out. */
  timeoutMs: number;
  cancelTimer: () => void;
  settle: (outcome: DeliveryOutcome) => void;
}

export class AcknowledgedSender {
  readonly #client: AcknowledgingClient;
  readonly #keys: KeyPair;
  readonly #options: AcknowledgedSenderOptions;
  readonly #clock: Clock;
  readonly #outstanding = new Map<string, Outstanding>();
  readonly #secrets = new Map<string, { messageId: string; secret: ReplySecret }>();
  /** Reply ids of settled messages, so that their late acknowledgements are still known as replies. */
  readonly #settledReplyIds = new Set<string>();

  constructor(client: AcknowledgingClient, keys: KeyPair, options: AcknowledgedSenderOptions) {
    if (options.ackTimeoutMs !== undefined && !(options.ackTimeoutMs > 0)) {
      throw new RangeError(`ackTimeoutMs must be positive, got ${options.ackTimeoutMs}`);
    }
    if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${options.maxAttempts}`);
    }
    this.#client = client;
    this.#keys = keys;
    this.#options = options;
    this.#clock = options.clock ?? monotonicClock;
  }

  /** Messages sent and not yet acknowledged or given up. */
  get outstanding(): number {
    return this.#outstanding.size;
  }

  /**
   * Sends `body`; `outcome` settles when it is acknowledged, or after the last attempt times out.
   * A send that fails for a reason that may pass (gateway, directory or a layer away for a
   * moment, see isTransient) is a lost packet: the next attempt follows after the ack timeout,
   * or after the gateway's Retry-After. Any other failure of the first attempt is thrown.
   */
  async send(
    recipient: Uint8Array,
    body: Uint8Array,
  ): Promise<{ messageId: string; route: readonly string[]; outcome: Promise<DeliveryOutcome> }> {
    let settle: (outcome: DeliveryOutcome) => void = () => {};
    const outcome = new Promise<DeliveryOutcome>((resolve) => {
      settle = resolve;
    });
    const messageId = newMessageId();
    const entry: Outstanding = {
      recipient,
      body,
      startedAt: this.#clock.now(),
      replyIds: [],
      attempts: 1,
      attemptAt: this.#clock.now(),
      timeoutMs: this.#options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS,
      cancelTimer: () => {},
      settle,
    };
    let receipt: SendReceipt;
    try {
      receipt = await this.#client.send(recipient, body, { messageId, replyTo: this.#keys, sentAt: this.#sentAt() });
    } catch (error) {
      if (!isTransient(error) || this.#options.maxAttempts < 2) throw error;
      this.#outstanding.set(messageId, entry);
      this.#emit({ type: 'send_failed', messageId, attempt: 1, reason: failureReason(error), error });
      this.#armTimer(messageId, entry, retryAfterOf(error));
      return { messageId, route: [], outcome };
    }
    this.#outstanding.set(messageId, entry);
    this.#remember(messageId, receipt.replySecret);
    entry.timeoutMs = this.#timeoutFor(receipt);
    this.#emit({ type: 'sent', messageId, attempt: 1, route: receipt.route });
    this.#armTimer(messageId, entry);
    return { messageId, route: receipt.route, outcome };
  }

  /**
   * Give to `MixnetClient.receive(keys, ..., { onReply })` for this sender's keys. True when
   * `replyId` is one of this sender's reply blocks (outstanding, or of a message already
   * settled, whose late acknowledgement is dropped); false for anything else, a message.
   */
  readonly handleReply = (delivered: Uint8Array, replyId: Uint8Array): boolean => {
    const id = toHex(replyId);
    const known = this.#secrets.get(id);
    if (!known) return this.#settledReplyIds.has(id);
    this.#client
      .replyFormat()
      .then((replies) => {
        if (!replies) return;
        const messageId = decodeAcknowledgement(replies.openReply(known.secret, delivered));
        if (messageId !== known.messageId) throw new Error('a reply came back that does not acknowledge its message');
        this.#settle(messageId, 'acknowledged');
      })
      .catch((error: Error) => this.#options.onError?.(error));
    return true;
  };

  /** Stops every timer; outstanding messages settle as 'cancelled'. */
  close(): void {
    for (const messageId of [...this.#outstanding.keys()]) this.#settle(messageId, 'cancelled');
  }

  /** The caller's timeout, else the route's, else the default. */
  #timeoutFor(receipt: SendReceipt): number {
    if (this.#options.ackTimeoutMs !== undefined) return this.#options.ackTimeoutMs;
    const roundTrip = receipt.expectedRoundTripMs;
    return roundTrip === undefined ? DEFAULT_ACK_TIMEOUT_MS : ackTimeoutForRoundTrip(roundTrip);
  }

  /** The next attempt after `delayMs`: the attempt's timeout unless the gateway asked for a wait. */
  #armTimer(messageId: string, entry: Outstanding, delayMs = entry.timeoutMs): void {
    entry.cancelTimer = this.#clock.schedule(delayMs, () => {
      if (entry.attempts >= this.#options.maxAttempts) {
        this.#settle(messageId, 'expired');
        return;
      }
      entry.attempts++;
      const attempt = entry.attempts;
      const now = this.#clock.now();
      this.#emit({ type: 'retransmitting', messageId, attempt, waitedMs: now - entry.attemptAt });
      entry.attemptAt = now;
      // The timer runs from the send, not from its answer; a route-derived timeout replaces it then.
      this.#armTimer(messageId, entry);
      this.#client
        .send(entry.recipient, entry.body, { messageId, replyTo: this.#keys, sentAt: this.#sentAt() })
        .then((receipt) => {
          this.#remember(messageId, receipt.replySecret);
          this.#emit({ type: 'sent', messageId, attempt, route: receipt.route });
          const timeoutMs = this.#timeoutFor(receipt);
          if (timeoutMs === entry.timeoutMs || !this.#outstanding.has(messageId) || entry.attempts !== attempt) return;
          entry.timeoutMs = timeoutMs;
          entry.cancelTimer();
          this.#armTimer(messageId, entry, Math.max(0, timeoutMs - (this.#clock.now() - entry.attemptAt)));
        })
        .catch((error) => {
          this.#emit({ type: 'send_failed', messageId, attempt, reason: failureReason(error), error });
          const retryAfter = retryAfterOf(error);
          if (retryAfter === undefined || !this.#outstanding.has(messageId) || entry.attempts !== attempt) return;
          entry.cancelTimer();
          this.#armTimer(messageId, entry, retryAfter);
        });
    });
  }

  #remember(messageId: string, secret: ReplySecret | undefined): void {
    const entry = this.#outstanding.get(messageId);
    if (!secret || !entry) return;
    const replyId = toHex(secret.id);
    entry.replyIds.push(replyId);
    this.#secrets.set(replyId, { messageId, secret });
  }

  #settle(messageId: string, outcome: DeliveryOutcome): void {
    const entry = this.#outstanding.get(messageId);
    if (!entry) return;
    entry.cancelTimer();
    this.#outstanding.delete(messageId);
    for (const replyId of entry.replyIds) {
      this.#secrets.delete(replyId);
      rememberBounded(this.#settledReplyIds, replyId, REMEMBERED_REPLY_IDS);
    }
    if (outcome === 'acknowledged') {
      const afterMs = this.#clock.now() - entry.startedAt;
      this.#emit({ type: 'acknowledged', messageId, attempts: entry.attempts, afterMs });
    } else if (outcome === 'expired') {
      this.#emit({ type: 'expired', messageId, attempts: entry.attempts });
    }
    entry.settle(outcome);
  }

  #emit(event: DeliveryEvent): void {
    this.#options.onEvent?.(event);
  }

  #sentAt(): number | undefined {
    return this.#options.revealSendTime ? (this.#options.now ?? Date.now)() : undefined;
  }
}
