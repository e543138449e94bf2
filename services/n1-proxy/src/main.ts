/**
 * The n − 1 attacker in front of layer 1 (compose profile `attack`, never started by default).
 * Registered nowhere itself: the experiment points layer 1's advertised URL at it
 * (MIXLAB_LAYER_1_URL=http://n1-proxy:8080), so every request to the layer-1 node goes through
 * it, as through a router the adversary owns, and it passes them to UPSTREAM_URL. Links are
 * authenticated (link boxes): it cannot send to layer 1 itself, so it enters as a client,
 * through the gateway (GATEWAY_URL), and its packets come back past it sealed by the gateway.
 * In the round-based attack its eyes on the rest of the wire are the observer's taps
 * (OBSERVER_URL, GET /v1/trace): the global passive adversary's view, joined to this active one.
 */
import { entryRoundsUntilPush, type RecordedTrace, rolesOfTrace } from '@mixlab/attacks';
import { GatewayClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair, randomBytes } from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import { monotonicClock } from '@mixlab/runtime';
import { envChoice, envInt, envUrl, listenUntilSignalled } from '@mixlab/service-kit';
import { toTopology } from '@mixlab/topology';
import { Registry } from 'prom-client';
import { Agent } from 'undici';
import { N1Attack } from './n1-attack.ts';
import { buildServer, sphinxPacketsIn } from './server.ts';

await cryptoReady();
const env = process.env;
const upstreamUrl = envUrl(env, 'UPSTREAM_URL', 'http://mix-layer-1:8080');
// The attacker enters through the gateway it attacks and has nothing to verify there: it takes
// whatever key the gateway's TLS shows (an honest client checks it against the signed topology).
const gateway = new GatewayClient(
  envUrl(env, 'GATEWAY_URL', 'https://client-gateway:8080'),
  new Agent({ connect: { rejectUnauthorized: false } }),
);
const observerUrl = envUrl(env, 'OBSERVER_URL', 'http://observer:8080');
const threshold = envInt(env, 'THRESHOLD', 3, 1, 100_000);
const port = envInt(env, 'PORT', 8080, 1, 65_535);
// It counts packets by the size of requests it cannot open: only Sphinx packets have one size.
envChoice(env, 'PACKET_FORMAT', ['sphinx'], 'sphinx');
const format = sphinx;
// The attacker's own recipient: it recognises its packets at the exit by where they go.
const own = generateKeyPair();

async function post(path: string, body: Uint8Array): Promise<void> {
  const response = await fetch(`${upstreamUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body,
  });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${upstreamUrl}${path} answered ${response.status}`);
}

/** A page of the observer's trace from event `since` on. */
async function tracePage(since: number): Promise<RecordedTrace & { readonly next: number }> {
  const response = await fetch(`${observerUrl}/v1/trace?since=${since}&limit=100000`);
  if (!response.ok) throw new Error(`${observerUrl}/v1/trace answered ${response.status}`);
  return (await response.json()) as RecordedTrace & { readonly next: number };
}

const attack = new N1Attack({
  threshold,
  pass: post,
  clock: monotonicClock,
  // From just before the target passes: layer 1's releases up to the first push (every other
  // honest request is held; its own go to a mailbox it never opens). The observer records an
  // event only once its slack has passed, so the trace's end holds older events too: those
  // before the mark are left out by their time (stamped by the taps' wall clocks, this host's).
  follow: async () => {
    const markMs = Date.now();
    let next = (await tracePage(Number.MAX_SAFE_INTEGER)).next;
    const events: RecordedTrace['events'][number][] = [];
    return {
      check: async () => {
        const page = await tracePage(next);
        events.push(...page.events.filter((event) => event.atMs >= markMs));
        next = page.next;
        return entryRoundsUntilPush(events, rolesOfTrace(page));
      },
    };
  },
  // As any client: the topology and the submission through the gateway.
  inject: async (count) => {
    const topology = toTopology((await gateway.signedTopology()).document, 'current');
    const route = topology.layers.map((nodes) => {
      const node = nodes[0];
      if (!node) throw new Error('a layer has no node yet');
      return { id: node.id, publicKey: Buffer.from(node.publicKey, 'hex') };
    });
    const home = topology.gateways[0];
    if (!home) throw new Error('no gateway registered');
    const firstHop = route[0]?.id as string;
    const packets = Array.from({ length: count }, () => ({
      firstHop,
      packet: Buffer.from(format.wrap(route, { gateway: home.id, recipient: own.publicKey }, randomBytes(32))).toString(
        'base64',
      ),
    }));
    const { accepted, rejected } = await gateway.submit({ packets });
    if (accepted !== count) throw new Error(`the gateway took ${accepted} of ${count}: ${JSON.stringify(rejected)}`);
  },
});

const app = buildServer({
  attack,
  registry: new Registry(),
  ownRecipient: Buffer.from(own.publicKey).toString('hex'),
  maxRequestBytes: 64 * 1024 * 1024,
  packetsIn: (bytes) => sphinxPacketsIn(bytes, format.geometry.packetBytes),
  logger: { level: 'info', base: { service: 'n1-proxy' } },
});
await listenUntilSignalled(app, port);
app.log.info(
  { upstreamUrl, threshold, ownRecipient: Buffer.from(own.publicKey).toString('hex') },
  'n − 1 proxy listening',
);
