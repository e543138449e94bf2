/**
 * Acknowledged traffic for the fault runs: several simulated clients, each a MixnetClient with
 * its own key pair, an AcknowledgedSender and a mailbox subscription, each sending at a steady
 * rate to the next client. Every message is followed from its first send to its
 * acknowledgement and its delivery, on one clock (sender and recipient are this process).
 */
import { AcknowledgedSender, type DeliveryEvent, MixnetClient } from '@mixlab/client';
import { generateKeyPair, type KeyPair } from '@mixlab/crypto';

export interface TrafficSettings {
  readonly gatewayUrl: string;
  readonly directoryKey: string;
  readonly clients: number;
  /** Messages per second per client, evenly spaced (clients out of phase). */
  readonly ratePerClient: number;
  readonly ackTimeoutMs: number;
  readonly maxAttempts: number;
  /** Mean of the recipients' acknowledgement delay (MixnetClient.ackDelayMeanMs). */
  readonly ackDelayMeanMs: number;
}

/** One send attempt that the gateway accepted. */
export interface Attempt {
  readonly at: number;
  readonly route: readonly string[];
}

/** One message, from its first send to what became of it; times in ms on the run's clock. */
export interface MessageRecord {
  readonly id: string;
  readonly firstSendAt: number;
  attempts: Attempt[];
  /** Retransmissions the gateway refused (or that never reached it). */
  failedAttempts: number;
  /** The first send was refused: the client knew at once, nothing was in the network. */
  refused?: string;
  ackedAt?: number;
  /** Sends made until the acknowledgement came (AcknowledgedSender's count). */
  ackedAfterAttempts?: number;
  expiredAt?: number;
  deliveredAt?: number;
}

export interface TrafficCounts {
  /** Deliveries of messages (not acknowledgements) to the recipients' clients, copies included. */
  messageDeliveries: number;
  /** Of those, deliveries that did not open as a message. */
  unreadable: number;
  /** Deliveries that could not be opened, and gateway errors. */
  errors: string[];
}

export class AcknowledgedTraffic {
  readonly records = new Map<string, MessageRecord>();
  readonly counts: TrafficCounts = { messageDeliveries: 0, unreadable: 0, errors: [] };
  readonly #settings: TrafficSettings;
  readonly #now: () => number;
  readonly #members: { client: MixnetClient; keys: KeyPair; sender: AcknowledgedSender }[] = [];
  readonly #closers: (() => void)[] = [];
  readonly #outcomes: Promise<unknown>[] = [];
  #sending: AbortController | undefined;
  #loops: Promise<void>[] = [];

  constructor(settings: TrafficSettings, now: () => number = Date.now) {
    this.#settings = settings;
    this.#now = now;
  }

  /** Connects every client's mailbox; resolves once all of them are open. */
  async open(): Promise<void> {
    const { gatewayUrl, directoryKey, ackDelayMeanMs, ackTimeoutMs, maxAttempts } = this.#settings;
    const onEvent = (event: DeliveryEvent) => this.#onEvent(event);
    for (let index = 0; index < this.#settings.clients; index++) {
      const client = new MixnetClient(gatewayUrl, { directoryKey, ackDelayMeanMs });
      const keys = generateKeyPair();
      const sender = new AcknowledgedSender(client, keys, {
        ackTimeoutMs,
        maxAttempts,
        onEvent,
        onError: (error) => this.counts.errors.push(`reply: ${error.message}`),
      });
      const subscription = client.receive(
        keys,
        (message) => {
          const at = this.#now();
          const record = this.records.get(message.id);
          if (!record) {
            // Delivered before the sender's 'sent' event: that event finds this record.
            this.records.set(message.id, {
              id: message.id,
              firstSendAt: at,
              attempts: [],
              failedAttempts: 0,
              deliveredAt: at,
            });
          } else if (record.deliveredAt === undefined) record.deliveredAt = at;
        },
        {
          onReply: (delivered, replyId) => {
            if (sender.handleReply(delivered, replyId)) return true;
            this.counts.messageDeliveries++;
            return false;
          },
          onError: (error) => {
            // Failed acknowledgements and gateway frames are not deliveries; anything else is one that did not open.
            if (!/^(acknowledgement not sent|gateway)/.test(error.message)) this.counts.unreadable++;
            this.counts.errors.push(`receive: ${error.message}`);
          },
        },
      );
      this.#members.push({ client, keys, sender });
      this.#closers.push(() => {
        sender.close();
        subscription.close();
      });
      await subscription.opened;
    }
  }

  /** Starts every client's steady sending; `stopSending` ends it. */
  startSending(): void {
    const stop = new AbortController();
    this.#sending = stop;
    const intervalMs = 1000 / this.#settings.ratePerClient;
    const members = this.#members;
    this.#loops = members.map(async (member, index) => {
      const recipient = (members[(index + 1) % members.length] as (typeof members)[number]).keys;
      let next = this.#now() + (intervalMs * index) / members.length;
      while (!stop.signal.aborted) {
        const wait = next - this.#now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (stop.signal.aborted) return;
        next += intervalMs;
        void this.#sendOne(member.sender, recipient.publicKey);
      }
    });
  }

  async stopSending(): Promise<void> {
    this.#sending?.abort();
    await Promise.all(this.#loops);
  }

  /** Resolves once every sent message is acknowledged or given up, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.all(this.#outcomes), new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  }

  /** Waits until every acknowledged message has been delivered too (it should have been), at most `timeoutMs`. */
  async deliveriesCaughtUp(timeoutMs: number): Promise<void> {
    const until = this.#now() + timeoutMs;
    const behind = () => [...this.records.values()].some((r) => r.deliveredAt === undefined && r.refused === undefined);
    while (behind() && this.#now() < until) await new Promise((resolve) => setTimeout(resolve, 200));
  }

  close(): void {
    for (const close of this.#closers) close();
  }

  async #sendOne(sender: AcknowledgedSender, recipient: Uint8Array): Promise<void> {
    const firstSendAt = this.#now();
    try {
      const { outcome } = await sender.send(recipient, new TextEncoder().encode(`chaos ${firstSendAt}`));
      this.#outcomes.push(outcome);
    } catch (error) {
      const id = `refused-${this.records.size}`;
      this.records.set(id, {
        id,
        firstSendAt,
        attempts: [],
        failedAttempts: 1,
        refused: (error as Error).message.slice(0, 200),
      });
    }
  }

  #onEvent(event: DeliveryEvent): void {
    const at = this.#now();
    let record = this.records.get(event.messageId);
    if (!record) {
      // The first 'sent' event, once the gateway took the first attempt (before send() resolves).
      record = { id: event.messageId, firstSendAt: at, attempts: [], failedAttempts: 0 };
      this.records.set(event.messageId, record);
    }
    switch (event.type) {
      case 'sent':
        record.attempts.push({ at, route: event.route });
        break;
      case 'send_failed':
        record.failedAttempts++;
        break;
      case 'acknowledged':
        record.ackedAt = at;
        record.ackedAfterAttempts = event.attempts;
        break;
      case 'expired':
        record.expiredAt = at;
        break;
      case 'retransmitting':
        break;
    }
  }
}
