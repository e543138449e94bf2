import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { WebSocket } from '@fastify/websocket';
import { cryptoReady, generateKeyPair, generateSigningKeyPair, openSealed, toHex } from '@mixlab/crypto';
import { MAX_ACK_IDS, type MailboxMessage, type ServerFrame } from '@mixlab/gateway-api';
import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import { encodeDelivery, encodeFrames, onion, sphinx } from '@mixlab/packet';
import { OCTET_STREAM, QueueFullError } from '@mixlab/service-kit';
import { type SignedTopology, type Topology, TopologyCache } from '@mixlab/topology';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { buildDeliveryServer } from './delivery-server.ts';
import { Mailboxes } from './mailboxes.ts';
import { TokenBuckets } from './rate-limit.ts';
import { buildServer, type GatewayDeps } from './server.ts';
import { Sessions } from './sessions.ts';

await cryptoReady();
/** Real key pairs: a session's token is sealed to the address and only its key opens it. */
const [alice, bob, carol] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
const ALICE = toHex(alice.publicKey);
const NOT_JSON = 'frames must be JSON: {"type":"ack","ids":[...]}';
const ACK_HELP = `expected {"type":"ack","ids":[at most ${MAX_ACK_IDS} message ids],"latencies"?:[seconds]}`;
const BOB = toHex(bob.publicKey);
const CAROL = toHex(carol.publicKey);
const KEYS = new Map([alice, bob, carol].map((keys) => [toHex(keys.publicKey), keys]));
const identity = (() => {
  const keys = generateSigningKeyPair();
  return { publicKey: keys.publicKey, privateKey: keys.secretKey };
})();
const key = (byte: string) => byte.repeat(64);

const TOPOLOGY: Topology = {
  gateways: [],
  layers: [
    [
      { id: 'mix-1a', layer: 1, url: 'http://mix-1a:8080', publicKey: key('1') },
      { id: 'mix-1b', layer: 1, url: 'http://mix-1b:8080', publicKey: key('2') },
    ],
    [{ id: 'mix-2', layer: 2, url: 'http://mix-2:8080', publicKey: key('3') }],
  ],
};

/** The directory's document for TOPOLOGY. The gateway does not verify it, only passes it on. */
const SIGNED: SignedTopology = {
  document: {
    version: 1,
    epoch: 7,
    validFrom: 0,
    validUntil: Number.MAX_SAFE_INTEGER,
    layers: TOPOLOGY.layers.map((nodes) => nodes.map((node) => ({ ...node, identityKey: key('9') }))),
    gateways: [],
  },
  signature: 'ab'.repeat(64),
  directoryKey: 'cd'.repeat(32),
};

const delivery = (address: string, payload: string) =>
  encodeDelivery({ recipient: Buffer.from(address, 'hex'), payload: Buffer.from(payload) });

const metricValue = seriesValue;

/** The gateway's packets are onion's: at least its smallest packet, at most maxPacketBytes (128 here). */
const MIN_PACKET = onion.packetBytes.min;
/** A packet of the smallest size starting with `values`. */
const bytesOf = (...values: number[]) => {
  const packet = new Uint8Array(MIN_PACKET);
  packet.set(values);
  return packet;
};
const b64 = (...values: number[]) => Buffer.from(bytesOf(...values)).toString('base64');

/** A WebSocket client whose frames are queued from the moment it exists, so none is missed. */
interface Client {
  readonly ws: WebSocket;
  next(): Promise<ServerFrame>;
  readonly received: ServerFrame[];
}

describe('client gateway server', () => {
  let registry: Registry;
  let mailboxes: Mailboxes;
  let app: FastifyInstance;
  /** The delivery listener over the same mailboxes and registry. */
  let deliveryApp: FastifyInstance;
  let sends: { url: string; frames: Uint8Array[] }[];
  let failingUrls: Set<string>;
  /** While set, sends wait for it (work in flight). */
  let held: Promise<void> | undefined;
  let fetches: number;
  let directoryDown: boolean;
  let clients: WebSocket[];
  let root: string;
  let mailboxFile: string;
  let files = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mixlab-gateway-'));
  });
  after(() => rm(root, { recursive: true, force: true }));
  /** What the gateway told its wire tap, in order. */
  let tapped: { direction: 'sent' | 'received'; peer: string; bytes: number; packets: number }[];

  beforeEach(async () => {
    mailboxFile = join(root, `mailboxes-${++files}.sqlite`);
    mailboxes = Mailboxes.open(mailboxFile, {
      maxPerMailbox: 3,
      maxMailboxes: 100,
      maxBytes: 1 << 20,
      maxBytesPerMailbox: 1 << 20,
    }).mailboxes;
    sends = [];
    failingUrls = new Set();
    held = undefined;
    fetches = 0;
    directoryDown = false;
    clients = [];
    tapped = [];
    const topology = new TopologyCache(
      async () => {
        fetches++;
        if (directoryDown) throw new Error('connect ECONNREFUSED directory:8080');
        return SIGNED;
      },
      { maxAgeMs: 0, refetchAfterMs: 0 },
    );
    app = await gatewayWith(topology);
  });

  /** A gateway over `topology` that records what it sends, with a registry of its own. */
  async function gatewayWith(topology: TopologyCache, extra: Partial<GatewayDeps> = {}): Promise<FastifyInstance> {
    registry = createServiceRegistry({ node: 'gateway' });
    const metrics = gatewayMetrics(registry);
    await deliveryApp?.close();
    deliveryApp = buildDeliveryServer({ mailboxes, registry, metrics, maxPacketBytes: 64, maxPacketsPerRequest: 4 });
    await deliveryApp.ready();
    const gateway = await buildServer({
      mailboxes,
      sessions: new Sessions({ maxSessions: 1000 }),
      identity,
      topology,
      send: async (url, frames) => {
        sends.push({ url, frames: frames.map((frame) => Uint8Array.from(frame)) });
        await held;
        if (failingUrls.has(url)) throw new Error(`${url} answered 503`);
      },
      tap: {
        sent: (peer, bytes, packets) => tapped.push({ direction: 'sent', peer, bytes, packets }),
        received: (peer, bytes, packets) => tapped.push({ direction: 'received', peer, bytes, packets }),
      },
      info: { gatewayId: 'gateway-1', packetFormat: 'onion' },
      metrics,
      loops: loopMetrics(registry, 'client'),
      maxPacketBytes: 128,
      maxPacketsPerRequest: 4,
      ...extra,
    });
    await gateway.ready();
    return gateway;
  }

  afterEach(async () => {
    for (const ws of clients) ws.terminate();
    await app.close();
    await deliveryApp.close();
    mailboxes.close();
  });

  const deliver = (frames: Uint8Array[]) =>
    deliveryApp.inject({
      method: 'POST',
      url: '/v1/deliveries',
      headers: { 'content-type': OCTET_STREAM },
      payload: Buffer.from(encodeFrames(frames)),
    });
  /** The authorization header of a new session for `address`, opened with its private key. */
  const bearer = async (address: string, on = app) => {
    const response = await on.inject({ method: 'POST', url: '/v1/sessions', payload: { address } });
    assert.equal(response.statusCode, 201);
    const token = openSealed(Buffer.from(response.json().sealedToken, 'base64'), KEYS.get(address)!);
    assert.ok(token, 'the token opens with the address key');
    return { authorization: `Bearer ${toHex(token)}` };
  };
  const list = async (address: string): Promise<MailboxMessage[]> => {
    const headers = await bearer(address);
    const response = await app.inject({ method: 'GET', url: `/v1/mailboxes/${address}`, headers });
    assert.equal(response.statusCode, 200);
    return response.json().messages;
  };
  const submit = (body: unknown) => app.inject({ method: 'POST', url: '/v1/packets', payload: body as object });
  const gauge = () => metricValue(registry, 'mixlab_gateway_mailbox_messages');

  async function connect(address: string): Promise<Client> {
    const received: ServerFrame[] = [];
    const waiting: ((frame: ServerFrame) => void)[] = [];
    const ws = await app.injectWS(
      `/v1/mailboxes/${address}/ws`,
      { headers: await bearer(address) },
      {
        onInit: (socket) => {
          socket.on('message', (data: Buffer) => {
            const frame = JSON.parse(String(data)) as ServerFrame;
            const waiter = waiting.shift();
            if (waiter) waiter(frame);
            else received.push(frame);
          });
        },
      },
    );
    clients.push(ws);
    return {
      ws,
      received,
      next: () => {
        const queued = received.shift();
        if (queued) return Promise.resolve(queued);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no frame from the gateway within 2 s')), 2_000);
          waiting.push((frame) => {
            clearTimeout(timer);
            resolve(frame);
          });
        });
      },
    };
  }

  /**
   * Sends a frame and waits until the server has handled it: a round trip through a not-JSON
   * error frame, then one more event-loop turn, for the commit that acknowledgements of a turn
   * share (queued with setImmediate before ours).
   */
  async function sendAndSync(client: Client, data: string): Promise<void> {
    client.ws.send(data);
    client.ws.send('sync');
    const others: ServerFrame[] = [];
    for (;;) {
      const frame = await client.next();
      if (frame.type === 'error' && frame.reason === NOT_JSON) break;
      others.push(frame);
    }
    client.received.unshift(...others);
    await new Promise(setImmediate);
  }

  describe('deliveries and mailboxes', () => {
    it('stores delivered frames in the recipient mailbox and lists them as base64', async () => {
      const response = await deliver([delivery(ALICE, 'hello'), delivery(BOB, 'hi bob'), delivery(ALICE, 'again')]);
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), { stored: 3, refused: [] });

      const alice = await list(ALICE);
      assert.deepEqual(
        alice.map((message) => Buffer.from(message.payload, 'base64').toString()),
        ['hello', 'again'],
      );
      assert.deepEqual(alice[0]!.payload, Buffer.from('hello').toString('base64'));
      for (const message of alice) {
        assert.match(message.id, /^[0-9a-f]{32}$/);
        assert.equal(typeof message.receivedAt, 'number');
      }
      assert.deepEqual(
        (await list(BOB)).map((message) => Buffer.from(message.payload, 'base64').toString()),
        ['hi bob'],
      );
      assert.deepEqual(await list(CAROL), []);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_delivered_total', { outcome: 'stored' }), 3);
      assert.equal(await gauge(), 3);
    });

    it('acknowledging removes messages and moves the counters and gauge', async () => {
      await deliver([delivery(ALICE, 'one'), delivery(ALICE, 'two')]);
      const [one, two] = await list(ALICE);
      const response = await app.inject({
        method: 'POST',
        url: `/v1/mailboxes/${ALICE}/acks`,
        headers: await bearer(ALICE),
        payload: { ids: [one!.id, 'f'.repeat(32)] },
      });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { acknowledged: 1 });
      assert.deepEqual(await list(ALICE), [two]);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_acknowledged_total'), 1);
      assert.equal(await gauge(), 1);
    });

    it('validates and records latencies reported with an HTTP acknowledgement, as over WebSocket', async () => {
      await deliver([delivery(ALICE, 'one')]);
      const [one] = await list(ALICE);
      const url = `/v1/mailboxes/${ALICE}/acks`;
      const headers = await bearer(ALICE);
      const invalid = await app.inject({ method: 'POST', url, headers, payload: { ids: [one!.id], latencies: [-1] } });
      assert.equal(invalid.statusCode, 400);
      const valid = await app.inject({ method: 'POST', url, headers, payload: { ids: [one!.id], latencies: [0.25] } });
      assert.deepEqual(valid.json(), { acknowledged: 1 });
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_count'), 1);
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_sum'), 0.25);
    });

    it('refuses frames that are not deliveries and messages for a full mailbox, storing the rest', async () => {
      await deliver([delivery(ALICE, '1'), delivery(ALICE, '2')]);
      const response = await deliver([
        delivery(ALICE, '3'),
        new Uint8Array(32),
        delivery(ALICE, '4'),
        delivery(BOB, 'b'),
      ]);
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), {
        stored: 2,
        refused: [
          { index: 1, reason: 'delivery shorter than a recipient and a payload' },
          { index: 2, reason: 'mailbox_full' },
        ],
      });
      assert.equal((await list(ALICE)).length, 3);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_delivered_total', { outcome: 'stored' }), 4);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_delivered_total', { outcome: 'rejected' }), 1);
      assert.equal(
        await metricValue(registry, 'mixlab_gateway_messages_delivered_total', { outcome: 'mailbox_full' }),
        1,
      );
      assert.equal(await gauge(), 4);
    });

    it('answers 503 storage_failed when the commit fails, keeping and counting none of the request', async () => {
      await deliver([delivery(ALICE, 'kept')]);
      // A disk that fails, emulated by a trigger in the mailbox file.
      const other = new DatabaseSync(mailboxFile);
      other.exec(
        "CREATE TRIGGER fail BEFORE INSERT ON messages WHEN NEW.payload = CAST('lost' AS BLOB) BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
      );
      other.close();
      const response = await deliver([delivery(BOB, 'fine'), delivery(ALICE, 'lost')]);
      assert.equal(response.statusCode, 503);
      assert.deepEqual(response.json(), {
        error: 'storage_failed',
        message: 'the messages could not be stored (none of this request was kept); retry',
      });
      assert.deepEqual(await list(BOB), []);
      assert.equal((await list(ALICE)).length, 1);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_delivered_total', { outcome: 'stored' }), 1);
      assert.equal(await gauge(), 1);
    });

    it('answers 400 to a delivery body that is not whole frames, and 415 to JSON', async () => {
      const broken = await deliveryApp.inject({
        method: 'POST',
        url: '/v1/deliveries',
        headers: { 'content-type': OCTET_STREAM },
        payload: Buffer.from([0, 0, 0, 40, 1, 2]),
      });
      assert.equal(broken.statusCode, 400);
      assert.deepEqual(broken.json(), {
        error: 'invalid_request',
        message: 'body is not a sequence of frames: frame 0 is truncated',
      });
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_delivered_total', { outcome: 'rejected' }), 1);
      const json = await deliveryApp.inject({ method: 'POST', url: '/v1/deliveries', payload: { frames: [] } });
      assert.equal(json.statusCode, 415);
    });

    for (const [name, address] of [
      ['uppercase', 'A1'.repeat(32)],
      ['63 characters', 'a'.repeat(63)],
      ['not hex', 'g'.repeat(64)],
    ] as const) {
      it(`answers 400 to a mailbox address that is ${name}`, async () => {
        const get = await app.inject({ method: 'GET', url: `/v1/mailboxes/${address}` });
        assert.equal(get.statusCode, 400);
        assert.match(get.json().message, /^params\/address must match pattern/);
        const ack = await app.inject({ method: 'POST', url: `/v1/mailboxes/${address}/acks`, payload: { ids: [] } });
        assert.equal(ack.statusCode, 400);
        await assert.rejects(app.injectWS(`/v1/mailboxes/${address}/ws`), /Unexpected server response: 400/);
      });
    }

    it('answers 400 to acks that are not message ids', async () => {
      const response = await app.inject({
        method: 'POST',
        url: `/v1/mailboxes/${ALICE}/acks`,
        headers: await bearer(ALICE),
        payload: { ids: ['not-an-id'] },
      });
      assert.equal(response.statusCode, 400);
      assert.match(response.json().message, /^body\/ids\/0 must match pattern/);
    });
  });

  describe('mailbox sessions', () => {
    const sessionOutcome = (outcome: string) => metricValue(registry, 'mixlab_gateway_sessions_total', { outcome });
    const refusal = (response: { statusCode: number; json(): { error: string } }) =>
      `${response.statusCode} ${response.json().error}`;

    it('seals a 32-byte token to the address: its key opens it, no other key does', async () => {
      const response = await app.inject({ method: 'POST', url: '/v1/sessions', payload: { address: ALICE } });
      assert.equal(response.statusCode, 201);
      const { sealedToken, expiresAt } = response.json();
      const sealed = Buffer.from(sealedToken, 'base64');
      assert.equal(openSealed(sealed, alice)?.length, 32);
      assert.equal(openSealed(sealed, bob), null);
      assert.ok(expiresAt > Date.now() + 9 * 60_000 && expiresAt <= Date.now() + 10 * 60_000);
      assert.equal(await sessionOutcome('opened'), 1);
      assert.equal(await metricValue(registry, 'mixlab_gateway_sessions'), 1);
    });

    it("refuses reading, acknowledging and subscribing to a mailbox without a session, or with another address's", async () => {
      await deliver([delivery(ALICE, 'for alice only')]);
      const [message] = await list(ALICE);
      const acks = { ids: [message!.id] };
      const read = (headers: Record<string, string>) =>
        app.inject({ method: 'GET', url: `/v1/mailboxes/${ALICE}`, headers });
      const ack = (headers: Record<string, string>) =>
        app.inject({ method: 'POST', url: `/v1/mailboxes/${ALICE}/acks`, headers, payload: acks });
      const subscribe = (headers: Record<string, string>) =>
        app.injectWS(`/v1/mailboxes/${ALICE}/ws`, { headers }).then((ws) => {
          clients.push(ws);
          return ws;
        });

      const malformed: Record<string, string>[] = [
        {},
        { authorization: 'Bearer not-a-token' },
        { authorization: ALICE },
      ];
      for (const headers of malformed) {
        assert.equal(refusal(await read(headers)), '401 session_required');
        assert.equal(refusal(await ack(headers)), '401 session_required');
        await assert.rejects(subscribe(headers), /Unexpected server response: 401/);
      }
      // A token for Bob (opened with Bob's key) is a session, but not for Alice's mailbox.
      const bobs = await bearer(BOB);
      assert.equal(refusal(await read(bobs)), '403 wrong_mailbox');
      assert.equal(refusal(await ack(bobs)), '403 wrong_mailbox');
      await assert.rejects(subscribe(bobs), /Unexpected server response: 403/);
      // A refused upgrade closes its connection: it could carry no further HTTP request.
      const refusedUpgrade = await app.inject({
        method: 'GET',
        url: `/v1/mailboxes/${ALICE}/ws`,
        headers: { ...bobs, connection: 'upgrade', upgrade: 'websocket' },
      });
      assert.equal(refusedUpgrade.headers.connection, 'close');
      assert.equal((await read(bobs)).headers.connection, 'keep-alive', 'a plain refusal keeps it');
      // A guessed token is no session.
      const guessed = { authorization: `Bearer ${'ab'.repeat(32)}` };
      assert.equal(refusal(await read(guessed)), '401 session_expired');
      assert.equal(
        (await read(bobs)).json().message,
        'this session is for another address',
        'the refusal says what is wrong',
      );

      assert.equal((await list(ALICE)).length, 1, 'nothing was acknowledged');
      assert.equal(await sessionOutcome('session_required'), 9);
      assert.equal(await sessionOutcome('wrong_mailbox'), 6);
      assert.equal(await sessionOutcome('session_expired'), 1);
      const owner = await ack(await bearer(ALICE));
      assert.deepEqual([owner.statusCode, owner.json()], [200, { acknowledged: 1 }], 'the key holder can');
    });

    it('refuses an expired token, and drops the oldest session when the table is full', async () => {
      let now = 1_000_000;
      await app.close();
      const sessions = new Sessions({ maxSessions: 2, ttlMs: 60_000, now: () => now });
      app = await gatewayWith(new TopologyCache(async () => SIGNED, { maxAgeMs: 60_000, refetchAfterMs: 60_000 }), {
        sessions,
      });
      const read = async (headers: Record<string, string>) =>
        (await app.inject({ method: 'GET', url: `/v1/mailboxes/${ALICE}`, headers })).statusCode;
      const first = await bearer(ALICE);
      now += 59_999;
      assert.equal(await read(first), 200);
      now += 1;
      assert.equal(await read(first), 401);
      assert.equal(
        (await app.inject({ method: 'GET', url: `/v1/mailboxes/${ALICE}`, headers: first })).json().error,
        'session_expired',
      );
      // Full: a third session evicts the oldest live one, whose client then renews.
      const [a, b] = [await bearer(ALICE), await bearer(BOB)];
      await bearer(CAROL);
      assert.equal(sessions.size, 2);
      assert.equal(await read(a), 401);
      assert.equal((await app.inject({ method: 'GET', url: `/v1/mailboxes/${BOB}`, headers: b })).statusCode, 200);
      assert.equal(await sessionOutcome('evicted'), 1);
    });

    it('answers 400 to a session request for something that is not an address', async () => {
      for (const payload of [{}, { address: 'A1'.repeat(32) }, { address: ALICE, extra: 1 }]) {
        const response = await app.inject({ method: 'POST', url: '/v1/sessions', payload });
        assert.equal(refusal(response), '400 invalid_request');
      }
    });
  });

  describe('packet submission', () => {
    it('forwards packets to the layer-1 node each names, one request per node, in submission order', async () => {
      const response = await submit({
        packets: [
          { firstHop: 'mix-1a', packet: b64(1, 1, 1) },
          { firstHop: 'mix-1b', packet: b64(2, 2, 2) },
          { firstHop: 'mix-1a', packet: b64(3, 3, 3) },
        ],
      });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), { accepted: 3, rejected: [] });
      assert.deepEqual(
        sends.sort((a, b) => a.url.localeCompare(b.url)),
        [
          { url: 'http://mix-1a:8080/v1/packets', frames: [bytesOf(1, 1, 1), bytesOf(3, 3, 3)] },
          { url: 'http://mix-1b:8080/v1/packets', frames: [bytesOf(2, 2, 2)] },
        ],
      );
      assert.equal(await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'forwarded' }), 3);
    });

    it('rejects a packet naming a node outside layer 1 with its index and reason, and forwards the valid ones', async () => {
      const response = await submit({
        packets: [
          { firstHop: 'mix-1a', packet: b64(1, 2, 3) },
          { firstHop: 'mix-2', packet: b64(4, 5, 6) },
          { firstHop: 'nobody', packet: b64(7, 8, 9) },
          { firstHop: 'mix-1a', packet: b64(10, 11, 12) },
        ],
      });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json(), {
        accepted: 2,
        rejected: [
          { index: 1, reason: 'first hop mix-2 is not a layer-1 node of the current topology' },
          { index: 2, reason: 'first hop nobody is not a layer-1 node of the current topology' },
        ],
      });
      assert.deepEqual(sends, [
        {
          url: 'http://mix-1a:8080/v1/packets',
          frames: [bytesOf(1, 2, 3), bytesOf(10, 11, 12)],
        },
      ]);
      assert.equal(await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'forwarded' }), 2);
      assert.equal(await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'rejected' }), 2);
    });

    it('rejects the packets of a failed send with a reason; 502 when nothing got through', async () => {
      failingUrls.add('http://mix-1b:8080/v1/packets');
      const partly = await submit({
        packets: [
          { firstHop: 'mix-1b', packet: b64(1, 2, 3) },
          { firstHop: 'mix-1a', packet: b64(4, 5, 6) },
          { firstHop: 'mix-1b', packet: b64(7, 8, 9) },
        ],
      });
      assert.equal(partly.statusCode, 202);
      assert.deepEqual(partly.json(), {
        accepted: 1,
        rejected: [
          { index: 0, reason: 'layer-1 node did not accept the packet' },
          { index: 2, reason: 'layer-1 node did not accept the packet' },
        ],
      });
      const none = await submit({ packets: [{ firstHop: 'mix-1b', packet: b64(1, 2, 3) }] });
      assert.equal(none.statusCode, 502);
      assert.deepEqual(none.json(), {
        error: 'upstream_failed',
        message: 'no layer-1 node took the packets; retry shortly',
        accepted: 0,
        rejected: [{ index: 0, reason: 'layer-1 node did not accept the packet' }],
      });
      assert.equal(
        await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'forward_failed' }),
        3,
      );
      assert.equal(await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'forwarded' }), 1);
    });

    it('answers 503 and forwards nothing when the directory is unreachable', async () => {
      directoryDown = true;
      const response = await submit({ packets: [{ firstHop: 'mix-1a', packet: b64(1, 2, 3) }] });
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().error, 'directory_unreachable');
      assert.match(response.json().message, /directory is unreachable/);
      assert.deepEqual(sends, []);
    });

    it("names each first hop's id and identity key to the sender, which seals the link box to it", async () => {
      const receivers: unknown[] = [];
      await app.close();
      app = await gatewayWith(new TopologyCache(async () => SIGNED, { maxAgeMs: 60_000, refetchAfterMs: 0 }), {
        send: async (_url, _frames, receiver) => {
          receivers.push(receiver);
        },
      });
      const response = await submit({ packets: [{ firstHop: 'mix-1b', packet: b64(1, 1, 1) }] });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(receivers, [{ id: 'mix-1b', identityKey: key('9') }]);
    });

    it('looks each distinct first hop up once per request', async () => {
      const asked: string[] = [];
      class CountingTopology extends TopologyCache {
        override findListed(id: string) {
          asked.push(id);
          return super.findListed(id);
        }
      }
      await app.close();
      app = await gatewayWith(new CountingTopology(async () => SIGNED, { maxAgeMs: 60_000, refetchAfterMs: 0 }));
      const response = await submit({
        packets: [
          { firstHop: 'mix-1a', packet: b64(1, 1, 1) },
          { firstHop: 'mix-1b', packet: b64(2, 2, 2) },
          { firstHop: 'mix-1a', packet: b64(3, 3, 3) },
          { firstHop: 'mix-1b', packet: b64(4, 4, 4) },
        ],
      });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(asked, ['mix-1a', 'mix-1b']);
    });

    it('rejects a packet whose first hop could not be checked because the directory went away mid-request', async () => {
      let fetched = 0;
      const flaky = new TopologyCache(
        async () => {
          if (fetched++ > 0) throw new Error('connect ECONNREFUSED directory:8080');
          return SIGNED;
        },
        { maxAgeMs: 60_000, refetchAfterMs: 0 },
      );
      await app.close();
      app = await gatewayWith(flaky);
      // mix-1a is in the cached document; mix-9 is not, so looking it up asks the directory again.
      const partly = await submit({
        packets: [
          { firstHop: 'mix-1a', packet: b64(1, 2, 3) },
          { firstHop: 'mix-9', packet: b64(4, 5, 6) },
        ],
      });
      assert.equal(partly.statusCode, 202);
      assert.deepEqual(partly.json(), {
        accepted: 1,
        rejected: [
          { index: 1, reason: 'the directory is unreachable, so first hop mix-9 could not be checked; retry' },
        ],
      });
      const none = await submit({ packets: [{ firstHop: 'mix-9', packet: b64(7, 8, 9) }] });
      assert.equal(none.statusCode, 503);
      assert.deepEqual(none.json(), {
        error: 'directory_unreachable',
        message: 'the directory is unreachable, so first hops cannot be checked; retry',
        accepted: 0,
        rejected: [
          { index: 0, reason: 'the directory is unreachable, so first hop mix-9 could not be checked; retry' },
        ],
      });
      assert.deepEqual(sends, [{ url: 'http://mix-1a:8080/v1/packets', frames: [bytesOf(1, 2, 3)] }]);
      assert.equal(await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'rejected' }), 2);
    });

    const invalid: [string, unknown, RegExp][] = [
      ['a missing packets field', {}, /^body must have required property 'packets'$/],
      ['no packets', { packets: [] }, /^body\/packets must NOT have fewer than 1 items$/],
      ['a packet without firstHop', { packets: [{ packet: 'AAAA' }] }, /required property 'firstHop'/],
      ['a packet without bytes', { packets: [{ firstHop: 'mix-1a' }] }, /required property 'packet'/],
      ['non-base64 bytes', { packets: [{ firstHop: 'mix-1a', packet: 'AA!A' }] }, /packet must match pattern/],
      [
        'a packet whose base64 is longer than maxPacketBytes needs',
        { packets: [{ firstHop: 'mix-1a', packet: Buffer.alloc(131).toString('base64') }] },
        /packet must NOT have more than 172 characters/,
      ],
      ['a bad node id', { packets: [{ firstHop: 'mix 1', packet: 'AAAA' }] }, /firstHop must match pattern/],
      [
        'too many packets',
        { packets: Array.from({ length: 5 }, () => ({ firstHop: 'mix-1a', packet: 'AAAA' })) },
        /^body\/packets must NOT have more than 4 items$/,
      ],
    ];
    for (const [name, body, message] of invalid) {
      it(`answers 400 to ${name}`, async () => {
        const response = await submit(body);
        assert.equal(response.statusCode, 400);
        assert.equal(response.json().error, 'invalid_request');
        assert.match(response.json().message, message);
        assert.deepEqual(sends, []);
        assert.equal(fetches, 0);
      });
    }

    it("refuses, counts and names a packet outside the format's sizes, and forwards one of each bound", async () => {
      const response = await submit({
        packets: [
          { firstHop: 'mix-1a', packet: Buffer.alloc(129).toString('base64') },
          { firstHop: 'mix-1a', packet: Buffer.alloc(MIN_PACKET - 1).toString('base64') },
        ],
      });
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), {
        error: 'packets_rejected',
        message: 'every packet was refused: see rejected',
        accepted: 0,
        rejected: [
          { index: 0, reason: `packet of 129 bytes is outside ${MIN_PACKET}..128 bytes for onion` },
          { index: 1, reason: `packet of ${MIN_PACKET - 1} bytes is outside ${MIN_PACKET}..128 bytes for onion` },
        ],
      });
      assert.deepEqual(sends, []);
      assert.equal(await metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome: 'wrong_size' }), 2);
      const bounds = await submit({
        packets: [
          { firstHop: 'mix-1a', packet: Buffer.alloc(128, 1).toString('base64') },
          { firstHop: 'mix-1a', packet: Buffer.alloc(MIN_PACKET, 2).toString('base64') },
        ],
      });
      assert.equal(bounds.statusCode, 202);
      assert.deepEqual(sends, [
        {
          url: 'http://mix-1a:8080/v1/packets',
          frames: [new Uint8Array(128).fill(1), new Uint8Array(MIN_PACKET).fill(2)],
        },
      ]);
    });

    it('takes only packets of exactly the Sphinx packet size on a Sphinx gateway', async () => {
      await app.close();
      const size = sphinx.geometry.packetBytes;
      app = await gatewayWith(new TopologyCache(async () => SIGNED, { maxAgeMs: 60_000, refetchAfterMs: 60_000 }), {
        info: { gatewayId: 'gateway-1', packetFormat: 'sphinx' },
        maxPacketBytes: 64 * 1024,
      });
      const response = await submit({
        packets: [size - 1, size, size + 1].map((bytes) => ({
          firstHop: 'mix-1a',
          packet: Buffer.alloc(bytes).toString('base64'),
        })),
      });
      assert.equal(response.statusCode, 202);
      assert.deepEqual(response.json().rejected, [
        { index: 0, reason: `packet of ${size - 1} bytes is not a sphinx packet (${size} bytes)` },
        { index: 2, reason: `packet of ${size + 1} bytes is not a sphinx packet (${size} bytes)` },
      ]);
      assert.equal(sends[0]?.frames.length, 1);
    });

    for (const [name, body] of [
      ['an extra top-level field', { packets: [{ firstHop: 'mix-1a', packet: 'AAAA' }], priority: 1 }],
      ['an extra packet field', { packets: [{ firstHop: 'mix-1a', packet: 'AAAA', delayMs: 5 }] }],
    ] as const) {
      it(`answers 400 to ${name}`, async () => {
        const response = await submit(body);
        assert.equal(response.statusCode, 400);
        assert.deepEqual(sends, []);
      });
    }
  });

  describe('backpressure', () => {
    const packet = (firstHop = 'mix-1a') => ({ firstHop, packet: b64(1, 2, 3) });
    const submitted = (outcome: string) => metricValue(registry, 'mixlab_gateway_packets_submitted_total', { outcome });
    const topology = () => new TopologyCache(async () => SIGNED, { maxAgeMs: 60_000, refetchAfterMs: 60_000 });

    it('answers 429 rate_limited with Retry-After past a client’s tokens, per client key, and lets it on once refilled', async () => {
      let now = 0;
      const buckets = new TokenBuckets({ perSecond: 2, burst: 4 }, () => now);
      await app.close();
      app = await gatewayWith(topology(), { rateLimit: { key: 'forwarded-for', buckets } });
      const from = (client: string, packets: number) =>
        app.inject({
          method: 'POST',
          url: '/v1/packets',
          headers: { 'x-forwarded-for': `${client}, 10.0.0.1` },
          payload: { packets: Array.from({ length: packets }, () => packet()) },
        });
      assert.equal((await from('198.51.100.1', 4)).statusCode, 202);
      const limited = await from('198.51.100.1', 2);
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.headers['retry-after'], '1');
      assert.equal(limited.json().error, 'rate_limited');
      assert.equal((await from('198.51.100.2', 3)).statusCode, 202, 'another client has its own bucket');
      now = 999;
      assert.equal((await from('198.51.100.1', 2)).statusCode, 429, 'two tokens take a second at 2/s');
      now = 1_000;
      assert.equal((await from('198.51.100.1', 2)).statusCode, 202);
      assert.equal(await submitted('rate_limited'), 4);
      assert.equal(await submitted('forwarded'), 9);
      assert.equal(sends.flatMap((sent) => sent.frames).length, 9, 'nothing refused was forwarded');
    });

    it('answers 503 overloaded with Retry-After while its submissions in flight are at the bound, and recovers', async () => {
      await app.close();
      app = await gatewayWith(topology(), { maxSubmitsInFlight: 2 });
      let release = () => {};
      held = new Promise((resolve) => {
        release = resolve;
      });
      const first = submit({ packets: [packet()] });
      const second = submit({ packets: [packet('mix-1b')] });
      while (sends.length < 2) await new Promise((resolve) => setImmediate(resolve));
      const refused = await submit({ packets: [packet(), packet()] });
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(refused.json().error, 'overloaded');
      assert.equal(await submitted('overloaded'), 2);
      release();
      assert.deepEqual([(await first).statusCode, (await second).statusCode], [202, 202]);
      assert.equal((await submit({ packets: [packet()] })).statusCode, 202);
      assert.equal(await submitted('forwarded'), 3);
    });

    it('answers 503 overloaded past one client’s share of the submissions in flight, while others still get on', async () => {
      const buckets = new TokenBuckets({ perSecond: 1000, burst: 1000 }, () => 0);
      await app.close();
      app = await gatewayWith(topology(), {
        maxSubmitsInFlight: 10,
        maxSubmitsInFlightPerClient: 1,
        rateLimit: { key: 'forwarded-for', buckets },
      });
      let release = () => {};
      held = new Promise((resolve) => {
        release = resolve;
      });
      const from = (client: string) =>
        app.inject({
          method: 'POST',
          url: '/v1/packets',
          headers: { 'x-forwarded-for': client },
          payload: { packets: [packet()] },
        });
      const first = from('198.51.100.1');
      while (sends.length < 1) await new Promise((resolve) => setImmediate(resolve));
      const refused = await from('198.51.100.1');
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(refused.json().message, 'the gateway is forwarding 1 submissions of this client already');
      const other = from('198.51.100.2');
      while (sends.length < 2) await new Promise((resolve) => setImmediate(resolve));
      release();
      assert.deepEqual([(await first).statusCode, (await other).statusCode], [202, 202]);
      assert.equal((await from('198.51.100.1')).statusCode, 202, 'its share is free again');
      assert.equal(await submitted('overloaded'), 1);
    });

    it('answers 503 overloaded when the layer-1 node’s queue is full, counting the packets overloaded', async () => {
      await app.close();
      app = await gatewayWith(topology(), {
        send: async (url) => {
          throw new QueueFullError(url, 5000);
        },
      });
      const response = await submit({ packets: [packet(), packet()] });
      assert.equal(response.statusCode, 503);
      assert.equal(response.headers['retry-after'], '1');
      assert.equal(response.json().error, 'overloaded');
      assert.equal(response.json().rejected[0].reason, 'too many packets are waiting for mix-1a; retry later');
      assert.equal(await submitted('overloaded'), 2);
      assert.equal(await submitted('forward_failed'), 0);
    });
  });

  describe('WebSocket push', () => {
    it('pushes pending messages on connect, then new deliveries live', async () => {
      await deliver([delivery(ALICE, 'waiting 1'), delivery(ALICE, 'waiting 2'), delivery(BOB, 'not yours')]);
      const pending = await list(ALICE);
      const client = await connect(ALICE);
      assert.deepEqual(await client.next(), { type: 'message', message: pending[0] });
      assert.deepEqual(await client.next(), { type: 'message', message: pending[1] });
      assert.equal(await metricValue(registry, 'mixlab_gateway_connected_clients'), 1);

      await deliver([delivery(ALICE, 'live')]);
      const live = await client.next();
      assert.equal(live.type, 'message');
      assert.equal(live.type === 'message' && Buffer.from(live.message.payload, 'base64').toString(), 'live');
      assert.deepEqual((await list(ALICE)).at(-1), live.type === 'message' ? live.message : undefined);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_pushed_total'), 3);
      assert.deepEqual(client.received, [], 'nothing for another address');
    });

    it('an ack frame removes the messages and moves the acknowledged counter and mailbox gauge', async () => {
      await deliver([delivery(ALICE, 'one'), delivery(ALICE, 'two'), delivery(BOB, 'bob')]);
      const client = await connect(ALICE);
      const one = await client.next();
      const two = await client.next();
      assert.ok(one.type === 'message' && two.type === 'message');
      assert.equal(await gauge(), 3);
      await sendAndSync(client, JSON.stringify({ type: 'ack', ids: [one.message.id, two.message.id] }));
      assert.deepEqual(await list(ALICE), []);
      assert.equal((await list(BOB)).length, 1);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_acknowledged_total'), 2);
      assert.equal(await gauge(), 1);
    });

    it('records the latencies an ack frame reports in mixlab_end_to_end_latency_seconds', async () => {
      await deliver([delivery(ALICE, 'one'), delivery(ALICE, 'two')]);
      const client = await connect(ALICE);
      const ids = [await client.next(), await client.next()].map((frame) =>
        frame.type === 'message' ? frame.message.id : '',
      );
      await sendAndSync(client, JSON.stringify({ type: 'ack', ids, latencies: [0.5, 1.75] }));
      assert.deepEqual(await list(ALICE), []);
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_count'), 2);
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_sum'), 2.25);
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_bucket', { le: '0.64' }), 1);
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_bucket', { le: '2.56' }), 2);
    });

    it('records a latency only for a message the ack actually removed (a repeated ack counts once)', async () => {
      await deliver([delivery(ALICE, 'one')]);
      const client = await connect(ALICE);
      const pushed = await client.next();
      const ids = [pushed.type === 'message' ? pushed.message.id : ''];
      await sendAndSync(client, JSON.stringify({ type: 'ack', ids, latencies: [1] }));
      await sendAndSync(client, JSON.stringify({ type: 'ack', ids, latencies: [1] }));
      assert.equal(await metricValue(registry, 'mixlab_end_to_end_latency_seconds_count'), 1);
    });

    it('answers malformed client frames with an error frame and keeps the connection open', async () => {
      await deliver([delivery(ALICE, 'kept')]);
      const client = await connect(ALICE);
      const kept = await client.next();
      assert.equal(kept.type, 'message');
      const id = kept.type === 'message' ? kept.message.id : '';
      const cases: [string, string][] = [
        ['not json', NOT_JSON],
        ['', NOT_JSON],
        ['null', ACK_HELP],
        ['[]', ACK_HELP],
        ['{"type":"subscribe"}', ACK_HELP],
        [JSON.stringify({ ids: [id] }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: id }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: [1, 2] }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: [id.toUpperCase()] }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: [id], extra: true }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: [id], latencies: [-1] }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: [id], latencies: [86_401] }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: [id], latencies: ['1'] }), ACK_HELP],
        [JSON.stringify({ type: 'ack', ids: Array.from({ length: MAX_ACK_IDS + 1 }, () => id) }), ACK_HELP],
      ];
      for (const [data, reason] of cases) {
        client.ws.send(data);
        assert.deepEqual(await client.next(), { type: 'error', reason }, `error frame for ${data.slice(0, 60)}`);
      }
      assert.equal(client.ws.readyState, client.ws.OPEN);
      assert.equal((await list(ALICE)).length, 1, 'nothing acknowledged');
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_acknowledged_total'), 0);
      // Still served after the errors.
      await deliver([delivery(ALICE, 'after')]);
      const after = await client.next();
      assert.equal(after.type === 'message' && Buffer.from(after.message.payload, 'base64').toString(), 'after');
    });

    it('pushes a message again on reconnect while it is unacknowledged, and counts clients', async () => {
      await deliver([delivery(ALICE, 'once')]);
      const first = await connect(ALICE);
      const pushed = await first.next();
      // terminate, not close: over injectWS a closing handshake only completes after ws's 30 s timeout.
      first.ws.terminate();
      for (let i = 0; i < 100 && (await metricValue(registry, 'mixlab_gateway_connected_clients')) !== 0; i++) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(await metricValue(registry, 'mixlab_gateway_connected_clients'), 0);
      const second = await connect(ALICE);
      assert.deepEqual(await second.next(), pushed);
      assert.equal(await metricValue(registry, 'mixlab_gateway_messages_pushed_total'), 2);
      assert.equal(await metricValue(registry, 'mixlab_gateway_connected_clients'), 1);
    });
  });

  describe('wire tap', () => {
    it('hears each submission from the client connection, with its size and packet count, and only that', async () => {
      const body = JSON.stringify({
        packets: [
          { firstHop: 'mix-1a', packet: b64(1, 1, 1) },
          { firstHop: 'mix-9', packet: b64(2, 2, 2) },
        ],
      });
      const response = await app.inject({
        method: 'POST',
        url: '/v1/packets',
        headers: { 'content-type': 'application/json' },
        payload: body,
        remoteAddress: '172.18.0.1',
      });
      assert.equal(response.statusCode, 202);
      const peer = (await app.inject({ url: '/v1/connection', remoteAddress: '172.18.0.1' })).json().peer;
      assert.match(peer, /^172\.18\.0\.1:\d+$/);
      // The refused packet was on the wire all the same.
      assert.deepEqual(tapped, [{ direction: 'received', peer, bytes: Buffer.byteLength(body), packets: 2 }]);
    });

    it("hears each push to a recipient, one packet of the frame's size, and nothing of deliveries it received", async () => {
      await deliver([delivery(ALICE, 'one')]);
      assert.equal(tapped.length, 0, 'the exit node taps its own deliveries');
      const client = await connect(ALICE);
      const frame = await client.next();
      assert.equal(tapped.length, 1);
      const push = tapped[0];
      assert.deepEqual(
        { ...push, peer: '' },
        {
          direction: 'sent',
          peer: '',
          bytes: Buffer.byteLength(JSON.stringify(frame)),
          packets: 1,
        },
      );
      assert.match(push?.peer ?? '', /:\d+$/);
    });
  });

  describe('topology and operational routes', () => {
    it("passes the directory's signed topology on unchanged", async () => {
      const response = await app.inject({ method: 'GET', url: '/v1/topology' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), SIGNED);
      assert.equal(fetches, 1);
    });

    it('answers 503 when the topology cannot be fetched', async () => {
      directoryDown = true;
      const response = await app.inject({ method: 'GET', url: '/v1/topology' });
      assert.equal(response.statusCode, 503);
      assert.deepEqual(response.json(), {
        error: 'directory_unreachable',
        message: 'the directory is unreachable; try again shortly',
      });
    });

    it('serves gateway info and /health to clients; /metrics, /health and /ready only on the delivery listener', async () => {
      const info = await app.inject({ method: 'GET', url: '/v1/gateway' });
      assert.deepEqual(info.json(), { gatewayId: 'gateway-1', packetFormat: 'onion' });
      const health = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200);
      for (const [method, url] of [
        ['GET', '/metrics'],
        ['POST', '/v1/deliveries'],
      ] as const) {
        const absent = await app.inject({ method, url, headers: { 'content-type': OCTET_STREAM }, payload: '' });
        assert.equal(absent.statusCode, 404, `${url} is not on the client port`);
      }
      for (const url of ['/health', '/ready']) {
        assert.equal((await deliveryApp.inject({ method: 'GET', url })).statusCode, 200, url);
      }
      await deliver([delivery(ALICE, 'x')]);
      const metrics = await deliveryApp.inject({ method: 'GET', url: '/metrics' });
      const lines = metrics.body.split('\n');
      assert.ok(lines.includes('mixlab_gateway_mailbox_messages{node="gateway"} 1'));
      assert.ok(lines.includes('mixlab_gateway_messages_delivered_total{outcome="stored",node="gateway"} 1'));
    });
  });

  describe('client reports', () => {
    const report = async (payload: object) =>
      app.inject({ method: 'POST', url: '/v1/reports', headers: await bearer(CAROL), payload });
    /** Every series of `name`, keyed by its `label`. */
    const series = async (name: string, label: string) => {
      const { values } = (await registry.getSingleMetric(name)?.get()) ?? { values: [] };
      return Object.fromEntries(values.map(({ labels, value }) => [labels[label], value]));
    };
    const nothing = {
      deliveries: { acknowledged: 0, retransmitted: 0, expired: 0 },
      originated: { message: 0, drop: 0, loop: 0 },
      loops: { sent: 0, returned: 0, lost: 0 },
    };
    const reported = async () => ({
      deliveries: await series('mixlab_client_deliveries_total', 'event'),
      originated: await series('mixlab_originated_packets_total', 'type'),
      loops: await series('mixlab_loops_total', 'event'),
    });

    it('adds what clients report to the delivery, originated (by kind) and client loop counters', async () => {
      assert.deepEqual(await reported(), nothing);
      const first = { deliveries: { acknowledged: 3, retransmitted: 1 }, originated: { message: 4, drop: 2 } };
      assert.equal((await report(first)).statusCode, 204);
      assert.equal(
        (await report({ deliveries: { expired: 2 }, loops: { sent: 5, returned: 4, lost: 1 } })).statusCode,
        204,
      );
      assert.deepEqual(await reported(), {
        deliveries: { acknowledged: 3, retransmitted: 1, expired: 2 },
        originated: { message: 4, drop: 2, loop: 0 },
        loops: { sent: 5, returned: 4, lost: 1 },
      });
      const kinds = await registry.getSingleMetricAsString('mixlab_originated_packets_total');
      assert.match(kinds, /kind="real",type="message",node="gateway"\} 4/);
      assert.match(kinds, /kind="cover",type="drop",node="gateway"\} 2/);
      assert.match(await registry.getSingleMetricAsString('mixlab_loops_total'), /origin="client",event="lost"/);
    });

    it('refuses a report without a session, with 401 and counting nothing', async () => {
      const response = await app.inject({ method: 'POST', url: '/v1/reports', payload: { originated: { drop: 1 } } });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error, 'session_required');
      assert.deepEqual(await reported(), nothing);
    });

    for (const [name, body] of [
      ['a count as a string', { originated: { drop: '5' } }],
      ['a count as a boolean', { loops: { sent: true } }],
      ['an unknown section', { bytes: { sent: 1 } }],
      ['an unknown event', { deliveries: { lost: 1 } }],
      ['a negative count', { originated: { drop: -1 } }],
      ['a fractional count', { loops: { sent: 0.5 } }],
      ['a huge count', { deliveries: { retransmitted: 1e9 } }],
    ] as const) {
      it(`refuses ${name} with 400 and counts nothing`, async () => {
        assert.equal((await report(body)).statusCode, 400);
        assert.deepEqual(await reported(), nothing);
      });
    }
  });
});
