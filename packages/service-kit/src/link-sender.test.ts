import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair, type SigningKeyPair, toHex } from '@mixlab/crypto';
import { decodeFrames } from '@mixlab/packet';
import { TopologyCache, type TopologyDocument } from '@mixlab/topology';
import type { FastifyInstance } from 'fastify';
import { FrameSender } from './frame-sender.ts';
import { acceptOctetStream, createServiceApp } from './http.ts';
import { LinkIdentity } from './link-box.ts';
import { LinkReceiver, openLinkRequest, packetSenders, topologySenders } from './link-receiver.ts';

// A FrameSender with an identity seals each request as a link box; a real fastify receiver opens it.
describe('FrameSender with link boxes, over real HTTP', () => {
  let app: FastifyInstance;
  let url: string;
  let gateway: SigningKeyPair;
  let node: SigningKeyPair;
  const received: number[][] = [];
  const rejected: string[] = [];
  const statuses: number[] = [];
  /** Answers this many requests with 503 first (a retry must seal afresh). */
  let failFirst = 0;

  before(async () => {
    await cryptoReady();
    [gateway, node] = [generateSigningKeyPair(), generateSigningKeyPair()];
    const document: TopologyDocument = {
      version: 1,
      epoch: 1,
      validFrom: 0,
      validUntil: Number.MAX_SAFE_INTEGER,
      layers: [[{ id: 'mix-1', layer: 1, url: '', identityKey: toHex(node.publicKey), publicKey: 'ab'.repeat(32) }]],
      gateways: [{ id: 'gateway-1', url: '', identityKey: toHex(gateway.publicKey) }],
    };
    const receiver = new LinkReceiver({
      identity: new LinkIdentity('mix-1', node),
      findSender: topologySenders(
        new TopologyCache(async () => ({ document, signature: 'ab'.repeat(64), directoryKey: 'cd'.repeat(32) }), {
          maxAgeMs: 60_000,
          refetchAfterMs: 0,
        }),
      ),
      now: Date.now,
      rejected: (reason) => rejected.push(reason),
    });
    app = createServiceApp(undefined);
    acceptOctetStream(app, 1 << 20);
    app.post<{ Body: Buffer }>('/v1/packets', async (request, reply) => {
      const frames = await openLinkRequest(receiver, (layers) => packetSenders(1, layers), request.body, reply);
      if (!frames) return reply;
      if (failFirst > 0) {
        failFirst--;
        return reply.code(503).send({});
      }
      received.push(decodeFrames(frames, 100).map((frame) => frame[0] as number));
      return reply.code(202).send({});
    });
    app.addHook('onResponse', async (_request, reply) => {
      statuses.push(reply.statusCode);
    });
    url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/packets`;
  });
  after(() => app.close());

  /** A FrameSender sealing as `id` with `keys` (plain frames without), `attempts` tries per request. */
  const senderAs = (id?: string, keys?: SigningKeyPair, attempts = 1) =>
    new FrameSender({
      connections: 1,
      attempts,
      timeoutMs: 5_000,
      ...(id && keys ? { link: { identity: new LinkIdentity(id, keys), now: Date.now } } : {}),
    });
  const toNode = () => ({ id: 'mix-1', identityKey: toHex(node.publicKey) });

  it('is opened by the receiver; a retry after a 5xx is a fresh box, not a replay', async () => {
    const sender = senderAs('gateway-1', gateway, 2);
    await sender.send(url, [new Uint8Array([1]), new Uint8Array([2])], toNode());
    failFirst = 1;
    await sender.send(url, [new Uint8Array([3])], toNode());
    await sender.close();
    assert.deepEqual(received, [[1, 2], [3]]);
    assert.deepEqual(rejected, []);
  });

  it('is refused with 403 unknown_sender for an identity the topology does not list, 401 for plain frames', async () => {
    statuses.length = 0;
    const stranger = senderAs('gateway-1', generateSigningKeyPair());
    await assert.rejects(stranger.send(url, [new Uint8Array([9])], toNode()), /answered 401: .*"error":"forged"/);
    const unlisted = senderAs('mix-9', generateSigningKeyPair());
    await assert.rejects(
      unlisted.send(url, [new Uint8Array([9])], toNode()),
      /answered 403: .*"error":"unknown_sender"/,
    );
    const plain = senderAs();
    await assert.rejects(plain.send(url, [new Uint8Array([9])]), /answered 401: .*"error":"malformed"/);
    const unnamed = senderAs('gateway-1', gateway);
    await assert.rejects(unnamed.send(url, [new Uint8Array([9])]), /no identity key to seal a link box to/);
    await Promise.all([stranger.close(), unlisted.close(), plain.close(), unnamed.close()]);
    assert.deepEqual(rejected, ['forged', 'unknown_sender', 'malformed']);
    assert.deepEqual(statuses, [401, 403, 401]);
  });
});
