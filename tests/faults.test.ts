/**
 * Faults lose nothing: with one node per layer, layer 2 restarts while a client sends
 * acknowledged messages. Packets queued at the node or sent to it while it is down are lost;
 * their senders retransmit (a send the network refuses meanwhile counts as a lost packet),
 * the cascade resumes once the node is back, and every message is acknowledged and reaches its
 * recipient once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AcknowledgedSender, type DeliveryEvent, MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { type Cascade, startCascade } from '@mixlab/testbed';

const MESSAGES = 12;
const ACK_TIMEOUT_MS = 3_000;
/** Enough attempts to outlast a restart (a few seconds) several times over. */
const ATTEMPTS = 8;

const startedAt = async (id: string): Promise<string> =>
  (await promisify(execFile)('docker', ['inspect', '--format', '{{.State.StartedAt}}', id])).stdout.trim();

describe('faults: a layer-2 restart under acknowledged traffic', { timeout: 400_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({
      MIXLAB_PACKET_FORMAT: 'sphinx',
      MIXLAB_STRATEGY: 'threshold:n=2,maxWait=150ms',
      MIXLAB_LOOP_RATE: '0',
    });
  });

  after(async () => {
    await cascade?.stop();
  });

  it('acknowledges every message and delivers each once although layer 2 restarted mid-way', async () => {
    const { gatewayUrl, directoryKey, environment } = cascade as Cascade;
    const client = new MixnetClient(gatewayUrl, { directoryKey, ackDelayMeanMs: 250 });
    const senderKeys = generateKeyPair();
    const recipient = generateKeyPair();
    const events: DeliveryEvent[] = [];
    const errors: Error[] = [];
    const sender = new AcknowledgedSender(client, senderKeys, {
      ackTimeoutMs: ACK_TIMEOUT_MS,
      maxAttempts: ATTEMPTS,
      onEvent: (event) => events.push(event),
      onError: (error) => errors.push(error),
    });
    const received = new Map<string, number>();
    const subscriptions = [
      client.receive(senderKeys, () => assert.fail('the sender receives only acknowledgements'), {
        onReply: sender.handleReply,
        onError: (error) => errors.push(error),
      }),
      client.receive(recipient, (message) => void received.set(message.id, (received.get(message.id) ?? 0) + 1), {
        onError: (error) => errors.push(error),
      }),
    ];
    const layer2 = environment.getContainer('mix-layer-2-1');
    const before = await startedAt(layer2.getId());
    try {
      await Promise.all(subscriptions.map((s) => s.opened));
      const sent: Awaited<ReturnType<AcknowledgedSender['send']>>[] = [];
      let restarted: Promise<void> | undefined;
      for (let i = 0; i < MESSAGES; i++) {
        if (i === 3) restarted = layer2.restart({ timeout: 1 });
        sent.push(await sender.send(recipient.publicKey, new TextEncoder().encode(`message ${i}`)));
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await restarted;
      assert.notEqual(await startedAt(layer2.getId()), before, 'layer 2 restarted');
      const outcomes = await Promise.all(sent.map((s) => s.outcome));
      const summary = events.filter((e) => e.type !== 'sent').map((e) => `${e.messageId.slice(0, 6)} ${e.type}`);
      assert.deepEqual(outcomes, Array(MESSAGES).fill('acknowledged'), summary.join('\n'));
      // Acknowledged means its recipient opened it; retransmitted copies are dropped as duplicates.
      assert.deepEqual(
        sent.map((s) => received.get(s.messageId)),
        Array(MESSAGES).fill(1),
      );
      const retried = new Set(events.filter((e) => e.type === 'retransmitting').map((e) => e.messageId));
      const failed = events.filter((e) => e.type === 'send_failed');
      console.log(
        `faults: ${retried.size} of ${MESSAGES} messages needed more than one attempt; ${failed.length} sends refused while layer 2 was down`,
      );
      assert.ok(retried.size > 0, 'the restart cost some packets: the test saw the fault');
      assert.deepEqual(errors, []);
    } finally {
      sender.close();
      for (const subscription of subscriptions) subscription.close();
    }
  });
});
