/**
 * The walking skeleton end to end: real images from the Dockerfile, the compose
 * cascade (threshold 10, no flush), one client sending 30 messages to two
 * recipients through the gateway, and Prometheus queried over its HTTP API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import {
  type Cascade,
  eventually,
  queryByLabel,
  queryEvery,
  queryValue,
  runDashboardQueries,
  startCascade,
} from '@mixlab/testbed';

const THRESHOLD = 10;
const MESSAGES = 30;
const LAYERS = ['1', '2', '3'];

/** A query summed by layer, once every layer's series is there: { layer: value }. */
const byLayer = (prometheusUrl: string, expr: string) => queryEvery(prometheusUrl, expr, 'layer', LAYERS);

describe('three-layer cascade', { timeout: 600_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    // No loop cover: every packet in the batches below is one of the test's messages.
    cascade = await startCascade({ MIXLAB_STRATEGY: `threshold:n=${THRESHOLD}`, MIXLAB_LOOP_RATE: '0' });
  });

  after(async () => {
    await cascade?.stop();
  });

  it('delivers every message intact exactly once, in batches of exactly the threshold', async () => {
    const { gatewayUrl, prometheusUrl, directoryKey } = cascade as Cascade;
    const recipients: KeyPair[] = [generateKeyPair(), generateKeyPair()];
    const inboxes: ReceivedMessage[][] = [[], []];
    const errors: Error[] = [];
    const receiver = new MixnetClient(gatewayUrl, { directoryKey });
    const subscriptions = recipients.map((keys, r) =>
      receiver.receive(
        keys,
        (message) => {
          inboxes[r]?.push(message);
        },
        { onError: (error) => errors.push(error), reportLatency: true },
      ),
    );
    try {
      await Promise.all(subscriptions.map((s) => s.opened));

      const sender = new MixnetClient(gatewayUrl, { directoryKey });
      const cascadeRoute = (await sender.topology()).layers.flatMap((nodes) => nodes.map((node) => node.id));
      assert.equal(cascadeRoute.length, 3);
      const expected: Map<string, { recipient: number; text: string }> = new Map();
      for (let i = 0; i < MESSAGES; i++) {
        const recipient = i % 2;
        const text = `message ${i} for recipient ${recipient}: ${'x'.repeat(i * 7)}`;
        // Revealed send times (an opt-in leak) let the receiver report latencies to the gateway.
        const receipt = await sender.send(
          (recipients[recipient] as KeyPair).publicKey,
          new TextEncoder().encode(text),
          {
            sentAt: Date.now(),
          },
        );
        assert.deepEqual(receipt.route, cascadeRoute, 'one node per layer: the only route');
        expected.set(receipt.messageId, { recipient, text });
      }

      await eventually('all messages to arrive', async () =>
        inboxes[0]?.length === MESSAGES / 2 && inboxes[1]?.length === MESSAGES / 2 ? true : undefined,
      );
      // Give duplicates, if any, time to show up.
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      assert.deepEqual(errors, []);
      for (const [r, inbox] of inboxes.entries()) {
        assert.equal(inbox.length, MESSAGES / 2, `recipient ${r} got ${inbox.length} messages`);
        for (const message of inbox) {
          const sent = expected.get(message.id);
          assert.ok(sent, `recipient ${r} got a message nobody sent: ${message.id}`);
          assert.equal(sent.recipient, r, `message ${message.id} reached the wrong recipient`);
          assert.equal(new TextDecoder().decode(message.body), sent.text);
          expected.delete(message.id); // a second copy would now fail the check above
        }
      }
      assert.equal(expected.size, 0);
      // Acknowledged mailboxes are empty.
      await eventually('mailboxes to be acknowledged', async () => {
        const left = await Promise.all(recipients.map((keys) => receiver.gateway.mailbox(keys)));
        return left.every((messages) => messages.length === 0) ? true : undefined;
      });
    } finally {
      for (const subscription of subscriptions) subscription.close();
    }

    // Prometheus, over its HTTP API: 3 batches per layer, every one of exactly THRESHOLD packets.
    const batches = await eventually('Prometheus to scrape every released batch', async () => {
      const counts = await queryByLabel(
        prometheusUrl,
        'sum by (layer) (mixlab_batch_size_count{job="mix-node"})',
        'layer',
      );
      return LAYERS.every((layer) => counts[layer] === MESSAGES / THRESHOLD) ? counts : undefined;
    });
    assert.deepEqual(batches, { 1: 3, 2: 3, 3: 3 });
    const meanBatch = await byLayer(
      prometheusUrl,
      'sum by (layer) (mixlab_batch_size_sum) / sum by (layer) (mixlab_batch_size_count)',
    );
    const belowThreshold = await byLayer(
      prometheusUrl,
      `sum by (layer) (mixlab_batch_size_bucket{le=~"${THRESHOLD - 1}(\\\\.0)?"})`,
    );
    const delays = await byLayer(prometheusUrl, 'sum by (layer) (mixlab_mixing_delay_seconds_sum)');
    const delayCounts = await byLayer(prometheusUrl, 'sum by (layer) (mixlab_mixing_delay_seconds_count)');
    for (const layer of LAYERS) {
      assert.equal(meanBatch[layer], THRESHOLD, `mean batch size on layer ${layer}`);
      assert.equal(belowThreshold[layer], 0, `batches smaller than ${THRESHOLD} on layer ${layer}`);
      assert.ok((delays[layer] ?? 0) > 0, `mixing delay on layer ${layer} is ${delays[layer]}`);
      assert.equal(delayCounts[layer], MESSAGES, `packets with a mixing delay on layer ${layer}`);
    }
    await eventually('the reported end-to-end latencies', async () =>
      (await queryValue(prometheusUrl, 'sum(mixlab_end_to_end_latency_seconds_count)')) === MESSAGES ? true : undefined,
    );
    const outcomes = await byLayer(
      prometheusUrl,
      'sum by (layer) (mixlab_packets_total{outcome=~"malformed|undecryptable|forward_failed"})',
    );
    assert.deepEqual(outcomes, { 1: 0, 2: 0, 3: 0 });
    const perLayer = (values: Record<string, number>, digits = 0) =>
      LAYERS.map((layer) => `${layer}: ${(values[layer] ?? 0).toFixed(digits)}`).join(', ');
    console.log(
      [
        `cascade, threshold ${THRESHOLD}: ${MESSAGES} messages to 2 recipients, each delivered intact once`,
        `  Prometheus: batches {${perLayer(batches)}}, mean batch size {${perLayer(meanBatch, 2)}}`,
        `  mean mixing delay (s) {${LAYERS.map((l) => `${l}: ${((delays[l] ?? 0) / (delayCounts[l] ?? 1)).toFixed(3)}`).join(', ')}}`,
        `  end-to-end latencies recorded: ${MESSAGES}`,
      ].join('\n'),
    );
  });

  it('serves every Grafana panel query from Prometheus, with data for the mixing panels', async () => {
    const { prometheusUrl } = cascade as Cascade;
    // rate() over [1m] needs two scrapes inside the window, so allow the scrapes to catch up.
    let empty: string[] = [];
    await eventually(
      'every mixing panel to have data',
      async () => {
        const results = await runDashboardQueries(prometheusUrl);
        assert.ok(results.length > 0);
        empty = results
          .filter(
            (result) => result.resultCount === 0 && /batch|delay|queue|packets|nodes|delivered/i.test(result.panel),
          )
          .map((result) => `${result.panel}: ${result.expr}`);
        return empty.length === 0 ? true : undefined;
      },
      30_000,
      2_000,
    ).catch((error) => {
      throw new Error(`${(error as Error).message}; panels without data:\n${empty.join('\n')}`);
    });
  });
});
