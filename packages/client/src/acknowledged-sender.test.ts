import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { type ReplySecret, sphinx } from '@mixlab/packet';
import { ManualClock } from '@mixlab/runtime';
import { AcknowledgedSender, type AcknowledgingClient, type DeliveryEvent } from './acknowledged-sender.ts';
import { encodeAcknowledgement, newMessageId } from './message.ts';
import type { SendOptions, SendReceipt } from './mixnet-client.ts';

const replies = sphinx.replies!;

/**
 * A client whose sends are recorded, each with a real one-hop Sphinx reply block; the
 * test plays the recipient by answering a recorded send through its block.
 */
class RecordingClient implements AcknowledgingClient {
  readonly sends: { messageId: string; options: SendOptions; block: Uint8Array }[] = [];
  failNext = false;
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
    if (this.failNext) {
      this.failNext = false;
      throw new Error('gateway refused the packet');
    }
    const { block, secret } = replies.createReplyBlock([{ id: 'mix-1', publicKey: this.#hop.publicKey }], {
      gateway: 'gateway-1',
      recipient: this.#self.publicKey,
    });
    const messageId = options.messageId ?? newMessageId();
    this.sends.push({ messageId, options, block });
    return { messageId, route: ['mix-1'], replySecret: secret satisfies ReplySecret };
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
    client.failNext = true;
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

  it('refuses nonsense options', () => {
    const client = new RecordingClient(hop, self);
    assert.throws(() => new AcknowledgedSender(client, self, { ackTimeoutMs: 0, maxAttempts: 1 }), /ackTimeoutMs/);
    assert.throws(() => new AcknowledgedSender(client, self, { ackTimeoutMs: 10, maxAttempts: 0 }), /maxAttempts/);
  });
});
