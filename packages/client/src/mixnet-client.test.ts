/**
 * MixnetClient.receive against a fake gateway: a real fastify server in this process, over
 * TLS with the gateway's identity key, with the gateway's routes a receiver uses (info, the
 * signed topology, sessions, packet submission, the mailbox WebSocket).
 * Deliveries are what an exit hands over: a real one-hop Sphinx packet, peeled and padded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import websocket, { type WebSocket } from '@fastify/websocket';
import {
  cryptoReady,
  generateKeyPair,
  generateSigningKeyPair,
  type KeyPair,
  randomBytes,
  seal,
  toHex,
} from '@mixlab/crypto';
import type { AckFrame, ServerFrame, SubmitRequest } from '@mixlab/gateway-api';
import { decodeDelivery, encodeDelivery, type ReplySecret, sphinx } from '@mixlab/packet';
import { type Clock, exponentialDelay, ManualClock, seededRandom } from '@mixlab/runtime';
import { tlsServerOptions } from '@mixlab/service-kit/tls-identity';
import { signTopology } from '@mixlab/topology';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { decodeAcknowledgement, type Message, newMessageId, sealMessage } from './message.ts';
import {
  type ConnectionEvent,
  DEFAULT_ACK_DELAY_MEAN_MS,
  DEFAULT_RECONNECT,
  expectedRoundTripMs,
  MixnetClient,
  type ReceivedMessage,
  type ReceiveOptions,
  reconnectDelayMs,
} from './mixnet-client.ts';

const GATEWAY_ID = 'gateway-1';
await cryptoReady();
/** The directory that signs the fake gateway's topology, and the gateway's identity in it. */
const directory = generateSigningKeyPair();
const DIRECTORY_KEY = toHex(directory.publicKey);
const gatewayIdentity = generateSigningKeyPair();

/** A signed topology of one node and this gateway, with its identity key, valid for an hour. */
function signedTopology(): ReturnType<typeof signTopology> {
  const now = Date.now();
  const mix = {
    id: 'mix-1',
    layer: 1,
    url: 'http://mix-1:8080',
    identityKey: 'aa'.repeat(32),
    publicKey: 'bb'.repeat(32),
  };
  return signTopology(
    {
      version: 1,
      epoch: 1,
      validFrom: now - 60_000,
      validUntil: now + 3_600_000,
      layers: [[mix]],
      gateways: [{ id: GATEWAY_ID, url: 'http://gateway:8081', identityKey: toHex(gatewayIdentity.publicKey) }],
    },
    directory.secretKey,
  );
}

class FakeGateway {
  readonly app: FastifyInstance;
  readonly sockets: WebSocket[] = [];
  readonly acks: AckFrame[] = [];
  readonly submitted: SubmitRequest['packets'][number][] = [];
  /** Bearer tokens it handed out, by token: the address each opens. */
  readonly #sessions = new Map<string, string>();
  #deliveries = 0;

  constructor() {
    const identity = { publicKey: gatewayIdentity.publicKey, privateKey: gatewayIdentity.secretKey };
    this.app = Fastify({ https: tlsServerOptions(identity, GATEWAY_ID) }) as unknown as FastifyInstance;
  }

  /** Listens on `port` (any free one by default): a restarted gateway takes its old port again. */
  async start(port = 0): Promise<string> {
    await this.app.register(websocket);
    this.app.get('/v1/gateway', async () => ({ gatewayId: GATEWAY_ID, packetFormat: 'sphinx' }));
    this.app.get('/v1/topology', async () => signedTopology());
    this.app.post<{ Body: { address: string } }>('/v1/sessions', async (request, reply) => {
      const token = randomBytes(32);
      this.#sessions.set(toHex(token), request.body.address);
      const sealedToken = Buffer.from(seal(token, Buffer.from(request.body.address, 'hex'))).toString('base64');
      return reply.code(201).send({ sealedToken, expiresAt: Date.now() + 600_000 });
    });
    this.app.post<{ Body: SubmitRequest }>('/v1/packets', async (request, reply) => {
      this.submitted.push(...request.body.packets);
      return reply.code(202).send({ accepted: request.body.packets.length, rejected: [] });
    });
    const session = async (request: { headers: { authorization?: string }; params: unknown }, reply: FastifyReply) => {
      const token = /^Bearer ([0-9a-f]{64})$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
      if (this.#sessions.get(token) !== (request.params as { address: string }).address) {
        return reply.code(401).send({ error: 'session_expired', message: 'no such session' });
      }
    };
    this.app.get('/v1/mailboxes/:address/ws', { websocket: true, preHandler: session }, (socket) => {
      this.sockets.push(socket);
      socket.on('message', (data: Buffer) => this.acks.push(JSON.parse(data.toString('utf8')) as AckFrame));
      socket.on('close', () => this.sockets.splice(this.sockets.indexOf(socket), 1));
    });
    return this.app.listen({ host: '127.0.0.1', port });
  }

  /** Pushes one delivery to every connected receiver; returns its mailbox id. */
  push(payload: Uint8Array): string {
    const id = (++this.#deliveries).toString(16).padStart(32, '0');
    const frame: ServerFrame = {
      type: 'message',
      message: { id, payload: Buffer.from(payload).toString('base64'), receivedAt: Date.now() },
    };
    for (const socket of this.sockets) socket.send(JSON.stringify(frame));
    return id;
  }

  /** Pushes deliveries to every connected receiver in one write (they arrive together); returns their ids. */
  pushTogether(payloads: readonly Uint8Array[]): string[] {
    const connections = this.sockets.map(
      (socket) => (socket as unknown as { _socket: import('node:net').Socket })._socket,
    );
    for (const connection of connections) connection.cork();
    const ids = payloads.map((payload) => this.push(payload));
    for (const connection of connections) connection.uncork();
    return ids;
  }

  ackedIds(): string[] {
    return this.acks.flatMap((ack) => ack.ids);
  }
}

/** Waits (in real time) for `condition`, which the socket and HTTP round trips make true. */
async function until(what: string, condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A clock that records every delay it is asked to schedule. */
function recordingClock(): { clock: Clock; manual: ManualClock; delays: number[] } {
  const manual = new ManualClock();
  const delays: number[] = [];
  return {
    manual,
    delays,
    clock: {
      now: () => manual.now(),
      schedule: (delayMs, fn) => {
        delays.push(delayMs);
        return manual.schedule(delayMs, fn);
      },
    },
  };
}

describe('MixnetClient.receive', () => {
  let gateway: FakeGateway;
  let url: string;
  let hop: KeyPair;
  let recipient: KeyPair;
  let senderKeys: KeyPair;
  const route = () => [{ id: 'mix-1', publicKey: hop.publicKey }];

  before(async () => {
    await cryptoReady();
    hop = generateKeyPair();
    recipient = generateKeyPair();
    senderKeys = generateKeyPair();
    gateway = new FakeGateway();
    url = await gateway.start();
  });

  after(async () => {
    await gateway.app.close();
  });

  /** What the exit hands the gateway for a packet: peeled by the one hop, padded to the one delivery size. */
  function exitDelivery(packet: Uint8Array): Uint8Array {
    const peeled = sphinx.peel(packet, hop);
    assert.equal(peeled.kind, 'deliver');
    if (peeled.kind !== 'deliver') throw new Error('not a delivery');
    const frame = encodeDelivery(
      { recipient: peeled.destination.recipient, payload: peeled.payload },
      sphinx.deliveryPayloadBytes,
    );
    return decodeDelivery(frame).payload;
  }

  /** A message to `recipient` as a sender wraps it (padded to the capacity) and the exit delivers it. */
  function deliveryOf(message: Message, to = recipient): Uint8Array {
    const destination = { gateway: GATEWAY_ID, recipient: to.publicKey };
    const sealed = sealMessage(message, to.publicKey, sphinx.payloadCapacity(destination));
    return exitDelivery(sphinx.wrap(route(), destination, sealed));
  }

  function withReplyBlock(body: string): { message: Message; secret: ReplySecret } {
    const { block, secret } = sphinx.replies.createReplyBlock(route(), {
      gateway: GATEWAY_ID,
      recipient: senderKeys.publicKey,
    });
    return { message: { id: newMessageId(), body: new TextEncoder().encode(body), replyBlock: block }, secret };
  }

  async function listen(client: MixnetClient, options: ReceiveOptions = {}) {
    const received: ReceivedMessage[] = [];
    const loops: Message[] = [];
    const errors: Error[] = [];
    const known = new Set(gateway.sockets);
    const subscription = client.receive(recipient, (message) => void received.push(message), {
      onError: (error) => errors.push(error),
      onLoop: (message) => loops.push(message),
      ...options,
    });
    await subscription.opened;
    await until('the gateway to see the socket', () => gateway.sockets.some((socket) => !known.has(socket)));
    return { subscription, received, loops, errors };
  }

  it('hands a retransmitted message over once, acknowledges every delivery, and reads padded deliveries', async () => {
    const acksBefore = gateway.acks.length;
    const idsBefore = gateway.ackedIds().length;
    const client = new MixnetClient(url, { directoryKey: DIRECTORY_KEY, clock: new ManualClock() });
    const { subscription, received, loops, errors } = await listen(client);
    try {
      const message = { id: newMessageId(), body: new TextEncoder().encode('once') };
      const delivery = deliveryOf(message);
      assert.equal(delivery.length, sphinx.deliveryPayloadBytes, 'the exit padded it');
      const ids = [
        gateway.push(delivery),
        gateway.push(deliveryOf(message)), // a retransmission: same id, another packet
        gateway.push(deliveryOf({ id: newMessageId(), body: new Uint8Array(4), kind: 'loop' })),
        gateway.push(randomBytes(sphinx.deliveryPayloadBytes)), // not for us: an error, still removed
      ];
      await until('every delivery to be acknowledged', () => gateway.ackedIds().length - idsBefore === ids.length);
      assert.deepEqual(gateway.ackedIds().slice(-ids.length).sort(), [...ids].sort());
      assert.equal(received.length, 1, errors.map(String).join('; '));
      assert.equal(received[0]?.id, message.id);
      assert.equal(new TextDecoder().decode(received[0]?.body), 'once');
      assert.equal(received[0]?.sentAt, undefined, 'no send time unless the sender revealed it');
      assert.deepEqual(received[0]?.deliveryId, ids[0]);
      assert.equal(loops.length, 1, 'loop cover goes to onLoop');
      assert.equal(errors.length, 1);
      assert.match(errors[0]?.message ?? '', /does not open with this key/);
      assert.ok(
        gateway.acks.slice(acksBefore).every((ack) => ack.latencies === undefined),
        'no latencies unless asked',
      );
    } finally {
      subscription.close();
    }
  });

  it('acknowledges through the reply block after a drawn delay, once per copy, never at once', async () => {
    const submittedBefore = gateway.submitted.length;
    const { clock, manual, delays } = recordingClock();
    const client = new MixnetClient(url, {
      directoryKey: DIRECTORY_KEY,
      clock,
      random: seededRandom(7),
      ackDelayMeanMs: 500,
    });
    const { subscription, received } = await listen(client);
    try {
      const { message, secret } = withReplyBlock('please acknowledge');
      gateway.push(deliveryOf(message));
      gateway.push(deliveryOf(message));
      await until('both acknowledgements to be scheduled', () => delays.length === 2);
      assert.equal(received.length, 1);
      const draws = seededRandom(7);
      assert.deepEqual(delays, [exponentialDelay(500, draws), exponentialDelay(500, draws)]);
      const [first, second] = [...delays].sort((a, b) => a - b) as [number, number];
      manual.advance(first - 0.001);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(gateway.submitted.length, submittedBefore, 'nothing leaves before its delay');
      manual.advance(0.001);
      await until('the first acknowledgement', () => gateway.submitted.length === submittedBefore + 1);
      manual.advance(second - first);
      await until('the second acknowledgement', () => gateway.submitted.length === submittedBefore + 2);
      for (const { firstHop, packet } of gateway.submitted.slice(submittedBefore)) {
        assert.equal(firstHop, 'mix-1');
        const reply = exitDelivery(Buffer.from(packet, 'base64'));
        assert.equal(reply.length, sphinx.deliveryPayloadBytes, 'a reply is as large as a message');
        assert.equal(decodeAcknowledgement(sphinx.replies.openReply(secret, reply)), message.id);
      }
    } finally {
      subscription.close();
    }
  });

  it('gives onReply the deliveries behind its reply ids, and opens the others', async () => {
    const client = new MixnetClient(url, { directoryKey: DIRECTORY_KEY, clock: new ManualClock() });
    const { message, secret } = withReplyBlock('x');
    const known = toHex(secret.id);
    const replies: Uint8Array[] = [];
    const received: ReceivedMessage[] = [];
    const subscription = client.receive(senderKeys, (m) => void received.push(m), {
      onReply: (delivered, replyId) => toHex(replyId) === known && replies.push(delivered) > 0,
    });
    await subscription.opened;
    try {
      const { packet } = sphinx.replies.wrapReply(message.replyBlock as Uint8Array, new Uint8Array([1, 2]));
      const idsBefore = gateway.ackedIds().length;
      gateway.push(exitDelivery(packet));
      gateway.push(deliveryOf({ id: newMessageId(), body: new Uint8Array(3) }, senderKeys));
      await until('both deliveries to be handled', () => gateway.ackedIds().length === idsBefore + 2);
      assert.equal(replies.length, 1);
      assert.deepEqual(sphinx.replies.openReply(secret, replies[0] as Uint8Array), new Uint8Array([1, 2]));
      assert.equal(received.length, 1, 'the message was not taken for a reply');
    } finally {
      subscription.close();
    }
  });

  it('acknowledges deliveries that arrive together in one frame; those with a latency in one of their own', async () => {
    const client = new MixnetClient(url, { directoryKey: DIRECTORY_KEY, clock: new ManualClock() });
    const timed = { id: newMessageId(), body: new Uint8Array(1) };
    const { subscription, errors } = await listen(client, {
      reportLatency: true,
      sendTimeOf: (message) => (message.id === timed.id ? 1_000 : undefined),
      now: () => 3_500,
    });
    try {
      const acksBefore = gateway.acks.length;
      const idsBefore = gateway.ackedIds().length;
      const ids = gateway.pushTogether([
        deliveryOf({ id: newMessageId(), body: new Uint8Array(1) }),
        deliveryOf(timed),
        deliveryOf({ id: newMessageId(), body: new Uint8Array(1) }),
        deliveryOf({ id: newMessageId(), body: new Uint8Array(1), kind: 'loop' }),
      ]);
      await until('every delivery to be acknowledged', () => gateway.ackedIds().length >= idsBefore + ids.length);
      assert.deepEqual(errors, []);
      const [untimed, withLatency, ...more] = gateway.acks.slice(acksBefore);
      assert.deepEqual(more, []);
      assert.deepEqual(untimed?.ids.toSorted(), [ids[0], ids[2], ids[3]].toSorted());
      assert.equal(untimed?.latencies, undefined);
      assert.deepEqual(withLatency, { type: 'ack', ids: [ids[1]], latencies: [2.5] });
    } finally {
      subscription.close();
    }
  });

  it(`draws acknowledgement delays from Exp(mean ${DEFAULT_ACK_DELAY_MEAN_MS} ms) by default (Kolmogorov-Smirnov, alpha 0.01)`, async () => {
    const { clock, manual, delays } = recordingClock();
    const client = new MixnetClient(url, { directoryKey: DIRECTORY_KEY, clock, random: seededRandom(2026) });
    const { subscription } = await listen(client);
    const n = 400;
    try {
      const { message } = withReplyBlock('sample');
      const delivery = deliveryOf(message);
      for (let i = 0; i < n; i++) gateway.push(delivery); // every copy is acknowledged, each after its own draw
      await until(`${n} acknowledgements to be scheduled`, () => delays.length === n, 10_000);
    } finally {
      subscription.close();
    }
    assert.equal(manual.pendingTimers, 0, 'closing dropped the acknowledgements still waiting');
    const sorted = [...delays].sort((a, b) => a - b);
    const cdf = (x: number) => 1 - Math.exp(-x / DEFAULT_ACK_DELAY_MEAN_MS);
    const d = Math.max(...sorted.map((x, i) => Math.max((i + 1) / n - cdf(x), cdf(x) - i / n)));
    const critical = 1.628 / Math.sqrt(n); // the asymptotic KS critical value at alpha = 0.01
    assert.ok(d < critical, `KS statistic ${d.toFixed(4)} >= ${critical.toFixed(4)}`);
    const mean = delays.reduce((sum, x) => sum + x, 0) / n;
    assert.ok(Math.abs(mean - DEFAULT_ACK_DELAY_MEAN_MS) < 150, `sample mean ${mean.toFixed(0)} ms`);
  });

  it('refuses a non-positive acknowledgement delay mean', () => {
    assert.throws(() => new MixnetClient(url, { ackDelayMeanMs: 0 }), /ackDelayMeanMs must be positive/);
  });
});

describe('MixnetClient.receive across gateway restarts', () => {
  let recipient: KeyPair;
  let hop: KeyPair;

  before(async () => {
    await cryptoReady();
    recipient = generateKeyPair();
    hop = generateKeyPair();
  });

  /** A client on a manual clock whose backoff draws the test replays from the same seed. */
  function reconnecting(url: string, seed: number, options: ReceiveOptions = {}) {
    const clock = new ManualClock();
    const client = new MixnetClient(url, { directoryKey: DIRECTORY_KEY, clock, random: seededRandom(seed) });
    const events: ConnectionEvent[] = [];
    const received: ReceivedMessage[] = [];
    const subscription = client.receive(recipient, (message) => void received.push(message), {
      onConnection: (event) => events.push(event),
      ...options,
    });
    return { clock, events, received, subscription };
  }

  const expectedDelays = (seed: number, count: number, reconnect = DEFAULT_RECONNECT) => {
    const draws = seededRandom(seed);
    return Array.from({ length: count }, (_, i) => reconnectDelayMs(i + 1, reconnect, draws));
  };

  it('reconnects with backoff after the gateway restarts, says why it lost it, and receives again', async () => {
    const first = new FakeGateway();
    const url = await first.start();
    const port = Number(new URL(url).port);
    const { clock, events, received, subscription } = reconnecting(url, 11);
    await subscription.opened;
    const delays = expectedDelays(11, 2);
    try {
      await first.app.close();
      await until('the loss to be reported', () => events.length === 1);
      assert.deepEqual(events[0], {
        type: 'lost',
        reason:
          `cannot reach the gateway at ${url} (ECONNREFUSED: nothing listens there): is it running ` +
          '(docker compose ps client-gateway), and is --gateway or MIXLAB_GATEWAY its published URL?',
        failures: 1,
        retryInMs: delays[0],
      });
      assert.ok((delays[0] as number) >= 250 && (delays[0] as number) <= 500, 'the first wait is 250 to 500 ms');
      clock.advance((delays[0] as number) - 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(events.length, 1, 'no attempt before the drawn delay');
      clock.advance(1);
      await until('the second failure', () => events.length === 2);
      assert.deepEqual(
        { ...events[1], reason: undefined },
        { type: 'lost', reason: undefined, failures: 2, retryInMs: delays[1] },
      );
      assert.ok((delays[1] as number) >= 500 && (delays[1] as number) <= 1000, 'the wait doubled');
      const second = new FakeGateway();
      await second.start(port);
      try {
        clock.advance(delays[1] as number);
        await until('the connection to reopen', () => events.length === 3 && second.sockets.length === 1);
        assert.deepEqual(events[2], { type: 'reopened', failures: 2 });
        const destination = { gateway: GATEWAY_ID, recipient: recipient.publicKey };
        const message = { id: newMessageId(), body: new TextEncoder().encode('after the restart') };
        const sealed = sealMessage(message, recipient.publicKey, sphinx.payloadCapacity(destination));
        const peeled = sphinx.peel(sphinx.wrap([{ id: 'mix-1', publicKey: hop.publicKey }], destination, sealed), hop);
        assert.equal(peeled.kind, 'deliver');
        if (peeled.kind === 'deliver') second.push(peeled.payload);
        await until('the message', () => received.length === 1);
        assert.equal(received[0]?.id, message.id);
        await until('its acknowledgement on the new socket', () => second.acks.length === 1);
      } finally {
        subscription.close();
        await second.app.close();
      }
      await subscription.done;
      assert.equal(clock.pendingTimers, 0);
    } finally {
      subscription.close();
    }
  });

  it('gives up after maxAttempts failed connections in a row: done rejects with the reason', async () => {
    const gateway = new FakeGateway();
    const url = await gateway.start();
    const { clock, events, subscription } = reconnecting(url, 5, { reconnect: { maxAttempts: 2 } });
    await subscription.opened;
    const delays = expectedDelays(5, 2);
    await gateway.app.close();
    await until('the loss', () => events.length === 1);
    clock.advance(delays[0] as number);
    await until('the second failure', () => events.length === 2);
    clock.advance(delays[1] as number);
    await assert.rejects(subscription.done, /gave up on the gateway's mailbox connection .*ECONNREFUSED/);
    assert.deepEqual(
      events.map((event) => `${event.type} ${event.failures}`),
      ['lost 1', 'lost 2', 'gave_up 2'],
    );
    assert.equal(clock.pendingTimers, 0);
  });

  it('never reconnects when told not to, and opened rejects when the first connection fails', async () => {
    const gateway = new FakeGateway();
    const url = await gateway.start();
    await gateway.app.close();
    const { events, subscription } = reconnecting(url, 1, { reconnect: false });
    await assert.rejects(subscription.opened, /ECONNREFUSED/);
    await assert.rejects(subscription.done, /ECONNREFUSED/);
    assert.deepEqual(
      events.map((event) => event.type),
      ['gave_up'],
    );
  });

  it('draws backoff between half and all of initial × 2^(k-1), capped at maxDelayMs', () => {
    const options = { initialDelayMs: 100, maxDelayMs: 1_000, maxAttempts: Infinity };
    const low = { int: () => 0, float: () => 0 };
    const high = { int: () => 0, float: () => 1 - 2 ** -53 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((k) => reconnectDelayMs(k, options, low)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((k) => reconnectDelayMs(k, options, high)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });
});

describe('expectedRoundTripMs', () => {
  const hop = (id: string, strategy?: string) => ({
    id,
    layer: 1,
    url: 'http://x:1',
    publicKey: 'ab'.repeat(32),
    strategy,
  });
  const assumptions = { arrivalsPerSecond: 1 };

  it('adds every hop of the route out and back, and the mean acknowledgement delay', () => {
    const out = [
      hop('a', 'threshold:n=3,maxWait=1000ms'),
      hop('b', 'timed:t=500ms'),
      hop('c', 'exponential:mean=200ms'),
    ];
    const back = [hop('d', 'binomial:t=1000ms,p=0.5'), hop('e', 'pool:t=1000ms,min=5,fraction=0.5')];
    // 1000 + 250 + 200 out, 1500 + 7000 back, 1000 for the acknowledgement.
    assert.equal(expectedRoundTripMs([out, back], 1_000, assumptions), 10_950);
  });

  it('knows nothing when a node published no strategy, or one it cannot read', () => {
    assert.equal(expectedRoundTripMs([[hop('a', 'timed:t=1s'), hop('b')]], 0, assumptions), undefined);
    assert.equal(expectedRoundTripMs([[hop('a', 'quantum:q=1')]], 0, assumptions), undefined);
  });
});
