/**
 * The n − 1 attacker in front of layer 1 (compose profile `attack`, never started by default).
 * Registered nowhere itself: the experiment points layer 1's advertised URL at it
 * (MIXLAB_LAYER_1_URL=http://n1-proxy:8080), so every request to the layer-1 node goes through
 * it, as through a router the adversary owns, and it passes them to UPSTREAM_URL.
 */
import { cryptoReady, generateKeyPair, randomBytes } from '@mixlab/crypto';
import { encodeFrames, PACKET_FORMAT_NAMES, packetFormat } from '@mixlab/packet';
import { envChoice, envInt, envUrl, listenUntilSignalled } from '@mixlab/service-kit';
import { fetchSignedTopology, toTopology } from '@mixlab/topology';
import { Registry } from 'prom-client';
import { N1Attack } from './n1-attack.ts';
import { buildServer } from './server.ts';

await cryptoReady();
const env = process.env;
const upstreamUrl = envUrl(env, 'UPSTREAM_URL', 'http://mix-layer-1:8080');
const directoryUrl = envUrl(env, 'DIRECTORY_URL', 'http://directory:8080');
const threshold = envInt(env, 'THRESHOLD', 3, 1, 100_000);
const port = envInt(env, 'PORT', 8080, 1, 65_535);
const format = packetFormat(envChoice(env, 'PACKET_FORMAT', PACKET_FORMAT_NAMES, 'sphinx'));
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

const attack = new N1Attack({
  threshold,
  pass: post,
  inject: async (count) => {
    const topology = toTopology((await fetchSignedTopology(directoryUrl)).document, 'current');
    const route = topology.layers.map((nodes) => {
      const node = nodes[0];
      if (!node) throw new Error('a layer has no node yet');
      return { id: node.id, publicKey: Buffer.from(node.publicKey, 'hex') };
    });
    const gateway = topology.gateways[0];
    if (!gateway) throw new Error('no gateway registered');
    const packets = Array.from({ length: count }, () =>
      format.wrap(route, { gateway: gateway.id, recipient: own.publicKey }, randomBytes(32)),
    );
    await post('/v1/packets', encodeFrames(packets));
  },
});

const app = buildServer({
  attack,
  registry: new Registry(),
  ownRecipient: Buffer.from(own.publicKey).toString('hex'),
  maxRequestBytes: 64 * 1024 * 1024,
  logger: { level: 'info', base: { service: 'n1-proxy' } },
});
await listenUntilSignalled(app, port);
app.log.info(
  { upstreamUrl, threshold, ownRecipient: Buffer.from(own.publicKey).toString('hex') },
  'n − 1 proxy listening',
);
