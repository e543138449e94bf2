/**
 * The observer on real containers: a global passive adversary that reads only the taps of
 * every link (time, endpoints, bytes, packets) and the public strategy. The test keeps the
 * ground truth (who sent each message) to itself and joins it with the observer's estimates
 * afterwards, with the analysis library's scorer; the observer never sees it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ScoreSummary, scoreDeliveries, type TruthRecord } from '@mixlab/anonymity';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { type Cascade, eventually, queryByLabel, queryValue, startCascade } from '@mixlab/testbed';
import { type Dispatcher, request } from 'undici';

/** /v1/estimates, as much of it as the test reads. */
interface Estimates {
  readonly clients: { readonly name: string; readonly endpoint: string }[];
  readonly pushes: {
    readonly to: string;
    readonly order: number;
    readonly entropyBits: number;
    readonly senders: Record<string, number>;
    readonly unattributed: number;
  }[];
}

async function json<T>(url: string, dispatcher?: Dispatcher): Promise<T> {
  const response = await request(url, dispatcher ? { dispatcher } : {});
  assert.equal(response.statusCode, 200, `${url} answered ${response.statusCode}`);
  return (await response.body.json()) as T;
}

/** A simulated user: its own connection to the gateway, and the endpoint the gateway (and a tap) sees it at. */
async function user(cascade: Cascade) {
  const client = new MixnetClient(cascade.gatewayUrl, { directoryKey: cascade.directoryKey });
  await client.topology();
  // Its own (checked) connection: the peer the gateway and a tap see for this client.
  const connection = client.dispatcher;
  const { peer } = await json<{ peer: string }>(`${cascade.gatewayUrl}/v1/connection`, connection);
  return { client, connection, peer };
}

/** A recipient on its own WebSocket; `ids` in the order they arrived. */
async function recipient(cascade: Cascade) {
  const keys = generateKeyPair();
  const ids: string[] = [];
  const listener = new MixnetClient(cascade.gatewayUrl, { directoryKey: cascade.directoryKey });
  const subscription = listener.receive(keys, (message) => {
    ids.push(message.id);
  });
  await subscription.opened;
  return { keys, ids, close: () => subscription.close() };
}

/** The observer's estimates once it has seen `count` pushes (it lags the wire by its slack). */
function observedPushes(cascade: Cascade, count: number): Promise<Estimates> {
  return eventually(
    'the observer to have seen every push',
    async () => {
      const current = await json<Estimates>(`${cascade.observerUrl}/v1/estimates`);
      return current.pushes.length >= count ? current : undefined;
    },
    30_000,
    500,
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The observer's pushes to the one recipient, scored against `senderOf` (message id → sender
 * endpoint) in the order the recipient received them.
 */
async function scoreAgainstTruth(
  cascade: Cascade,
  received: readonly string[],
  senderOf: ReadonlyMap<string, string>,
): Promise<ScoreSummary> {
  const estimates = await observedPushes(cascade, received.length);
  const slotOf = new Map(estimates.clients.map((client) => [client.endpoint, client.name]));
  const recipients = new Set(estimates.pushes.map((push) => push.to));
  assert.equal(recipients.size, 1, `one recipient connection on the wire, got ${[...recipients].join(', ')}`);
  const [recipientSlot] = recipients as Set<string>;
  const names = estimates.clients.map((client) => client.name);
  const truth: TruthRecord[] = received.map((id, index) => {
    const sender = slotOf.get(senderOf.get(id) as string);
    assert.ok(sender, `the observer saw the connection of the sender of ${id}`);
    return { sender, recipient: recipientSlot as string, order: index + 1 };
  });
  const pushes = estimates.pushes.map((push) => ({
    recipient: push.to,
    order: push.order,
    senders: {
      probabilities: Float64Array.from(names, (name) => push.senders[name] ?? 0),
      unattributed: push.unattributed,
    },
  }));
  return scoreDeliveries(pushes, truth, names).summary;
}

/** A cascade of `strategy` for the enclosing describe: started before its tests, stopped after. */
function cascadeOf(strategy: string): () => Cascade {
  let cascade: Cascade | undefined;
  before(async () => {
    await cryptoReady();
    cascade = await startCascade({ MIXLAB_STRATEGY: strategy });
  });
  after(async () => {
    await cascade?.stop();
  });
  return () => cascade as Cascade;
}

describe('the observer without mixing (threshold:n=1)', { timeout: 300_000 }, () => {
  const cascade = cascadeOf('threshold:n=1');

  it('names the true sender of at least 95 % of messages sent apart, from the wire alone', async () => {
    const c = cascade();
    const SENDERS = 4;
    const MESSAGES = 40;
    const users = await Promise.all(Array.from({ length: SENDERS }, () => user(c)));
    assert.equal(new Set(users.map((u) => u.peer)).size, SENDERS, 'every user has a connection of its own');
    const inbox = await recipient(c);
    const senderOf = new Map<string, string>();
    for (let i = 0; i < MESSAGES; i++) {
      const from = users[(i * 7 + Math.floor(i / SENDERS)) % SENDERS] as (typeof users)[number];
      const { messageId } = await from.client.send(inbox.keys.publicKey, new TextEncoder().encode(`message ${i}`));
      senderOf.set(messageId, from.peer);
      await sleep(300);
    }
    await eventually('every message delivered', async () => (inbox.ids.length >= MESSAGES ? true : undefined));
    const summary = await scoreAgainstTruth(c, inbox.ids, senderOf);
    inbox.close();
    await Promise.all(users.map((u) => u.connection.close()));

    console.log(`threshold:n=1, ${MESSAGES} messages from ${SENDERS} users: ${JSON.stringify(summary)}`);
    assert.equal(summary.messages, MESSAGES);
    assert.equal(summary.unmatchedTruth, 0);
    assert.ok(summary.top1Accuracy >= 0.95, `top-1 ${summary.top1Accuracy}`);

    // The same view as metrics: end-to-end entropy near 0 bits, per layer too.
    const mean = (scope: string) =>
      queryValue(
        c.prometheusUrl,
        `sum(mixlab_anonymity_entropy_bits_sum{scope="${scope}"}) / sum(mixlab_anonymity_entropy_bits_count{scope="${scope}"})`,
      );
    const route = await eventually('route entropy in Prometheus', async () => {
      const count = await queryValue(c.prometheusUrl, 'sum(mixlab_anonymity_entropy_bits_count{scope="route"})');
      return (count ?? 0) >= MESSAGES ? mean('route') : undefined;
    });
    assert.ok((route ?? 1) < 0.1, `route entropy ${route}`);
    assert.ok(((await mean('node')) ?? 1) < 0.1, 'a node of threshold:n=1 does not mix');
  });
});

/** Entropy in bits of a sender mix given as message counts. */
function mixEntropy(counts: readonly number[]): number {
  const total = counts.reduce((sum, n) => sum + n, 0);
  return counts.reduce((h, n) => (n === 0 ? h : h - (n / total) * Math.log2(n / total)), 0);
}

describe('the observer on a threshold:n=8 cascade without cover', { timeout: 300_000 }, () => {
  const cascade = cascadeOf('threshold:n=8');

  it("gives each message the entropy of its first-layer batch's sender mix, within 0.01 bits", async () => {
    const c = cascade();
    const users = await Promise.all(Array.from({ length: 4 }, () => user(c)));
    const inbox = await recipient(c);
    // Messages per user in each round of 8: one batch per round, the next sent once it has left.
    const ROUNDS = [
      [2, 2, 2, 2],
      [8, 0, 0, 0],
      [5, 1, 1, 1],
      [0, 4, 4, 0],
      [1, 0, 3, 4],
      [3, 3, 1, 1],
    ];
    const expected = new Map<string, number>();
    for (const [round, counts] of ROUNDS.entries()) {
      const entropy = mixEntropy(counts);
      // Interleaved, as a batch fills in practice.
      const order = counts.flatMap((n, u) => Array.from({ length: n }, (_, k) => ({ u, k })));
      order.sort((a, b) => a.k - b.k || a.u - b.u);
      for (const { u } of order) {
        const from = users[u] as (typeof users)[number];
        const { messageId } = await from.client.send(inbox.keys.publicKey, new TextEncoder().encode(`round ${round}`));
        expected.set(messageId, entropy);
      }
      await eventually(`round ${round} delivered`, async () =>
        inbox.ids.length >= (round + 1) * 8 ? true : undefined,
      );
    }
    const estimates = await observedPushes(c, inbox.ids.length);
    inbox.close();
    await Promise.all(users.map((u) => u.connection.close()));
    assert.equal(estimates.pushes.length, ROUNDS.length * 8);
    const errors = inbox.ids.map((id, index) => {
      const push = estimates.pushes[index];
      assert.equal(push?.order, index + 1);
      return Math.abs((push?.entropyBits ?? Number.NaN) - (expected.get(id) as number));
    });
    const worst = Math.max(...errors);
    console.log(
      `threshold:n=8, ${inbox.ids.length} messages in ${ROUNDS.length} batches: worst |H_observed - H_batch| = ${worst}`,
    );
    assert.ok(worst <= 0.01, `every message within 0.01 bits of its batch's sender mix; errors ${errors.join(', ')}`);

    // Per node, each packet leaving a batch of 8 is uniform over the 8 that entered: 3 bits on every layer.
    const perLayer = await eventually('every packet of every layer in Prometheus', async () => {
      const counts = await queryByLabel(
        c.prometheusUrl,
        'sum by (layer) (mixlab_anonymity_entropy_bits_count{scope="node"})',
        'layer',
      );
      return ['1', '2', '3'].every((layer) => counts[layer] === ROUNDS.length * 8)
        ? queryByLabel(
            c.prometheusUrl,
            'sum by (layer) (mixlab_anonymity_entropy_bits_sum{scope="node"}) / sum by (layer) (mixlab_anonymity_entropy_bits_count{scope="node"})',
            'layer',
          )
        : undefined;
    });
    for (const layer of ['1', '2', '3'])
      assert.ok(Math.abs((perLayer[layer] ?? 0) - 3) < 1e-9, `layer ${layer}: ${perLayer[layer]}`);
  });
});
