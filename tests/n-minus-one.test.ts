/**
 * The n − 1 attack, live (docs/attacks.md): the n1-proxy sits in front of layer 1 (every
 * request to it passes the proxy), against `threshold:n=3` on every layer, no loop cover.
 * It flushes the one honest packet pooled at layer 1 with its own, holds the next honest
 * message, lets the target's message in with n − 1 = 2 of its own, and the target leaves
 * layer 1 in that one batch: the bound is exactly one round (one batch per layer), and the
 * exit's batch is the target's message plus the attacker's two, which end in the attacker's
 * own mailbox: the one delivery of that round that is not its own is the target's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { type Cascade, eventually, queryByLabel, startCascade } from '@mixlab/testbed';

const N = 3;
const utf8 = new TextEncoder();

interface Status {
  readonly phase: string;
  readonly passed: number;
  readonly pooled: number;
  readonly held: number;
  readonly injected: number;
  readonly targets: number;
  readonly ownRecipient: string;
}

describe('n − 1 attack against a threshold mix', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade(
      { MIXLAB_STRATEGY: `threshold:n=${N}`, MIXLAB_N1_THRESHOLD: String(N) },
      { attack: true },
    );
  });

  after(async () => {
    await cascade?.stop();
  });

  it('gets the target through layer 1 in one round, alone among its own packets', async () => {
    const { gatewayUrl, prometheusUrl, directoryKey, n1ProxyUrl } = cascade as Cascade;
    const control = async (action: string): Promise<Status> => {
      const response = await fetch(`${n1ProxyUrl}/attack${action}`, { method: action ? 'POST' : 'GET' });
      assert.equal(response.status, 200, await response.clone().text());
      return (await response.json()) as Status;
    };
    const batches = async () =>
      queryByLabel(prometheusUrl, 'sum by (layer) (mixlab_batch_size_count{job="mix-node"})', 'layer');
    const honest = new MixnetClient(gatewayUrl, { directoryKey });
    const target = new MixnetClient(gatewayUrl, { directoryKey });
    const [bob, alice] = [generateKeyPair(), generateKeyPair()];
    const inbox: { to: string; message: ReceivedMessage }[] = [];
    const receiver = new MixnetClient(gatewayUrl, { directoryKey });
    const subscriptions = [
      receiver.receive(bob, (message) => {
        inbox.push({ to: 'bob', message });
      }),
      receiver.receive(alice, (message) => {
        inbox.push({ to: 'alice', message });
      }),
    ];
    try {
      await Promise.all(subscriptions.map((s) => s.opened));
      // Before the attack: one honest message waits at layer 1 (threshold 3, nothing else).
      await honest.send(bob.publicKey, utf8.encode('honest before'));
      await eventually('the honest packet at layer 1', async () =>
        (await control('')).passed === 1 ? true : undefined,
      );

      // Flush: two of its own fill layer 1's batch; the honest message leaves with them.
      const flushed = await control('/start');
      assert.equal(flushed.injected, N - 1);
      await eventually('the flushed message to arrive', async () => (inbox.length === 1 ? true : undefined), 20_000);

      // Honest traffic during the attack is held at the proxy.
      await honest.send(bob.publicKey, utf8.encode('honest during'));
      await eventually('the honest message held', async () => ((await control('')).held === 1 ? true : undefined));
      const before = await eventually('Prometheus to see the flush', async () => {
        const counts = await batches();
        return ['1', '2', '3'].every((layer) => counts[layer] === 1) ? counts : undefined;
      });

      // The wire shows the target's connection submitting: the next request into layer 1 is its.
      await control('/target');
      const sentAt = Date.now();
      await target.send(alice.publicKey, utf8.encode('the target'));
      await eventually('the target to arrive', async () => (inbox.length === 2 ? true : undefined), 20_000);
      const roundMs = Date.now() - sentAt;
      const status = await control('');
      assert.deepEqual(
        { targets: status.targets, injected: status.injected, held: status.held, pooled: status.pooled },
        { targets: 1, injected: 2 * (N - 1), held: 1, pooled: 0 },
      );
      assert.equal(inbox[1]?.to, 'alice');
      assert.equal(new TextDecoder().decode(inbox[1]?.message.body), 'the target');
      assert.ok(!inbox.some(({ message }) => new TextDecoder().decode(message.body) === 'honest during'));

      // One round: exactly one more batch on every layer, each of n packets.
      const afterAttack = await eventually('Prometheus to see the target round', async () => {
        const counts = await batches();
        return ['1', '2', '3'].every((layer) => counts[layer] === (before[layer] ?? 0) + 1) ? counts : undefined;
      });
      const sizes = await queryByLabel(
        prometheusUrl,
        'sum by (layer) (mixlab_batch_size_sum{job="mix-node"})',
        'layer',
      );
      assert.deepEqual(sizes, { 1: 2 * N, 2: 2 * N, 3: 2 * N }, `batches: ${JSON.stringify(afterAttack)}`);

      // Following it out: the exit's batch went to the attacker's mailbox, but for one delivery.
      // Its mailbox needs its key, which the proxy keeps: counted on the gateway's disk instead.
      const own = await (cascade as Cascade).environment.getContainer('client-gateway-1').exec([
        'node',
        '-e',
        `const { DatabaseSync } = require('node:sqlite');
           const db = new DatabaseSync('/data/mailboxes.sqlite', { readOnly: true });
           console.log(db.prepare('SELECT count(*) AS n FROM messages WHERE recipient = ?').get('${status.ownRecipient}').n);`,
      ]);
      assert.equal(Number(own.output.trim()), 2 * (N - 1), 'every packet of its own came back to the attacker');
      console.log(`n − 1 vs threshold:n=${N}: target out in 1 round (${roundMs} ms after its submission)`);
      await control('/stop');
    } finally {
      for (const subscription of subscriptions) subscription.close();
    }
  });
});
