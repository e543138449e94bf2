import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  cryptoReady,
  generateKeyPair,
  generateSigningKeyPair,
  type KeyPair,
  type SigningKeyPair,
  toHex,
} from '@mixlab/crypto';
import { createServiceRegistry, mixNodeMetrics, REQUEST_REJECTION_REASONS } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import { ThresholdStrategy } from '@mixlab/mixing';
import {
  decodeDelivery,
  decodeFrames,
  encodeDelivery,
  encodeFrames,
  onion,
  type RouteHop,
  sphinx,
} from '@mixlab/packet';
import { ManualClock } from '@mixlab/runtime';
import {
  acceptOctetStream,
  FrameSender,
  HOP_UNKNOWN,
  hopFound,
  LINK_BOX_MAX_OVERHEAD_BYTES,
  LinkIdentity,
  LinkReceiver,
  linkRejectedCounter,
  OCTET_STREAM,
  sealLinkBox,
  topologySenders,
} from '@mixlab/service-kit';
import { TopologyCache } from '@mixlab/topology';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { InlinePeeler } from './peeler.ts';
import { buildServer, type MixNodeServerDeps } from './server.ts';
import { counts, packetCounts, singleKeySet, TEST_REPLAY } from './test-support.ts';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const MAX_PACKET_BYTES = 256;
const MAX_PACKETS = 3;

describe('mix node server', () => {
  let self: { hop: RouteHop; keys: KeyPair };
  let next: RouteHop;
  const recipient = new Uint8Array(32).fill(3);

  before(async () => {
    await cryptoReady();
    const keys = generateKeyPair();
    self = { hop: { id: 'mix-1', publicKey: keys.publicKey }, keys };
    next = { id: 'mix-2', publicKey: generateKeyPair().publicKey };
  });

  let registry: Registry;
  /** Where the in-process gateway listens, once started. */
  let gatewayUrl = 'http://unused.invalid';
  let node: MixNode;
  let app: FastifyInstance;
  let ready: boolean;
  let sends: { url: string; frames: Uint8Array[] }[];

  function build(
    send?: (url: string, frames: Uint8Array[]) => Promise<void>,
    format: 'onion' | 'sphinx' = 'onion',
    link?: (registry: Registry) => MixNodeServerDeps['link'],
  ): void {
    const maxPacketBytes = format === 'sphinx' ? sphinx.geometry.packetBytes : MAX_PACKET_BYTES;
    registry = createServiceRegistry({ node: 'mix-1', layer: '1' });
    const clock = new ManualClock();
    sends = [];
    ready = false;
    const metrics = mixNodeMetrics(registry);
    node = new MixNode({
      peeler: new InlinePeeler({ format, keys: singleKeySet(self.keys), replay: TEST_REPLAY, maxPacketBytes }),
      keys: singleKeySet(self.keys),
      clock,
      metrics,
      logger: { warn: () => {} },
      createStrategy: ({ release }) =>
        new ThresholdStrategy<PooledPacket>(
          { threshold: 3 },
          { clock, random: { int: (max) => max - 1, float: () => 0 }, release },
        ),
      resolve: async (kind, id) => {
        if (kind === 'node') return id === 'mix-2' ? hopFound('http://mix-2:8080') : HOP_UNKNOWN;
        return id === 'gateway-1' ? hopFound(gatewayUrl) : HOP_UNKNOWN;
      },
      send:
        send ??
        (async (url, frames) => {
          sends.push({ url, frames });
        }),
    });
    app = buildServer({
      node,
      registry,
      requestsRejected: metrics.requestsRejected,
      maxPacketsPerRequest: MAX_PACKETS,
      maxPacketBytes,
      isReady: () => ready,
      acceptDelivery: () => false,
      ...(link ? { link: link(registry) } : {}),
    });
  }

  beforeEach(() => build());

  /** mixlab_requests_rejected_total by reason. */
  const rejectedRequests = async () =>
    Object.fromEntries(
      await Promise.all(
        REQUEST_REJECTION_REASONS.map(async (reason) => [
          reason,
          await seriesValue(registry, 'mixlab_requests_rejected_total', { reason }),
        ]),
      ),
    );

  const packet = (message: string) =>
    onion.wrap([self.hop, next], { gateway: 'gateway-1', recipient }, utf8.encode(message));
  const post = (payload: Uint8Array | string, contentType = OCTET_STREAM) =>
    app.inject({
      method: 'POST',
      url: '/v1/packets',
      headers: { 'content-type': contentType },
      payload: typeof payload === 'string' ? payload : Buffer.from(payload),
    });

  it('acknowledges frames with 202 and the number received, good or bad', async () => {
    const response = await post(encodeFrames([packet('a'), new Uint8Array(10), packet('b')]));
    assert.equal(response.statusCode, 202);
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.deepEqual(response.json(), { received: 3 });
    assert.equal(node.queued, 2);
    assert.deepEqual(await packetCounts(registry), counts({ accepted: 2, malformed: 1 }));
  });

  it('tells a peer nothing per packet: a tagged, a malformed and a replayed packet answer as three good ones', async () => {
    build(undefined, 'sphinx');
    const exitPacket = (message: string) =>
      sphinx.wrap([self.hop], { gateway: 'gateway-1', recipient }, utf8.encode(message));
    const seen = exitPacket('seen');
    assert.equal((await post(encodeFrames([seen]))).statusCode, 202);
    // A tagging attacker flips a payload bit at hop 1; this node is the exit and finds the payload altered.
    const tagged = exitPacket('tagged');
    tagged[sphinx.geometry.payloadOffset + 100] = (tagged[sphinx.geometry.payloadOffset + 100] as number) ^ 1;
    const bad = await post(encodeFrames([tagged, new Uint8Array(10), Uint8Array.from(seen)]));
    const good = await post(encodeFrames([exitPacket('a'), exitPacket('b'), exitPacket('c')]));
    assert.deepEqual(await packetCounts(registry), counts({ accepted: 4, malformed: 2, replay: 1, delivered: 3 }));
    assert.equal(bad.statusCode, good.statusCode);
    assert.equal(bad.body, good.body, 'byte-identical answers');
    assert.equal(bad.headers['content-type'], good.headers['content-type']);
    assert.equal(bad.headers['content-length'], good.headers['content-length']);
  });

  it('pools across requests and forwards once the threshold is reached', async () => {
    assert.equal((await post(encodeFrames([packet('a'), packet('b')]))).statusCode, 202);
    assert.equal((await post(encodeFrames([packet('c')]))).statusCode, 202);
    await node.settled();
    assert.equal(sends.length, 1);
    assert.equal(sends[0]!.url, 'http://mix-2:8080/v1/packets');
    assert.equal(sends[0]!.frames.length, 3);
    assert.deepEqual(await packetCounts(registry), counts({ accepted: 3, forwarded: 3 }));
  });

  it('answers 202 with nothing received to an empty body', async () => {
    const response = await post(new Uint8Array(0));
    assert.equal(response.statusCode, 202);
    assert.deepEqual(response.json(), { received: 0 });
    assert.deepEqual(await packetCounts(registry), counts({}));
  });

  for (const [name, body, reason] of [
    ['a truncated frame header', Uint8Array.from([0, 0]), 'truncated frame header'],
    ['a frame shorter than its length', Uint8Array.from([0, 0, 0, 9, 1, 2]), 'frame 0 is truncated'],
    [
      'more frames than allowed per request',
      encodeFrames(Array.from({ length: MAX_PACKETS + 1 }, () => new Uint8Array(1))),
      `more than ${MAX_PACKETS} frames`,
    ],
  ] as const) {
    it(`answers 400 to ${name} and counts one malformed packet`, async () => {
      const response = await post(body);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), {
        error: 'invalid_request',
        message: `body is not a sequence of frames: ${reason}`,
      });
      assert.equal(node.queued, 0);
      assert.deepEqual(await packetCounts(registry), counts({ malformed: 1 }));
      assert.deepEqual(await rejectedRequests(), { body_too_large: 0, unsupported_media_type: 0, invalid_request: 1 });
    });
  }

  it('drops the whole request when its last frame is cut, even if earlier frames were whole', async () => {
    const whole = encodeFrames([packet('a'), packet('b')]);
    const response = await post(whole.subarray(0, whole.length - 1));
    assert.equal(response.statusCode, 400);
    assert.equal(node.queued, 0);
    assert.deepEqual(await packetCounts(registry), counts({ malformed: 1 }));
  });

  it('answers 415 to JSON and text bodies, 415 to unknown content types, and counts them as requests, no packet', async () => {
    for (const [body, contentType] of [
      ['{"packets":[]}', 'application/json'],
      ['hello', 'text/plain'],
    ] as const) {
      const response = await post(body, contentType);
      assert.equal(response.statusCode, 415);
      assert.deepEqual(response.json(), {
        error: 'unsupported_media_type',
        message: 'send packets as application/octet-stream frames',
      });
    }
    const unknown = await post('hello', 'application/x-mixlab');
    assert.equal(unknown.statusCode, 415);
    assert.equal(unknown.json().error, 'unsupported_media_type');
    assert.deepEqual(await packetCounts(registry), counts({}));
    assert.deepEqual(await rejectedRequests(), { body_too_large: 0, unsupported_media_type: 3, invalid_request: 0 });
  });

  it('accepts the most frames a request may hold, room for a link box around them, and answers 413 above it', async () => {
    const limit = MAX_PACKETS * (MAX_PACKET_BYTES + 4) + LINK_BOX_MAX_OVERHEAD_BYTES;
    const atLimit = encodeFrames(Array.from({ length: MAX_PACKETS }, () => new Uint8Array(MAX_PACKET_BYTES)));
    assert.equal((await post(atLimit)).statusCode, 202);
    const response = await post(new Uint8Array(limit + 1));
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().error, 'body_too_large');
    assert.match(response.json().message, /body/i);
    assert.deepEqual(await rejectedRequests(), { body_too_large: 1, unsupported_media_type: 0, invalid_request: 0 });
  });

  it('answers unknown routes and malformed JSON in the shared error shape', async () => {
    const missing = await app.inject({ method: 'GET', url: '/v1/nothing?x=1' });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), {
      error: 'not_found',
      message: "no route GET /v1/nothing: see the service's README",
    });
    const json = await post('{"packets":', 'application/json');
    assert.equal(json.statusCode, 400);
    assert.equal(json.json().error, 'invalid_request');
  });

  it('answers 503 shutting_down, not 500, once the node stopped, and counts nothing accepted', async () => {
    assert.equal((await post(encodeFrames([packet('a')]))).statusCode, 202);
    assert.equal(await node.stop(), 1);
    const response = await post(encodeFrames([packet('b')]));
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), {
      error: 'shutting_down',
      message: 'this node is shutting down; send to another node of its layer',
    });
    assert.deepEqual(await packetCounts(registry), counts({ accepted: 1 }));
  });

  it('reports /health 503 until ready, then 200', async () => {
    const starting = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(starting.statusCode, 503);
    assert.deepEqual(starting.json(), { status: 'starting' });
    ready = true;
    const healthy = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(healthy.statusCode, 200);
    assert.deepEqual(healthy.json(), { status: 'ok' });
  });

  it('serves the node metrics on /metrics', async () => {
    await post(encodeFrames([packet('a'), new Uint8Array(1)]));
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    const lines = response.body.split('\n');
    assert.ok(lines.includes('mixlab_packets_total{outcome="accepted",node="mix-1",layer="1"} 1'));
    assert.ok(lines.includes('mixlab_packets_total{outcome="malformed",node="mix-1",layer="1"} 1'));
    assert.ok(lines.includes('mixlab_queue_depth{strategy="threshold",node="mix-1",layer="1"} 1'));
  });

  describe('delivering over HTTP to an in-process gateway', () => {
    let gateway: FastifyInstance;
    let sender: FrameSender;
    const bodies: { url: string; contentType: string | undefined; body: Buffer }[] = [];

    before(async () => {
      gateway = Fastify();
      acceptOctetStream(gateway, 1 << 20);
      gateway.post<{ Body: Buffer }>('/gw/v1/deliveries', async (request, reply) => {
        bodies.push({ url: request.url, contentType: request.headers['content-type'], body: request.body });
        return reply.code(202).send({});
      });
      gatewayUrl = `${await gateway.listen({ host: '127.0.0.1', port: 0 })}/gw`;
      sender = new FrameSender({ connections: 1, attempts: 1, timeoutMs: 5_000 });
    });

    after(async () => {
      await sender.close();
      await gateway.close();
    });

    it('sends last-hop packets as delivery frames that decode to the recipient and payload', async () => {
      build((url, frames) => sender.send(url, frames));
      const exitPacket = (message: string) =>
        onion.wrap([self.hop], { gateway: 'gateway-1', recipient }, utf8.encode(message));
      const response = await post(encodeFrames([exitPacket('one'), exitPacket('two'), exitPacket('three')]));
      assert.equal(response.statusCode, 202);
      await node.settled();

      assert.equal(bodies.length, 1);
      assert.equal(bodies[0]!.url, '/gw/v1/deliveries');
      assert.equal(bodies[0]!.contentType, OCTET_STREAM);
      // The scripted random source draws max - 1 every time: the identity permutation.
      const deliveries = decodeFrames(bodies[0]!.body, 10).map(decodeDelivery);
      assert.deepEqual(
        deliveries.map(({ recipient: to, payload }) => ({ to: [...to], payload: text.decode(payload) })),
        ['one', 'two', 'three'].map((payload) => ({ to: [...recipient], payload })),
      );
      assert.deepEqual(await packetCounts(registry), counts({ accepted: 3, delivered: 3 }));
    });
  });

  describe('links: every request a link box from a sender of the right layer', () => {
    const ids = ['mix-1', 'mix-2', 'gateway-1', 'stranger'] as const;
    const identities = {} as Record<(typeof ids)[number], SigningKeyPair>;
    before(() => {
      for (const id of ids) identities[id] = generateSigningKeyPair();
    });
    const listed = (id: 'mix-1' | 'mix-2', layer: number) => ({
      id,
      layer,
      url: `http://${id}:8080`,
      identityKey: toHex(identities[id].publicKey),
      publicKey: 'ab'.repeat(32),
    });
    const topology = new TopologyCache(
      async () => ({
        document: {
          version: 1 as const,
          epoch: 1,
          validFrom: 0,
          validUntil: Number.MAX_SAFE_INTEGER,
          layers: [[listed('mix-1', 1)], [listed('mix-2', 2)]],
          gateways: [{ id: 'gateway-1', url: 'http://gw:8081', identityKey: toHex(identities['gateway-1'].publicKey) }],
        },
        signature: 'ab'.repeat(64),
        directoryKey: 'cd'.repeat(32),
      }),
      { maxAgeMs: 60_000, refetchAfterMs: 0 },
    );
    const boxFrom = (from: keyof typeof identities, frames: Uint8Array[]) =>
      sealLinkBox({
        sender: new LinkIdentity(from, identities[from]),
        receiverId: 'mix-1',
        receiverIdentityKey: toHex(identities['mix-1'].publicKey),
        now: Date.now(),
        body: encodeFrames(frames),
      });
    const to = (url: string, payload: Uint8Array) =>
      app.inject({ method: 'POST', url, headers: { 'content-type': OCTET_STREAM }, payload: Buffer.from(payload) });
    const rejected = async () => {
      const { values } = (await registry.getSingleMetric('mixlab_link_rejected_total')?.get()) ?? { values: [] };
      return Object.fromEntries(
        values.filter(({ value }) => value > 0).map(({ labels, value }) => [labels.reason, value]),
      );
    };

    beforeEach(() => {
      build(undefined, 'onion', (registry) => ({
        receiver: new LinkReceiver({
          identity: new LinkIdentity('mix-1', identities['mix-1']),
          findSender: topologySenders(topology),
          now: Date.now,
          rejected: linkRejectedCounter(registry),
        }),
        layer: 1,
      }));
    });

    it('takes packets for layer 1 from the gateway and from layer 2 (loops wrap), nothing from others', async () => {
      assert.equal((await to('/v1/packets', boxFrom('gateway-1', [packet('a')]))).statusCode, 202);
      assert.equal((await to('/v1/packets', boxFrom('mix-2', [packet('b')]))).statusCode, 202);
      assert.equal(node.queued, 2);
      const stranger = await to('/v1/packets', boxFrom('stranger', [packet('c')]));
      assert.equal(stranger.statusCode, 403);
      assert.equal(stranger.json().error, 'unknown_sender');
      const plain = await to('/v1/packets', encodeFrames([packet('d')]));
      assert.equal(plain.statusCode, 401);
      assert.equal(plain.json().error, 'malformed');
      assert.equal(node.queued, 2, 'nothing refused reached the pool');
      assert.deepEqual(await rejected(), { unknown_sender: 1, malformed: 1 });
    });

    it('takes deliveries (its loops) only from the layer before it, never from the gateway', async () => {
      const loop = encodeDelivery({ recipient, payload: utf8.encode('loop') });
      assert.equal((await to('/v1/deliveries', boxFrom('mix-2', [loop]))).statusCode, 202);
      const fromGateway = await to('/v1/deliveries', boxFrom('gateway-1', [loop]));
      assert.equal(fromGateway.statusCode, 403);
      assert.equal(fromGateway.json().error, 'wrong_layer');
      assert.deepEqual(await rejected(), { wrong_layer: 1 });
    });
  });
});
