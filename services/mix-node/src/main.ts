import { cryptoReady, generateKeyPair, toHex } from '@mixlab/crypto';
import { createServiceRegistry, mixNodeMetrics } from '@mixlab/metrics';
import { createStrategy, formatStrategyConfig, secureRng, systemClock } from '@mixlab/mixing';
import { packetFormat } from '@mixlab/packet';
import { FrameSender, listenUntilSignalled } from '@mixlab/service-kit';
import { fetchTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { keepRegistered } from './registration.ts';
import { buildServer } from './server.ts';

const config = readConfig(process.env);
await cryptoReady();
const keys = generateKeyPair();

const registry = createServiceRegistry({ node: config.nodeId, layer: String(config.layer) });
const sender = new FrameSender({ connections: 8, attempts: 3, timeoutMs: 10_000 });
const topology = new TopologyCache(() => fetchTopology(config.directoryUrl), {
  maxAgeMs: 30_000,
  refetchAfterMs: 1_000,
});
const node = new MixNode({
  keys,
  format: packetFormat(config.packetFormat),
  clock: systemClock,
  metrics: mixNodeMetrics(registry),
  createStrategy: ({ release }) =>
    createStrategy<PooledPacket>(config.strategy, { clock: systemClock, rng: secureRng, release }),
  resolveNode: async (id) => (await topology.find(id))?.url,
  send: (url, frames) => sender.send(url, frames),
  maxPacketBytes: config.maxPacketBytes,
  logger: { warn: (details, message) => app.log.warn(details, message) },
});

let registered = false;
const app = buildServer({
  node,
  registry,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  maxPacketBytes: config.maxPacketBytes,
  isReady: () => registered,
  logger: { level: config.logLevel, base: { node: config.nodeId, layer: config.layer } },
});

const stopping = new AbortController();
await listenUntilSignalled(app, config.port, async () => {
  stopping.abort();
  const dropped = await node.stop();
  if (dropped > 0) app.log.warn({ dropped }, 'packets still pooled at shutdown were dropped');
  await sender.close();
});
app.log.info({ strategy: formatStrategyConfig(config.strategy), format: config.packetFormat }, 'mix node listening');

await keepRegistered(
  config.directoryUrl,
  { id: config.nodeId, layer: config.layer, url: config.advertisedUrl, publicKey: toHex(keys.publicKey) },
  { retryMs: 1_000, refreshMs: 30_000, signal: stopping.signal, logger: app.log },
);
registered = true;
