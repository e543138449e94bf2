/**
 * Sphinx in the running cascade: acknowledgements come back through reply blocks,
 * a message whose acknowledgement is late is retransmitted and still reaches its
 * recipient exactly once, and a replayed packet is dropped by the first mix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AcknowledgedSender, type DeliveryEvent, MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair, type KeyPair, toHex } from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import { type Cascade, eventually, queryEvery, queryValue, startCascade } from '@mixlab/testbed';

const ACK_TIMEOUT_MS = 2_500;

describe('Sphinx in the cascade: acknowledgements, retransmission, replays', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    // Small batches with a short flush keep round trips around a second.
    cascade = await startCascade({
      MIXLAB_PACKET_FORMAT: 'sphinx',
      MIXLAB_STRATEGY: 'threshold:n=2,maxWait=150ms',
      MIXLAB_LOOP_RATE: '0',
    });
  });

  after(async () => {
    await cascade?.stop();
  });

  it('acknowledges every message, retransmits a late one, and delivers each exactly once', async () => {
    const { gatewayUrl, prometheusUrl, directoryKey } = cascade as Cascade;
    // Recipients acknowledge after Exp(250 ms) rather than the default 1 s, well inside the time-out.
    const client = new MixnetClient(gatewayUrl, { directoryKey, ackDelayMeanMs: 250 });
    const senderKeys = generateKeyPair();
    const events: DeliveryEvent[] = [];
    const errors: Error[] = [];
    const sender = new AcknowledgedSender(client, senderKeys, {
      ackTimeoutMs: ACK_TIMEOUT_MS,
      maxAttempts: 4,
      onEvent: (event) => events.push(event),
      onError: (error) => errors.push(error),
    });
    const acks = client.receive(senderKeys, () => assert.fail('the sender receives only acknowledgements'), {
      onReply: sender.handleReply,
      onError: (error) => errors.push(error),
    });
    const present = generateKeyPair();
    const late = generateKeyPair();
    const inbox = new Map<string, ReceivedMessage[]>([
      [toHex(present.publicKey), []],
      [toHex(late.publicKey), []],
    ]);
    const listen = (keys: KeyPair) =>
      client.receive(
        keys,
        (message) => {
          inbox.get(toHex(keys.publicKey))?.push(message);
        },
        {
          onError: (error) => errors.push(error),
        },
      );
    const subscriptions = [acks, listen(present)];
    try {
      await Promise.all(subscriptions.map((s) => s.opened));
      const onTime = await Promise.all(
        [1, 2, 3, 4].map((i) => sender.send(present.publicKey, new TextEncoder().encode(`on time ${i}`))),
      );
      // Nobody reads the late recipient's mailbox until its first acknowledgement is overdue.
      const delayed = await sender.send(late.publicKey, new TextEncoder().encode('worth the wait'));
      await new Promise((resolve) => setTimeout(resolve, ACK_TIMEOUT_MS + 500));
      subscriptions.push(listen(late));

      const outcomes = await Promise.all([...onTime, delayed].map((sent) => sent.outcome));
      assert.deepEqual(outcomes, ['acknowledged', 'acknowledged', 'acknowledged', 'acknowledged', 'acknowledged']);
      const retransmitted = events.filter((e) => e.type === 'retransmitting' && e.messageId === delayed.messageId);
      assert.ok(retransmitted.length >= 1, 'the late message was sent again');
      // Retransmitted copies keep arriving; each recipient still sees each message once.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.deepEqual(errors, []);
      const texts = (keys: KeyPair) =>
        inbox
          .get(toHex(keys.publicKey))
          ?.map((m) => new TextDecoder().decode(m.body))
          .sort();
      assert.deepEqual(texts(present), ['on time 1', 'on time 2', 'on time 3', 'on time 4']);
      assert.deepEqual(texts(late), ['worth the wait']);
      assert.deepEqual(inbox.get(toHex(late.publicKey))?.[0]?.id, delayed.messageId);

      await client.gateway.report({ deliveries: { acknowledged: 5, retransmitted: retransmitted.length } });
      await eventually('Prometheus to see the reported deliveries', async () =>
        (await queryValue(prometheusUrl, 'sum(mixlab_client_deliveries_total{event="acknowledged"})')) === 5
          ? true
          : undefined,
      );
    } finally {
      sender.close();
      for (const subscription of subscriptions) subscription.close();
    }
  });

  it('drops a replayed packet at the first mix and counts it as a replay', async () => {
    const { gatewayUrl, prometheusUrl, directoryKey } = cascade as Cascade;
    const client = new MixnetClient(gatewayUrl, { directoryKey });
    const topology = await client.topology();
    const route = topology.layers.map((nodes) => {
      const node = nodes[0] as (typeof nodes)[number];
      return { id: node.id, publicKey: Buffer.from(node.publicKey, 'hex') };
    });
    const packet = sphinx.wrap(
      route,
      { gateway: 'gateway-1', recipient: generateKeyPair().publicKey },
      Buffer.from('x'),
    );
    const submission = { firstHop: route[0]?.id as string, packet: Buffer.from(packet).toString('base64') };
    assert.equal((await client.gateway.submit({ packets: [submission] })).accepted, 1);
    assert.equal((await client.gateway.submit({ packets: [submission] })).accepted, 1, 'the gateway cannot tell');
    await eventually('mix-1 to count the replay', async () =>
      (await queryValue(prometheusUrl, 'sum(mixlab_packets_total{layer="1",outcome="replay"})')) === 1
        ? true
        : undefined,
    );
    const replays = await queryEvery(
      prometheusUrl,
      'sum by (layer) (mixlab_packets_total{outcome="replay"})',
      'layer',
      ['1', '2', '3'],
    );
    assert.deepEqual(replays, { 1: 1, 2: 0, 3: 0 }, 'only the first mix saw the copy');
  });
});
