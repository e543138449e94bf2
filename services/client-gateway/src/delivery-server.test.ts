import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair, type SigningKeyPair, toHex } from '@mixlab/crypto';
import { createServiceRegistry, gatewayMetrics } from '@mixlab/metrics';
import { encodeDelivery, encodeFrames } from '@mixlab/packet';
import { LinkIdentity, LinkReceiver, linkRejectedCounter, sealLinkBox, topologySenders } from '@mixlab/service-kit';
import { TopologyCache, type TopologyDocument } from '@mixlab/topology';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { buildDeliveryServer } from './delivery-server.ts';
import { Mailboxes } from './mailboxes.ts';

const ALICE = 'a1'.repeat(32);

// The delivery listener with real link boxes: only the exit layer delivers, each box once.
describe('gateway delivery listener, link boxes', () => {
  let root: string;
  let app: FastifyInstance;
  let registry: Registry;
  let mailboxes: Mailboxes;
  const ids = ['mix-1', 'mix-2', 'mix-3', 'gateway-1', 'stranger'] as const;
  const keys = {} as Record<(typeof ids)[number], SigningKeyPair>;

  before(async () => {
    await cryptoReady();
    for (const id of ids) keys[id] = generateSigningKeyPair();
    root = await mkdtemp(join(tmpdir(), 'mixlab-deliveries-'));
    mailboxes = Mailboxes.open(join(root, 'mailboxes.sqlite'), {
      maxPerMailbox: 10,
      maxMailboxes: 10,
      maxBytes: 1 << 20,
      maxBytesPerMailbox: 1 << 20,
    }).mailboxes;
    const node = (id: 'mix-1' | 'mix-2' | 'mix-3', layer: number) => ({
      id,
      layer,
      url: `http://${id}:8080`,
      identityKey: toHex(keys[id].publicKey),
      publicKey: 'ab'.repeat(32),
    });
    const document: TopologyDocument = {
      version: 1,
      epoch: 1,
      validFrom: 0,
      validUntil: Number.MAX_SAFE_INTEGER,
      layers: [[node('mix-1', 1)], [node('mix-2', 2)], [node('mix-3', 3)]],
      gateways: [{ id: 'gateway-1', url: 'http://gw:8081', identityKey: toHex(keys['gateway-1'].publicKey) }],
    };
    registry = createServiceRegistry({ node: 'gateway' });
    const topology = new TopologyCache(
      async () => ({ document, signature: 'ab'.repeat(64), directoryKey: 'cd'.repeat(32) }),
      { maxAgeMs: 60_000, refetchAfterMs: 0 },
    );
    app = buildDeliveryServer({
      mailboxes,
      registry,
      metrics: gatewayMetrics(registry),
      maxPacketBytes: 256,
      maxPacketsPerRequest: 4,
      link: new LinkReceiver({
        identity: new LinkIdentity('gateway-1', keys['gateway-1']),
        findSender: topologySenders(topology),
        now: Date.now,
        rejected: linkRejectedCounter(registry),
      }),
    });
    await app.ready();
  });

  after(async () => {
    await app.close();
    mailboxes.close();
    await rm(root, { recursive: true, force: true });
  });

  const boxFrom = (from: (typeof ids)[number], text: string) =>
    sealLinkBox({
      sender: new LinkIdentity(from, keys[from]),
      receiverId: 'gateway-1',
      receiverIdentityKey: toHex(keys['gateway-1'].publicKey),
      now: Date.now(),
      body: encodeFrames([encodeDelivery({ recipient: Buffer.from(ALICE, 'hex'), payload: Buffer.from(text) })]),
    });
  const deliver = (box: Uint8Array) =>
    app.inject({
      method: 'POST',
      url: '/v1/deliveries',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from(box),
    });

  it('stores what the exit layer delivers, and refuses any other sender, a replay and plain frames, counted', async () => {
    const fromExit = boxFrom('mix-3', 'real');
    assert.equal((await deliver(fromExit)).statusCode, 202);
    const answers = await Promise.all([
      deliver(boxFrom('mix-1', 'forged by layer 1')),
      deliver(boxFrom('stranger', 'forged from outside')),
      deliver(fromExit),
      deliver(encodeFrames([encodeDelivery({ recipient: Buffer.from(ALICE, 'hex'), payload: Buffer.from('x') })])),
    ]);
    assert.deepEqual(
      answers.map((answer) => [answer.statusCode, answer.json().error]),
      [
        [403, 'wrong_layer'],
        [403, 'unknown_sender'],
        [401, 'replayed'],
        [401, 'malformed'],
      ],
    );
    assert.deepEqual(
      mailboxes.pending(ALICE).map((message) => Buffer.from(message.payload).toString()),
      ['real'],
    );
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body.split('\n');
    for (const reason of ['wrong_layer', 'unknown_sender', 'replayed', 'malformed']) {
      assert.ok(metrics.includes(`mixlab_link_rejected_total{reason="${reason}",node="gateway"} 1`), reason);
    }
    assert.ok(metrics.includes('mixlab_link_rejected_total{reason="forged",node="gateway"} 0'));
  });
});
