/**
 * Backpressure at the gateway of the running cascade: past its bound on submissions in flight
 * it answers 503 overloaded, past a client's rate 429 rate_limited, both with Retry-After and
 * counted per packet; once the client waits as told, its acknowledged message gets through.
 * (`npm run flood` measures the same under a long flood, with memory: docs/experiments/flood.md.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AcknowledgedSender, type DeliveryEvent, MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import type { SubmittedPacket } from '@mixlab/gateway-api';
import { wrapDropCover } from '@mixlab/load';
import { type Cascade, eventually, queryByLabel, startCascade, uncheckedGatewayAgent } from '@mixlab/testbed';
import { fetch } from 'undici';

const RATE = 10;
const BURST = 20;

interface Answer {
  readonly status: number;
  readonly error: string | undefined;
  readonly retryAfter: string | null;
}

describe('backpressure at the gateway', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({
      MIXLAB_STRATEGY: 'threshold:n=1',
      MIXLAB_RATE_LIMIT_KEY: 'address',
      MIXLAB_RATE_LIMIT_PER_SECOND: String(RATE),
      MIXLAB_RATE_LIMIT_BURST: String(BURST),
      MIXLAB_MAX_SUBMITS_IN_FLIGHT: '1',
    });
  });

  after(async () => {
    await cascade?.stop();
  });

  it('answers 503 overloaded and 429 rate_limited with Retry-After, counts them, and lets a waiting client through', async () => {
    const { gatewayUrl, prometheusUrl, directoryKey } = cascade as Cascade;
    const client = new MixnetClient(gatewayUrl, { directoryKey, ackDelayMeanMs: 200 });
    await eventually('every layer in the topology', async () =>
      (await client.topology()).layers.every((nodes) => nodes.length > 0) ? true : undefined,
    );
    const packets = await wrapDropCover(client, 80);
    const dispatcher = uncheckedGatewayAgent();
    const submit = async (packet: SubmittedPacket): Promise<Answer> => {
      const response = await fetch(`${gatewayUrl}/v1/packets`, {
        dispatcher,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ packets: [packet] }),
      });
      const body = (await response.json()) as { error?: string };
      return { status: response.status, error: body.error, retryAfter: response.headers.get('retry-after') };
    };

    // 40 at once against one submission in flight: most find the gateway busy.
    const burst = await Promise.all(packets.slice(0, 40).map(submit));
    // Then one after another: past the burst of tokens, the rate limit answers.
    const serial: Answer[] = [];
    for (const packet of packets.slice(40)) serial.push(await submit(packet));
    const answers = [...burst, ...serial];
    const overloaded = answers.filter((a) => a.status === 503);
    const limited = answers.filter((a) => a.status === 429);
    const accepted = answers.filter((a) => a.status === 202);
    assert.equal(overloaded.length + limited.length + accepted.length, answers.length, JSON.stringify(answers));
    assert.ok(overloaded.length > 0, 'some of the concurrent submissions were refused as overloaded');
    assert.ok(limited.length > 0, 'the serial submissions ran out of tokens');
    assert.ok(accepted.length >= 1 && accepted.length <= BURST + 10, `${accepted.length} accepted`);
    for (const a of overloaded) assert.deepEqual([a.error, a.retryAfter], ['overloaded', '1']);
    for (const a of limited) {
      assert.equal(a.error, 'rate_limited');
      assert.ok(Number(a.retryAfter) >= 1, `Retry-After ${a.retryAfter}`);
    }

    // Counted per packet (one each here), as Prometheus scrapes them.
    await eventually('the refusals in Prometheus', async () => {
      const counted = await queryByLabel(
        prometheusUrl,
        'sum by (outcome) (mixlab_gateway_packets_submitted_total)',
        'outcome',
      );
      return counted.overloaded === overloaded.length &&
        counted.rate_limited === limited.length &&
        counted.forwarded === accepted.length
        ? true
        : undefined;
    });

    // A client that waits as told gets its acknowledged message through.
    await new Promise((resolve) => setTimeout(resolve, Math.max(...limited.map((a) => Number(a.retryAfter))) * 1000));
    const senderKeys = generateKeyPair();
    const recipient = generateKeyPair();
    const events: DeliveryEvent[] = [];
    const sender = new AcknowledgedSender(client, senderKeys, {
      ackTimeoutMs: 10_000,
      maxAttempts: 1,
      onEvent: (e) => events.push(e),
    });
    const acks = client.receive(senderKeys, () => {}, { onReply: sender.handleReply });
    const inbox = client.receive(recipient, () => {});
    try {
      await sender.send(recipient.publicKey, new TextEncoder().encode('after the flood'));
      await eventually('the acknowledgement', async () =>
        events.some((event) => event.type === 'acknowledged') ? true : undefined,
      );
    } finally {
      acks.close();
      inbox.close();
      sender.close();
    }
  });
});
