import { cryptoReady, generateKeyPair, toHex } from '@mixlab/crypto';
import { createServiceRegistry, loopMetrics, mixNodeMetrics } from '@mixlab/metrics';
import { createStrategy, formatStrategyConfig, secureRng, systemClock } from '@mixlab/mixing';
import { packetFormat } from '@mixlab/packet';
import { FrameSender, keepRegistered, listenUntilSignalled } from '@mixlab/service-kit';
import { fetchTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { LoopCover } from './loop-cover.ts';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { createPeeler } from './peeler.ts';
import { ReplayCache } from './replay-cache.ts';
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
const peeler = createPeeler(
  { format: config.packetFormat, keys, maxPacketBytes: config.maxPacketBytes },
  config.workers,
);
const node = new MixNode({
  peeler,
  replayCache: new ReplayCache({ maxEntriesPerEpoch: config.replayCacheEntries }),
  // One key for the node's lifetime until keys rotate per epoch (directory epochs).
  epoch: () => 0,
  clock: systemClock,
  metrics: mixNodeMetrics(registry),
  // exponential:delay=sender holds each packet for the delay its sender put in it; 0 (or
  // none, as in onion) leaves the choice to the node, i.e. a drawn delay when `mean` is set.
  createStrategy: ({ release }) =>
    createStrategy<PooledPacket>(
      config.strategy,
      { clock: systemClock, rng: secureRng, release },
      { delayOf: (packet) => packet.peeled.delayMs || undefined },
    ),
  resolveNode: async (id) => (await topology.find(id))?.url,
  // A mix node's id names it as the destination of its own loops.
  resolveGateway: async (id) => (await topology.findGateway(id))?.url ?? (await topology.find(id))?.url,
  send: (url, frames) => sender.send(url, frames),
  logger: { warn: (details, message) => app.log.warn(details, message) },
});

const loops = loopMetrics(registry, 'node');
const loopCover = new LoopCover({
  nodeId: config.nodeId,
  layer: config.layer,
  keys,
  format: packetFormat(config.packetFormat),
  rate: config.loopRate,
  timeoutMs: config.loopTimeoutMs,
  clock: systemClock,
  rng: secureRng,
  topology: () => topology.current(),
  send: (url, frames) => sender.send(url, frames),
  metrics: loops,
  logger: { warn: (details, message) => app.log.warn(details, message) },
});

let registered = false;
const app = buildServer({
  node,
  registry,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  maxPacketBytes: config.maxPacketBytes,
  isReady: () => registered,
  acceptDelivery: (delivery) =>
    Buffer.from(delivery.recipient).equals(keys.publicKey) && loopCover.returned(delivery.payload),
  logger: { level: config.logLevel, base: { node: config.nodeId, layer: config.layer } },
});

const stopping = new AbortController();
await listenUntilSignalled(app, config.port, async () => {
  stopping.abort();
  loopCover.stop();
  const dropped = await node.stop();
  if (dropped > 0) app.log.warn({ dropped }, 'packets still pooled at shutdown were dropped');
  await Promise.all([sender.close(), peeler.close()]);
});
app.log.info(
  {
    strategy: formatStrategyConfig(config.strategy),
    format: config.packetFormat,
    workers: config.workers,
    loopRate: config.loopRate,
  },
  'mix node listening',
);

await keepRegistered(
  `${config.directoryUrl}/v1/nodes`,
  { id: config.nodeId, layer: config.layer, url: config.advertisedUrl, publicKey: toHex(keys.publicKey) },
  { retryMs: 1_000, refreshMs: 30_000, signal: stopping.signal, logger: app.log },
);
registered = true;
loopCover.start();
