/**
 * The directory as an authority, on real containers: a stratified topology with three
 * nodes in layer 2 (every replica carries traffic, Prometheus finds each through DNS),
 * mixing keys rotating every few seconds under steady traffic without losing a message,
 * unenrolled, forged or replayed registrations refused, and the gateway's id bound to its key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AcknowledgedSender, MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair, generateSigningKeyPair, toHex } from '@mixlab/crypto';
import { type Cascade, queryByLabel, queryEvery, queryValue, startCascade } from '@mixlab/testbed';
import { signDescriptor, signGatewayDescriptor } from '@mixlab/topology';
import { request } from 'undici';

const EPOCH_MS = 8_000;
const LAYER_2_REPLICAS = 3;

describe('a directory clients can trust', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({
      MIXLAB_EPOCH_LENGTH_MS: String(EPOCH_MS),
      MIXLAB_LAYER_2_REPLICAS: String(LAYER_2_REPLICAS),
      MIXLAB_STRATEGY: 'threshold:n=2,maxWait=200ms',
    });
  });

  after(async () => {
    await cascade?.stop();
  });

  it('spreads routes over every replica of a scaled layer, and loses no message across key rotations', async () => {
    const { gatewayUrl, prometheusUrl, directoryKey } = cascade as Cascade;
    // A reply block opens only with the keys of the epoch it was made in, until that epoch's grace
    // ends (2 s here). With 8-second epochs an acknowledgement delayed by the default 1 s mean
    // sometimes reaches layer 2 after it: lost by design (the sender retransmits), but this test
    // is about packets in flight across rotations, so acknowledgements go out quickly.
    const client = new MixnetClient(gatewayUrl, { directoryKey, ackDelayMeanMs: 50 });
    const topology = await client.topology();
    assert.deepEqual(
      topology.layers.map((nodes) => nodes.length),
      [1, LAYER_2_REPLICAS, 1],
    );
    const recipient = generateKeyPair();
    const senderKeys = generateKeyPair();
    const received = new Map<string, ReceivedMessage[]>();
    const errors: Error[] = [];
    const sender = new AcknowledgedSender(client, senderKeys, {
      ackTimeoutMs: 5_000,
      maxAttempts: 3,
      onError: (error) => errors.push(error),
    });
    const subscriptions = [
      client.receive(
        recipient,
        (message) => {
          received.set(message.id, [...(received.get(message.id) ?? []), message]);
        },
        { onError: (error) => errors.push(error) },
      ),
      client.receive(senderKeys, () => {}, { onReply: sender.handleReply, onError: (error) => errors.push(error) }),
    ];
    try {
      await Promise.all(subscriptions.map((s) => s.opened));
      // Steady traffic for three epochs: every boundary has packets in flight across it.
      const sent: { messageId: string; outcome: Promise<string> }[] = [];
      const until = Date.now() + 3 * EPOCH_MS;
      for (let i = 0; Date.now() < until; i++) {
        sent.push(await sender.send(recipient.publicKey, new TextEncoder().encode(`message ${i}`)));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const outcomes = await Promise.all(sent.map((s) => s.outcome));
      assert.deepEqual(errors, []);
      assert.ok(
        outcomes.every((outcome) => outcome === 'acknowledged'),
        `${outcomes.filter((o) => o !== 'acknowledged').length} of ${sent.length} not acknowledged`,
      );
      for (const { messageId } of sent) assert.equal(received.get(messageId)?.length, 1, `message ${messageId}`);

      const nodes = topology.layers.flat().map((node) => node.id);
      const epochs = await queryEvery(prometheusUrl, 'max by (node) (mixlab_mixing_key_epoch)', 'node', nodes);
      const firstEpoch = Math.floor((Date.now() - 3 * EPOCH_MS) / EPOCH_MS);
      for (const node of nodes) assert.ok((epochs[node] ?? 0) >= firstEpoch + 2, `${node} rotated its key`);
      const undecryptable = await queryValue(prometheusUrl, 'sum(mixlab_packets_total{outcome="undecryptable"})');
      const peels = await queryByLabel(prometheusUrl, 'sum by (key) (mixlab_packets_peeled_total)', 'key');
      const byLayer = await queryByLabel(
        prometheusUrl,
        'sum by (layer) (mixlab_packets_total{outcome="undecryptable"})',
        'layer',
      );
      assert.equal(
        undecryptable,
        0,
        `no packet met a rotated-away key; peels by key ${JSON.stringify(peels)}, undecryptable by layer ${JSON.stringify(byLayer)}`,
      );

      const layerTwo = topology.layers[1]?.map((node) => node.id) ?? [];
      const forwarded = await queryEvery(
        prometheusUrl,
        'sum by (node) (mixlab_packets_total{layer="2",outcome="forwarded"})',
        'node',
        layerTwo,
      );
      for (const node of layerTwo) assert.ok((forwarded[node] ?? 0) > 0, `replica ${node} carried no traffic`);
      // Found through DNS: one queue-depth series per scraped node, labelled with its layer.
      const scraped = await queryEvery(
        prometheusUrl,
        'count by (layer) (mixlab_queue_depth{job="mix-node"})',
        'layer',
        ['1', '2', '3'],
      );
      assert.deepEqual(scraped, { 1: 1, 2: LAYER_2_REPLICAS, 3: 1 }, 'Prometheus found every replica');
      assert.equal(await queryValue(prometheusUrl, 'count(up{job="mix-node"} == 1)'), 2 + LAYER_2_REPLICAS);
      const alive = await queryEvery(prometheusUrl, 'sum by (layer) (mixlab_directory_nodes{state="alive"})', 'layer', [
        '1',
        '2',
        '3',
      ]);
      assert.deepEqual(alive, { 1: 1, 2: LAYER_2_REPLICAS, 3: 1 });
    } finally {
      sender.close();
      for (const subscription of subscriptions) subscription.close();
    }
  });

  it('refuses an unenrolled node; once enrolled, a forged and a replayed registration with their reasons', async () => {
    const { directoryUrl, environment } = cascade as Cascade;
    const identity = generateSigningKeyPair();
    const epoch = Math.floor(Date.now() / EPOCH_MS);
    const descriptor = signDescriptor(
      {
        id: 'mix-intruder',
        layer: 2,
        url: 'http://intruder:8080',
        identityKey: toHex(identity.publicKey),
        mixingKeys: [
          { epoch, publicKey: toHex(generateKeyPair().publicKey) },
          { epoch: epoch + 1, publicKey: toHex(generateKeyPair().publicKey) },
        ],
        issuedAt: Date.now(),
      },
      identity.secretKey,
    );
    const register = async (body: object, path = '/v1/nodes') => {
      const response = await request(`${directoryUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return {
        status: response.statusCode,
        body: (await response.body.json()) as { error?: string; message?: string; reason?: string },
      };
    };
    const unenrolled = await register(descriptor);
    assert.equal(unenrolled.status, 403);
    assert.equal(unenrolled.body.error, 'not_enrolled');
    assert.match(unenrolled.body.message ?? '', /node mix-intruder is not enrolled/);
    // The operator enrolls it: its public key in the shared enrollment volume (the directory mounts it read-only).
    const enrolled = await environment
      .getContainer('mix-layer-1-1')
      .exec(['sh', '-c', `printf '%s\n' ${toHex(identity.publicKey)} > /enrollment/mix-intruder.pub`]);
    assert.equal(enrolled.exitCode, 0, enrolled.output);
    const forged = await register({ ...descriptor, url: 'http://elsewhere:8080' });
    assert.equal(forged.status, 400);
    assert.equal(forged.body.error, 'descriptor_rejected');
    assert.equal(forged.body.reason, 'forged');
    assert.match(forged.body.message ?? '', /^forged descriptor: /);
    assert.ok((await register(descriptor)).status < 300, 'the genuine descriptor is accepted');
    const replayed = await register(descriptor);
    assert.equal(replayed.status, 409);
    assert.equal(replayed.body.error, 'descriptor_conflict');
    assert.equal(replayed.body.reason, 'replayed');

    // gateway-1 registered with its own, enrolled key; another key under its id is refused.
    const signed = (await (await request(`${directoryUrl}/v1/topology`)).body.json()) as {
      document: { gateways: { id: string; url: string; identityKey: string }[] };
    };
    const gateway = signed.document.gateways.find((listed) => listed.id === 'gateway-1');
    assert.match(gateway?.identityKey ?? '', /^[0-9a-f]{64}$/, 'the topology names the gateway identity key');
    const impostor = generateSigningKeyPair();
    const hijack = await register(
      signGatewayDescriptor(
        { id: 'gateway-1', url: 'http://evil:8081', identityKey: toHex(impostor.publicKey), issuedAt: Date.now() },
        impostor.secretKey,
      ),
      '/v1/gateways',
    );
    assert.equal(hijack.status, 403);
    assert.equal(hijack.body.error, 'not_enrolled');
    assert.match(hijack.body.message ?? '', /gateway gateway-1 is enrolled with identity key [0-9a-f]{64}, not /);
    const after = (await (await request(`${directoryUrl}/v1/topology`)).body.json()) as typeof signed;
    assert.deepEqual(
      after.document.gateways.find((listed) => listed.id === 'gateway-1'),
      gateway,
      'gateway-1 keeps its url and key',
    );
  });
});
