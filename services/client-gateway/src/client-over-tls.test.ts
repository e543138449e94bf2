/**
 * The client library against the real gateway server, listening with TLS on 127.0.0.1: a
 * message sent with MixnetClient crosses a one-node Sphinx network (this test peels it as the
 * node and hands the delivery to the gateway's mailboxes as the exit would) and reaches
 * another MixnetClient's WebSocket; the client checks the gateway's TLS key against the
 * signed topology and proves its address with a session.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair, generateSigningKeyPair, type KeyPair, toHex } from '@mixlab/crypto';
import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import { decodeDelivery, encodeDelivery, sphinx } from '@mixlab/packet';
import { signTopology, TopologyCache } from '@mixlab/topology';
import type { FastifyInstance } from 'fastify';
import { Mailboxes } from './mailboxes.ts';
import { buildServer } from './server.ts';
import { Sessions } from './sessions.ts';

await cryptoReady();
const directory = generateSigningKeyPair();
const directoryKey = toHex(directory.publicKey);
const identityKeys = generateSigningKeyPair();
const identity = { publicKey: identityKeys.publicKey, privateKey: identityKeys.secretKey };
/** The one node: layer 1 and the exit. */
const node = generateKeyPair();

/** The directory's document: one node, and gateway-1 with `gatewayKey` as its identity. */
function signedTopology(gatewayKey: string) {
  const now = Date.now();
  return signTopology(
    {
      version: 1,
      epoch: 1,
      validFrom: now - 60_000,
      validUntil: now + 3_600_000,
      layers: [
        [
          {
            id: 'mix-1',
            layer: 1,
            url: 'http://mix-1:8080',
            identityKey: 'aa'.repeat(32),
            publicKey: toHex(node.publicKey),
          },
        ],
      ],
      gateways: [{ id: 'gateway-1', url: 'http://gateway:8081', identityKey: gatewayKey }],
    },
    directory.secretKey,
  );
}

describe('MixnetClient and the gateway over TLS', () => {
  let root: string;
  let mailboxes: Mailboxes;
  let app: FastifyInstance;
  let url: string;
  let published = toHex(identity.publicKey);
  const clients: MixnetClient[] = [];
  const client = () => {
    const created = new MixnetClient(url, { directoryKey, ackDelayMeanMs: 10 });
    clients.push(created);
    return created;
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mixlab-tls-'));
    mailboxes = Mailboxes.open(join(root, 'mailboxes.sqlite'), {
      maxPerMailbox: 100,
      maxMailboxes: 100,
      maxBytes: 1 << 24,
      maxBytesPerMailbox: 1 << 24,
    }).mailboxes;
    const registry = createServiceRegistry({ node: 'gateway' });
    app = await buildServer({
      mailboxes,
      sessions: new Sessions({ maxSessions: 100 }),
      identity,
      topology: new TopologyCache(async () => signedTopology(published), { maxAgeMs: 0, refetchAfterMs: 0 }),
      // mix-1 peels the packet and, as the exit, hands the delivery to the gateway's mailboxes.
      send: async (_url, frames) => {
        for (const frame of frames) {
          const peeled = sphinx.peel(frame, node);
          if (peeled.kind !== 'deliver') throw new Error('a one-node route delivers');
          const delivered = encodeDelivery(
            { recipient: peeled.destination.recipient, payload: peeled.payload },
            sphinx.deliveryPayloadBytes,
          );
          const { recipient, payload } = decodeDelivery(delivered);
          await mailboxes.storeAll([{ address: toHex(recipient), payload }]);
        }
      },
      info: { gatewayId: 'gateway-1', packetFormat: 'sphinx' },
      metrics: gatewayMetrics(registry),
      loops: loopMetrics(registry, 'client'),
      maxPacketBytes: 64 * 1024,
      maxPacketsPerRequest: 10,
    });
    url = (await app.listen({ host: '127.0.0.1', port: 0 })).replace(/^http:/, 'https:');
  });

  after(async () => {
    await Promise.all(clients.map((each) => each.dispatcher.close()));
    await app.close();
    mailboxes.close();
    await rm(root, { recursive: true, force: true });
  });

  it('sends a message that reaches the recipient over its WebSocket, and is acknowledged', async () => {
    const recipient = generateKeyPair();
    const received: ReceivedMessage[] = [];
    const errors: Error[] = [];
    const receiver = client();
    const subscription = receiver.receive(recipient, (message) => void received.push(message), {
      onError: (error) => errors.push(error),
    });
    try {
      await subscription.opened;
      await client().send(recipient.publicKey, new TextEncoder().encode('over TLS'));
      for (let waited = 0; received.length === 0 && waited < 5_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual(errors, []);
      assert.equal(new TextDecoder().decode(received[0]?.body), 'over TLS');
      for (let waited = 0; mailboxes.size > 0 && waited < 5_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(mailboxes.size, 0, 'acknowledged over the socket');
    } finally {
      subscription.close();
    }
  });

  it("reads and acknowledges its own mailbox over HTTPS; another key's session sees none of it", async () => {
    const owner = generateKeyPair();
    const other: KeyPair = generateKeyPair();
    const reader = client();
    await client().send(owner.publicKey, new TextEncoder().encode('mine'));
    const [message] = await reader.gateway.mailbox(owner);
    assert.ok(message, 'the message waits in the mailbox');
    assert.deepEqual(await reader.gateway.mailbox(other), []);
    assert.equal(await reader.gateway.acknowledge(other, [message.id]), 0, "another's session cannot remove it");
    assert.equal(await reader.gateway.acknowledge(owner, [message.id]), 1);
  });

  it("refuses a gateway whose key is not the topology's gateway key, before any session", async () => {
    published = toHex(generateSigningKeyPair().publicKey);
    try {
      const stranger = client();
      await assert.rejects(stranger.gateway.mailbox(generateKeyPair()), {
        name: 'PeerIdentityError',
        message: new RegExp(
          `^refusing the gateway at ${url}: its TLS key ${toHex(identity.publicKey)} is no gateway's`,
        ),
      });
      await assert.rejects(stranger.send(generateKeyPair().publicKey, new Uint8Array(1)), {
        name: 'PeerIdentityError',
      });
    } finally {
      published = toHex(identity.publicKey);
    }
  });
});
