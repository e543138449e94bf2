/**
 * Issue 12's attacks on real containers, each refused with a clear answer and a counted reason
 * while an acknowledged conversation goes on: forged deliveries (through the published client
 * port, and from a container on the compose network that is no node of the topology), another
 * address's mailbox read, subscribed to and acknowledged, a hijacked gateway registration and an
 * unenrolled node, and inflated client reports.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AcknowledgedSender, MixnetClient, type ReceivedMessage, type Subscription } from '@mixlab/client';
import {
  cryptoReady,
  generateKeyPair,
  generateSigningKeyPair,
  type KeyPair,
  openSealed,
  seal,
  toHex,
} from '@mixlab/crypto';
import { encodeDelivery, encodeFrames } from '@mixlab/packet';
import { type Cascade, eventually, MIXLAB_IMAGE, startCascade, uncheckedGatewayAgent } from '@mixlab/testbed';
import { type SignedTopology, signDescriptor, signGatewayDescriptor } from '@mixlab/topology';
import { request } from 'undici';

const GATEWAY_ID = 'gateway-1';
/** Honest messages go out this often through all the attacks: several per attack, a few dozen in all. */
const HONEST_INTERVAL_MS = 400;
/**
 * Ack timeout and attempts of the honest sender: with compose's threshold:n=3,maxWait=1s a
 * message and its acknowledgement take about 3 s each way at most, plus the ack's 1 s mean
 * delay; 6 s covers that, and 3 attempts cover a lost one. No retransmission is expected here.
 */
const ACK_TIMEOUT_MS = 6_000;
const MAX_ATTEMPTS = 3;

type Answer = { status: number; body: { error?: string; message?: string; reason?: string } };

const agent = uncheckedGatewayAgent();
// Key pairs are drawn as the suite is declared.
await cryptoReady();

/** An HTTP call from the host, its status and JSON body (the shared error body on refusals). */
async function call(
  url: string,
  method: 'GET' | 'POST',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await request(url, {
    method,
    dispatcher: agent,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : {} };
}

/**
 * A WebSocket upgrade with only node:https: the refusal's status and body (undici's WebSocket
 * hides them). A connection of its own, as WebSocket clients do: after a refused upgrade the
 * server reads no further request on that connection, so a pooled one would hang up.
 */
function upgrade(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      agent: false,
      rejectUnauthorized: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve({ status: 101, body: {} });
    });
    req.on('response', async (response) => {
      let text = '';
      for await (const chunk of response) text += chunk;
      resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to the upgrade of ${url}`)));
    req.end();
  });
}

/** The sum of a metric's series whose labels include `labels`, from Prometheus' text format. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    if (Object.entries(labels).every(([key, value]) => match[2]?.includes(`${key}="${value}"`))) {
      sum += Number(match[3]);
    }
  }
  return sum;
}

/**
 * Run from a one-off container of the image on the cascade's network (not a node, not enrolled,
 * without the enrollment volume): deliveries to the gateway's listener as a fresh identity under
 * a new id, as a fresh identity claiming the exit node's id, and as a plain frame.
 */
const OUTSIDER_SCRIPT = `
import { cryptoReady, fromHex, generateSigningKeyPair, seal } from '@mixlab/crypto';
import { encodeDelivery, encodeFrames } from '@mixlab/packet';
import { LinkIdentity, sealLinkBox } from '@mixlab/service-kit';
await cryptoReady();
const { RECIPIENT, GATEWAY_ID, GATEWAY_KEY, EXIT_ID } = process.env;
const recipient = fromHex(RECIPIENT);
const frames = encodeFrames([encodeDelivery({ recipient, payload: seal(new TextEncoder().encode('forged'), recipient) })]);
const boxed = (id) => sealLinkBox({ sender: new LinkIdentity(id, generateSigningKeyPair()), receiverId: GATEWAY_ID,
  receiverIdentityKey: GATEWAY_KEY, now: Date.now(), body: frames });
const deliver = async (body) => {
  const response = await fetch('http://client-gateway:8081/v1/deliveries', { method: 'POST',
    headers: { 'content-type': 'application/octet-stream' }, body, signal: AbortSignal.timeout(10000) });
  return { status: response.status, body: await response.json() };
};
console.log(JSON.stringify({ fresh: await deliver(boxed('mix-intruder')), impostor: await deliver(boxed(EXIT_ID)),
  plain: await deliver(frames) }));
`;

describe('trust boundaries under attack', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;
  let client: MixnetClient;
  let sender: AcknowledgedSender | undefined;
  const subscriptions: Subscription[] = [];
  const errors: Error[] = [];
  const honest = generateKeyPair();
  const honestSender = generateKeyPair();
  const received = new Map<string, ReceivedMessage[]>();
  const sent: { messageId: string; at: number; outcome: Promise<string> }[] = [];
  let sending: Promise<void> | undefined;
  let stopSending = false;
  /** When the first attack started and the last ended: honest messages must go out before, during and after. */
  const attacks = { from: Number.POSITIVE_INFINITY, until: 0 };
  const attacking = () => {
    attacks.from = Math.min(attacks.from, Date.now());
  };
  const attacked = () => {
    attacks.until = Date.now();
  };
  /** Anyone's forged deliveries go to this address: at the end its mailbox must be empty. */
  const forgeryTarget = generateKeyPair();

  /** The gateway's own metrics: its delivery listener is not published, so read from inside its container. */
  const gatewayMetrics = async (): Promise<string> => {
    const result = await (cascade as Cascade).environment
      .getContainer('client-gateway-1')
      .exec([
        'bash',
        '-c',
        'exec 3<>/dev/tcp/127.0.0.1/8081 && printf "GET /metrics HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3',
      ]);
    assert.equal(result.exitCode, 0, result.output);
    return result.output;
  };
  const directoryMetrics = async () => (await request(`${(cascade as Cascade).directoryUrl}/metrics`)).body.text();
  const signedTopology = async () =>
    (await (await request(`${(cascade as Cascade).directoryUrl}/v1/topology`)).body.json()) as SignedTopology;
  /** A session of the attacker's own address: the token the gateway seals to it, opened. */
  const attackerSession = async (attacker: KeyPair): Promise<string> => {
    const opened = await call(`${(cascade as Cascade).gatewayUrl}/v1/sessions`, 'POST', {
      address: toHex(attacker.publicKey),
    });
    assert.equal(opened.status, 201);
    const { sealedToken } = opened.body as unknown as { sealedToken: string };
    const token = openSealed(Buffer.from(sealedToken, 'base64'), attacker);
    assert.ok(token);
    return toHex(token);
  };

  before(async () => {
    // Compose's defaults (threshold:n=3,maxWait=1s, one node per layer); no loop cover (testbed).
    cascade = await startCascade({});
    client = new MixnetClient(cascade.gatewayUrl, { directoryKey: cascade.directoryKey });
    const acknowledging = new AcknowledgedSender(client, honestSender, {
      ackTimeoutMs: ACK_TIMEOUT_MS,
      maxAttempts: MAX_ATTEMPTS,
      onError: (error) => errors.push(error),
    });
    sender = acknowledging;
    subscriptions.push(
      client.receive(
        honest,
        (message) => {
          received.set(message.id, [...(received.get(message.id) ?? []), message]);
        },
        { onError: (error) => errors.push(error) },
      ),
      client.receive(honestSender, () => {}, {
        onReply: acknowledging.handleReply,
        onError: (error) => errors.push(error),
      }),
    );
    await Promise.all(subscriptions.map((subscription) => subscription.opened));
    sending = (async () => {
      for (let i = 0; !stopSending; i++) {
        const at = Date.now();
        sent.push({ ...(await acknowledging.send(honest.publicKey, new TextEncoder().encode(`honest ${i}`))), at });
        await new Promise((resolve) => setTimeout(resolve, HONEST_INTERVAL_MS));
      }
    })();
    // Honest traffic works before any attack: the first message acknowledged.
    assert.equal(await eventually('the first honest message', async () => sent[0]?.outcome, 30_000), 'acknowledged');
  });

  after(async () => {
    stopSending = true;
    await sending?.catch(() => {});
    sender?.close();
    for (const subscription of subscriptions) subscription.close();
    await agent.close();
    await cascade?.stop();
  });

  it('refuses forged deliveries: 404 on the client port, 403/401 on the delivery listener, each counted', async () => {
    attacking();
    const { gatewayUrl, environment, projectName } = cascade as Cascade;
    const frames = encodeFrames([
      encodeDelivery({
        recipient: forgeryTarget.publicKey,
        payload: seal(new TextEncoder().encode('forged'), forgeryTarget.publicKey),
      }),
    ]);
    // The published client port has no delivery route at all.
    const published = await request(`${gatewayUrl}/v1/deliveries`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/octet-stream' },
      body: frames,
    });
    const publishedBody = (await published.body.json()) as Answer['body'];
    assert.equal(published.statusCode, 404);
    assert.equal(publishedBody.error, 'not_found');

    const topology = (await signedTopology()).document;
    const gateway = topology.gateways.find((listed) => listed.id === GATEWAY_ID);
    const exitId = topology.layers[2]?.[0]?.id;
    assert.ok(gateway?.identityKey && exitId, 'the topology lists the gateway key and an exit node');
    const network = environment
      .getContainer('client-gateway-1')
      .getNetworkNames()
      .find((name) => name.startsWith(projectName));
    assert.ok(network, `the gateway is on no network of project ${projectName}`);
    const before = await gatewayMetrics();
    const { stdout } = await promisify(execFile)(
      'docker',
      [
        'run',
        '--rm',
        '--network',
        network,
        ...['-e', `RECIPIENT=${toHex(forgeryTarget.publicKey)}`, '-e', `GATEWAY_ID=${GATEWAY_ID}`],
        ...['-e', `GATEWAY_KEY=${gateway.identityKey}`, '-e', `EXIT_ID=${exitId}`],
        MIXLAB_IMAGE,
        'node',
        '--input-type=module',
        '-e',
        OUTSIDER_SCRIPT,
      ],
      { timeout: 60_000 },
    );
    const outsider = JSON.parse(stdout) as Record<'fresh' | 'impostor' | 'plain', Answer>;
    // A fresh identity under an id the topology does not list.
    assert.equal(outsider.fresh.status, 403, JSON.stringify(outsider.fresh));
    assert.equal(outsider.fresh.body.error, 'unknown_sender');
    // A fresh identity claiming the exit node's id: the box does not open with the exit's listed key.
    assert.equal(outsider.impostor.status, 401, JSON.stringify(outsider.impostor));
    assert.equal(outsider.impostor.body.error, 'forged');
    // The frames as exit nodes sent them before links were sealed.
    assert.equal(outsider.plain.status, 401, JSON.stringify(outsider.plain));
    assert.equal(outsider.plain.body.error, 'malformed');
    // Exact deltas: honest links are refused nothing, so every count here is one of these three.
    const afterwards = await gatewayMetrics();
    const rejected = (text: string, reason: string) => metric(text, 'mixlab_link_rejected_total', { reason });
    for (const [reason, added] of Object.entries({
      unknown_sender: 1,
      forged: 1,
      malformed: 1,
      wrong_layer: 0,
      wrong_receiver: 0,
      stale: 0,
      replayed: 0,
    })) {
      assert.equal(rejected(afterwards, reason) - rejected(before, reason), added, `link rejections: ${reason}`);
    }
    assert.equal(
      metric(afterwards, 'mixlab_gateway_messages_delivered_total', { outcome: 'rejected' }),
      metric(before, 'mixlab_gateway_messages_delivered_total', { outcome: 'rejected' }),
      'no forged frame reached the mailboxes to be judged',
    );
    console.log(
      `forged deliveries: client port ${published.statusCode} ${publishedBody.error}; ` +
        `fresh identity ${outsider.fresh.status} ${outsider.fresh.body.error}; ` +
        `exit impostor ${outsider.impostor.status} ${outsider.impostor.body.error}; ` +
        `plain frame ${outsider.plain.status} ${outsider.plain.body.error}`,
    );
  });

  it("refuses reading, subscribing to and acknowledging another address's mailbox, and deletes nothing", async () => {
    attacking();
    const { gatewayUrl } = cascade as Cascade;
    const victim = generateKeyPair();
    const victimClient = new MixnetClient(gatewayUrl, { directoryKey: (cascade as Cascade).directoryKey });
    await client.send(victim.publicKey, new TextEncoder().encode('for the victim only'));
    // The victim is not listening yet: its message waits in its mailbox (read with its own session;
    // about 3 s through three threshold:n=3,maxWait=1s layers, 30 s allowed).
    const waiting = await eventually('the message in the victim mailbox', async () => {
      const messages = await victimClient.gateway.mailbox(victim);
      return messages.length === 1 ? messages : undefined;
    });
    const id = (waiting[0] as { id: string }).id;
    const attacker = generateKeyPair();
    const token = await attackerSession(attacker);
    const mailbox = `${gatewayUrl}/v1/mailboxes/${toHex(victim.publicKey)}`;
    const before = await gatewayMetrics();
    const answers: Record<string, Answer> = {
      'read, no session': await call(mailbox, 'GET'),
      'read, guessed token': await call(mailbox, 'GET', undefined, {
        authorization: `Bearer ${randomBytes(32).toString('hex')}`,
      }),
      "read, attacker's session": await call(mailbox, 'GET', undefined, { authorization: `Bearer ${token}` }),
      'acknowledge, no session': await call(`${mailbox}/acks`, 'POST', { ids: [id] }),
      "acknowledge, attacker's session": await call(
        `${mailbox}/acks`,
        'POST',
        { ids: [id] },
        { authorization: `Bearer ${token}` },
      ),
      'subscribe, no session': await upgrade(`${mailbox}/ws`, {}),
      "subscribe, attacker's session": await upgrade(`${mailbox}/ws`, { authorization: `Bearer ${token}` }),
    };
    const expected: Record<string, [number, string]> = {
      'read, no session': [401, 'session_required'],
      'read, guessed token': [401, 'session_expired'],
      "read, attacker's session": [403, 'wrong_mailbox'],
      'acknowledge, no session': [401, 'session_required'],
      "acknowledge, attacker's session": [403, 'wrong_mailbox'],
      'subscribe, no session': [401, 'session_required'],
      "subscribe, attacker's session": [403, 'wrong_mailbox'],
    };
    for (const [attempt, [status, code]] of Object.entries(expected)) {
      const answer = answers[attempt] as Answer;
      assert.deepEqual([answer.status, answer.body.error], [status, code], `${attempt}: ${JSON.stringify(answer)}`);
    }
    // Exact deltas: honest clients hold live sessions of their own addresses and are refused nothing.
    const afterwards = await gatewayMetrics();
    const refused = (text: string, outcome: string) => metric(text, 'mixlab_gateway_sessions_total', { outcome });
    assert.equal(refused(afterwards, 'session_required') - refused(before, 'session_required'), 3);
    assert.equal(refused(afterwards, 'session_expired') - refused(before, 'session_expired'), 1);
    assert.equal(refused(afterwards, 'wrong_mailbox') - refused(before, 'wrong_mailbox'), 3);

    // Nothing deleted: the message is still there, and reaches the victim once when it subscribes.
    assert.deepEqual(
      (await victimClient.gateway.mailbox(victim)).map((message) => message.id),
      [id],
    );
    const arrived: ReceivedMessage[] = [];
    const subscription = victimClient.receive(victim, (message) => {
      arrived.push(message);
    });
    try {
      await eventually('the victim to get its message', async () => (arrived.length > 0 ? true : undefined));
      await eventually('the victim to acknowledge it', async () =>
        (await victimClient.gateway.mailbox(victim)).length === 0 ? true : undefined,
      );
    } finally {
      subscription.close();
    }
    assert.deepEqual(
      arrived.map((message) => new TextDecoder().decode(message.body)),
      ['for the victim only'],
    );
    console.log(
      `mailbox attacks: ${Object.entries(answers)
        .map(([attempt, answer]) => `${attempt} ${answer.status} ${answer.body.error}`)
        .join('; ')}`,
    );
  });

  it('refuses a hijacked gateway registration and an unenrolled node, counted, the topology unchanged', async () => {
    attacking();
    const { directoryUrl } = cascade as Cascade;
    const register = (path: string, body: object) => call(`${directoryUrl}${path}`, 'POST', body);
    const rejections = (text: string, kind: string) =>
      metric(text, 'mixlab_directory_registrations_total', { kind, outcome: 'rejected', reason: 'not_enrolled' });
    const listing = (signed: SignedTopology) => ({
      nodes: signed.document.layers.map((nodes) => nodes.map(({ id, url, identityKey }) => ({ id, url, identityKey }))),
      gateways: signed.document.gateways,
    });
    const topologyBefore = listing(await signedTopology());
    const metricsBefore = await directoryMetrics();

    const impostor = generateSigningKeyPair();
    const hijack = await register(
      '/v1/gateways',
      signGatewayDescriptor(
        {
          id: GATEWAY_ID,
          url: 'http://evil:8081',
          identityKey: toHex(impostor.publicKey),
          issuedAt: Date.now(),
        },
        impostor.secretKey,
      ),
    );
    assert.equal(hijack.status, 403, JSON.stringify(hijack));
    assert.equal(hijack.body.error, 'not_enrolled');
    assert.match(hijack.body.message ?? '', /gateway gateway-1 is enrolled with identity key [0-9a-f]{64}, not /);

    const intruder = generateSigningKeyPair();
    const epoch = (await signedTopology()).document.epoch;
    const node = await register(
      '/v1/nodes',
      signDescriptor(
        {
          id: 'mix-intruder',
          layer: 1,
          url: 'http://intruder:8080',
          identityKey: toHex(intruder.publicKey),
          mixingKeys: [
            { epoch, publicKey: toHex(generateKeyPair().publicKey) },
            { epoch: epoch + 1, publicKey: toHex(generateKeyPair().publicKey) },
          ],
          issuedAt: Date.now(),
        },
        intruder.secretKey,
      ),
    );
    assert.equal(node.status, 403, JSON.stringify(node));
    assert.equal(node.body.error, 'not_enrolled');
    assert.match(node.body.message ?? '', /node mix-intruder is not enrolled/);

    const metricsAfter = await directoryMetrics();
    assert.equal(rejections(metricsAfter, 'gateway') - rejections(metricsBefore, 'gateway'), 1);
    assert.equal(rejections(metricsAfter, 'node') - rejections(metricsBefore, 'node'), 1);
    assert.deepEqual(listing(await signedTopology()), topologyBefore, 'no new node, gateway-1 keeps its url and key');
    console.log(
      `directory: gateway hijack ${hijack.status} ${hijack.body.error}; unenrolled node ${node.status} ${node.body.error}`,
    );
  });

  it('refuses inflated reports: 401 without a session, 400 for strings and out-of-bound counts', async () => {
    attacking();
    const reports = `${(cascade as Cascade).gatewayUrl}/v1/reports`;
    const token = await attackerSession(generateKeyPair());
    const session = { authorization: `Bearer ${token}` };
    const acknowledged = (text: string) => metric(text, 'mixlab_client_deliveries_total', { event: 'acknowledged' });
    const before = await gatewayMetrics();
    const noSession = await call(reports, 'POST', { deliveries: { acknowledged: 100_000 } });
    const strings = await call(reports, 'POST', { deliveries: { acknowledged: '100000' } }, session);
    // The schema's bound per field and request.
    const tooMany = await call(reports, 'POST', { deliveries: { acknowledged: 100_001 } }, session);
    assert.deepEqual([noSession.status, noSession.body.error], [401, 'session_required'], JSON.stringify(noSession));
    assert.deepEqual([strings.status, strings.body.error], [400, 'invalid_request'], JSON.stringify(strings));
    assert.deepEqual([tooMany.status, tooMany.body.error], [400, 'invalid_request'], JSON.stringify(tooMany));
    assert.equal(acknowledged(await gatewayMetrics()), acknowledged(before), 'the client metric unchanged');
    // The control: a report of a session, with an integer, counts (so the reading above could have moved).
    assert.equal((await call(reports, 'POST', { deliveries: { acknowledged: 1 } }, session)).status, 204);
    assert.equal(acknowledged(await gatewayMetrics()), acknowledged(before) + 1);
    console.log(
      `reports: no session ${noSession.status} ${noSession.body.error}; string ${strings.status} ${strings.body.error}; ` +
        `100,001 ${tooMany.status} ${tooMany.body.error}`,
    );
    attacked();
  });

  it('delivers every honest message once and acknowledged, before, during and after the attacks', async () => {
    const { gatewayUrl } = cascade as Cascade;
    // A few more after the last attack, then stop.
    await new Promise((resolve) => setTimeout(resolve, 5 * HONEST_INTERVAL_MS));
    stopSending = true;
    await sending;
    const outcomes = await Promise.all(sent.map((message) => message.outcome));
    assert.deepEqual(errors, []);
    assert.ok(
      outcomes.every((outcome) => outcome === 'acknowledged'),
      `${outcomes.filter((outcome) => outcome !== 'acknowledged').length} of ${sent.length} not acknowledged`,
    );
    for (const { messageId } of sent) assert.equal(received.get(messageId)?.length, 1, `message ${messageId}`);
    assert.equal(received.size, sent.length, 'nothing arrived that was not sent');
    const phases = {
      before: sent.filter(({ at }) => at < attacks.from).length,
      during: sent.filter(({ at }) => at >= attacks.from && at <= attacks.until).length,
      after: sent.filter(({ at }) => at > attacks.until).length,
    };
    assert.ok(phases.before > 0 && phases.during > 0 && phases.after > 0, JSON.stringify(phases));
    // No forged delivery landed: the address they named has an empty mailbox.
    const target = new MixnetClient(gatewayUrl, { directoryKey: (cascade as Cascade).directoryKey });
    assert.deepEqual(await target.gateway.mailbox(forgeryTarget), []);
    console.log(
      `honest traffic: ${sent.length} messages acknowledged and delivered once (before ${phases.before}, during ${phases.during}, after ${phases.after} the attacks)`,
    );
  });
});
