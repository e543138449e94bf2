import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { type ReplySecret, sphinx } from '@mixlab/packet';
import { ManualClock } from '@mixlab/runtime';
import { EmptyLayerError } from '@mixlab/topology';
import {
  AcknowledgedSender,
  type AcknowledgingClient,
  ackTimeoutForRoundTrip,
  DEFAULT_ACK_TIMEOUT_MS,
  type DeliveryEvent,
} from './acknowledged-sender.ts';
import { GatewayError } from './gateway-client.ts';
import { encodeAcknowledgement, newMessageId } from './message.ts';
import type { SendOptions, SendReceipt } from './mixnet-client.ts';

const replies = sphinx.replies!;

/**
 * A client whose sends are recorded, each with a real one-hop Sphinx reply block; the
 * test plays the recipient by answering a recorded send through its block.
 */
class RecordingClient implements AcknowledgingClient {
  readonly sends: { messageId: string; options: SendOptions; block: Uint8Array }[] = [];
  /** The expected round trip each receipt reports, as MixnetClient computes it from the routes. */
  roundTripMs: number | undefined;
  /** Errors the next sends throw, one each, before sends succeed again. */
  readonly failures: Error[] = [];
  readonly #hop: KeyPair;
  readonly #self: KeyPair;

  constructor(hop: KeyPair, self: KeyPair) {
    this.#hop = hop;
    this.#self = self;
  }

  async replyFormat() {
    return replies;
  }

  async send(_recipient: Uint8Array, _body: Uint8Array, options: SendOptions = {}): Promise<SendReceipt> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    const { block, secret } = replies.createReplyBlock([{ id: 'mix-1', publicKey: this.#hop.publicKey }], {
      gateway: 'gateway-1',
      recipient: this.#self.publicKey,
    });
    const messageId = options.messageId ?? newMessageId();
    this.sends.push({ messageId, options, block });
    const receipt = { messageId, route: ['mix-1'], replySecret: secret satisfies ReplySecret };
    return this.roundTripMs === undefined ? receipt : { ...receipt, expectedRoundTripMs: this.roundTripMs };
  }

  /** What the sender's mailbox receives when the recipient acknowledges send `index`. */
  acknowledgement(index: number, messageId = this.sends[index]?.messageId as string): Uint8Array {
    const { packet } = replies.wrapReply(this.sends[index]?.block as Uint8Array, encodeAcknowledgement(messageId));
    const peeled = sphinx.peel(packet, this.#hop);
    assert.equal(peeled.kind, 'deliver');
    return peeled.kind === 'deliver' ? peeled.payload : new Uint8Array();
  }
}

const settledSoon = () => new Promise((resolve) => setImmediate(resolve));

/** What MixnetClient.receive hands to onReply: the delivery, and the reply id it would carry. */
const reply = (sender: AcknowledgedSender, delivered: Uint8Array) =>
  sender.handleReply(delivered, replies.replyId(delivered) as Uint8Array);

describe('AcknowledgedSender', () => {
  let self: KeyPair;
  let hop: KeyPair;
  const recipient = new Uint8Array(32).fill(7);
  const body = new TextEncoder().encode('hello');

  before(async () => {
    await cryptoReady();
    self = generateKeyPair();
    hop = generateKeyPair();
  });

  function setUp(maxAttempts = 3) {
    const clock = new ManualClock();
    const client = new RecordingClient(hop, self);
    const events: DeliveryEvent[] = [];
    const errors: Error[] = [];
    const sender = new AcknowledgedSender(client, self, {
      ackTimeoutMs: 1000,
      maxAttempts,
      clock,
      onEvent: (event) => events.push(event),
      onError: (error) => errors.push(error),
    });
    return { clock, client, events, errors, sender };
  }

  it('asks for a reply block to its own keys and settles acknowledged when the ack comes back', async () => {
    const { clock, client, events, sender } = setUp();
    const sent = await sender.send(recipient, body);
    assert.equal(client.sends[0]?.options.replyTo, self);
    clock.advance(400);
    reply(sender, client.acknowledgement(0));
    assert.equal(await sent.outcome, 'acknowledged');
    assert.equal(sender.outstanding, 0);
    assert.deepEqual(
      events.map((e) => e.type),
      ['sent', 'acknowledged'],
    );
    assert.deepEqual(events[1], { type: 'acknowledged', messageId: sent.messageId, attempts: 1, afterMs: 400 });
    clock.advance(10_000);
    assert.equal(client.sends.length, 1, 'no retransmission after the ack');
  });

  it('retransmits with the same message id after each timeout, and accepts the ack of any attempt', async () => {
    const { clock, client, events, sender } = setUp();
    const sent = await sender.send(recipient, body);
    clock.advance(999);
    assert.equal(client.sends.length, 1);
    clock.advance(1);
    await settledSoon();
    assert.equal(client.sends.length, 2);
    assert.equal(client.sends[1]?.messageId, sent.messageId);
    assert.equal(client.sends[1]?.options.messageId, sent.messageId);
    // The first attempt's acknowledgement arrives late: it still counts.
    reply(sender, client.acknowledgement(0));
    assert.equal(await sent.outcome, 'acknowledged');
    assert.deepEqual(
      events.map((e) => e.type),
      ['sent', 'retransmitting', 'sent', 'acknowledged'],
    );
    // A second acknowledgement of the same message is ignored.
    reply(sender, client.acknowledgement(1));
    await settledSoon();
    assert.equal(events.length, 4);
  });

  it('gives up after maxAttempts sends, and a send that fails is retried at the next timeout', async () => {
    const { clock, client, events, sender } = setUp(3);
    const sent = await sender.send(recipient, body);
    client.failures.push(new Error('gateway refused the packet'));
    clock.advance(1000);
    await settledSoon();
    clock.advance(1000);
    await settledSoon();
    clock.advance(1000);
    assert.equal(await sent.outcome, 'expired');
    assert.deepEqual(
      events.map((e) => e.type),
      ['sent', 'retransmitting', 'send_failed', 'retransmitting', 'sent', 'expired'],
    );
    assert.deepEqual(events.at(-1), { type: 'expired', messageId: sent.messageId, attempts: 3 });
    assert.equal(client.sends.length, 2);
    assert.equal(clock.pendingTimers, 0);
  });

  /** What undici throws when nothing listens on the gateway's port. */
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8080'), { code: 'ECONNREFUSED' });

  it('takes a first send that fails with "layer k has no node" or ECONNREFUSED for a lost packet, and retries at the timeout', async () => {
    const { clock, client, events, sender } = setUp(3);
    client.failures.push(new EmptyLayerError(2), refused());
    const sent = await sender.send(recipient, body);
    assert.deepEqual(sent.route, []);
    assert.equal(client.sends.length, 0);
    clock.advance(999);
    await settledSoon();
    assert.equal(events.length, 1);
    clock.advance(1);
    await settledSoon();
    clock.advance(1000);
    await settledSoon();
    assert.equal(client.sends.length, 1, 'the third attempt went out');
    assert.equal(client.sends[0]?.messageId, sent.messageId, 'under the id the failed attempts had');
    reply(sender, client.acknowledgement(0));
    assert.equal(await sent.outcome, 'acknowledged');
    assert.deepEqual(
      events.map((e) => (e.type === 'send_failed' ? `${e.type}: ${e.reason}` : e.type)),
      [
        'send_failed: layer 2 has no node: the network cannot carry traffic yet',
        'retransmitting',
        'send_failed: connect ECONNREFUSED 127.0.0.1:8080',
        'retransmitting',
        'sent',
        'acknowledged',
      ],
    );
    assert.deepEqual(events.at(-1), { type: 'acknowledged', messageId: sent.messageId, attempts: 3, afterMs: 2000 });
  });

  it('expires a message whose every attempt failed to go out, after the last timeout', async () => {
    const { clock, client, events, sender } = setUp(2);
    client.failures.push(refused(), refused());
    const sent = await sender.send(recipient, body);
    clock.advance(1000);
    await settledSoon();
    clock.advance(1000);
    assert.equal(await sent.outcome, 'expired');
    assert.deepEqual(
      events.map((e) => e.type),
      ['send_failed', 'retransmitting', 'send_failed', 'expired'],
    );
    assert.equal(clock.pendingTimers, 0);
  });

  it('throws a first failure that a retry cannot mend, and a transient one when there is no second attempt', async () => {
    const { client, sender } = setUp(3);
    client.failures.push(new Error('cannot wrap the message: too long'));
    await assert.rejects(sender.send(recipient, body), /cannot wrap/);
    client.failures.push(new GatewayError('POST /v1/packets', 400, '{"error":"packets_rejected","message":"no"}'));
    await assert.rejects(sender.send(recipient, body), /400 packets_rejected/);
    assert.equal(sender.outstanding, 0);
    const once = setUp(1);
    once.client.failures.push(refused());
    await assert.rejects(once.sender.send(recipient, body), /ECONNREFUSED/);
  });

  it("waits the gateway's Retry-After on 429 and 503 instead of the ack timeout", async () => {
    const { clock, client, events, sender } = setUp(3);
    const busy = (status: number, retryAfterMs: number) =>
      new GatewayError('POST /v1/packets', status, '{"error":"rate_limited","message":"slow down"}', retryAfterMs);
    client.failures.push(busy(429, 300));
    const sent = await sender.send(recipient, body);
    clock.advance(299);
    await settledSoon();
    assert.equal(events.length, 1);
    client.failures.push(busy(503, 2500));
    clock.advance(1);
    await settledSoon();
    assert.deepEqual(
      events.map((e) => e.type),
      ['send_failed', 'retransmitting', 'send_failed'],
    );
    clock.advance(2499);
    await settledSoon();
    assert.equal(client.sends.length, 0, 'not before the second Retry-After');
    clock.advance(1);
    await settledSoon();
    assert.equal(client.sends.length, 1);
    reply(sender, client.acknowledgement(0));
    assert.equal(await sent.outcome, 'acknowledged');
  });

  it('reports a reply that acknowledges another message, or was altered, as an error', async () => {
    const { client, errors, sender } = setUp();
    const sent = await sender.send(recipient, body);
    reply(sender, client.acknowledgement(0, newMessageId()));
    const altered = client.acknowledgement(0);
    altered[100] = (altered[100] as number) ^ 1;
    reply(sender, altered);
    await settledSoon();
    assert.equal(errors.length, 2);
    assert.match(errors[0]?.message ?? '', /does not acknowledge its message/);
    assert.match(errors[1]?.message ?? '', /tagged|altered/);
    sender.close();
    assert.equal(await sent.outcome, 'cancelled');
  });

  it('claims only deliveries behind its own reply ids, late ones included, and leaves the rest to be opened', async () => {
    const { client, sender } = setUp();
    const sent = await sender.send(recipient, body);
    const message = new Uint8Array(sphinx.deliveryPayloadBytes).fill(9);
    assert.equal(reply(sender, message), false, 'a message is not a reply');
    assert.equal(reply(sender, client.acknowledgement(0)), true);
    assert.equal(await sent.outcome, 'acknowledged');
    assert.equal(reply(sender, client.acknowledgement(0)), true, 'a late copy is still known as a reply');
    assert.equal(reply(sender, message), false);
  });

  it('seals no send time unless asked to reveal it', async () => {
    const { client, sender } = setUp();
    await sender.send(recipient, body);
    assert.equal(client.sends[0]?.options.sentAt, undefined);
    const revealing = new AcknowledgedSender(client, self, {
      ackTimeoutMs: 1000,
      maxAttempts: 1,
      clock: new ManualClock(),
      revealSendTime: true,
      now: () => 1_700_000_000_000,
    });
    await revealing.send(recipient, body);
    assert.equal(client.sends[1]?.options.sentAt, 1_700_000_000_000);
    sender.close();
    revealing.close();
  });

  it("times each attempt out after its route's expected round trip when no timeout is set", async () => {
    const clock = new ManualClock();
    const client = new RecordingClient(hop, self);
    const events: DeliveryEvent[] = [];
    const sender = new AcknowledgedSender(client, self, { maxAttempts: 3, clock, onEvent: (e) => events.push(e) });
    client.roundTripMs = 40_000; // a pool cascade: longer than the old fixed 20 s
    const sent = await sender.send(recipient, body);
    assert.equal(ackTimeoutForRoundTrip(40_000), 82_000, 'twice the mean and 2 s');
    clock.advance(81_999);
    await settledSoon();
    assert.equal(client.sends.length, 1, 'no retransmission before the route timeout');
    client.roundTripMs = 3_000; // the next attempt's routes are quicker
    clock.advance(1);
    await settledSoon();
    assert.equal(client.sends.length, 2);
    clock.advance(ackTimeoutForRoundTrip(3_000) - 1);
    await settledSoon();
    assert.equal(client.sends.length, 2);
    clock.advance(1);
    await settledSoon();
    assert.equal(client.sends.length, 3);
    assert.deepEqual(
      events.filter((e) => e.type === 'retransmitting').map((e) => e.type === 'retransmitting' && e.waitedMs),
      [82_000, 8_000],
    );
    client.roundTripMs = undefined; // a node that published no strategy: the default
    const fallback = await sender.send(recipient, body);
    clock.advance(DEFAULT_ACK_TIMEOUT_MS - 1);
    await settledSoon();
    assert.equal(client.sends.length, 4);
    clock.advance(1);
    await settledSoon();
    assert.equal(client.sends.length, 5);
    sender.close();
    assert.equal(await sent.outcome, 'expired', 'its third attempt timed out meanwhile');
    assert.equal(await fallback.outcome, 'cancelled');
    assert.equal(ackTimeoutForRoundTrip(100), 5_000, 'never below MIN_ACK_TIMEOUT_MS');
  });

  it('refuses nonsense options', () => {
    const client = new RecordingClient(hop, self);
    assert.throws(() => new AcknowledgedSender(client, self, { ackTimeoutMs: 0, maxAttempts: 1 }), /ackTimeoutMs/);
    assert.throws(() => new AcknowledgedSender(client, self, { ackTimeoutMs: 10, maxAttempts: 0 }), /maxAttempts/);
  });
});
