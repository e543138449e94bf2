import { cryptoBackend, cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { createServiceRegistry, loopAlarmMetrics, loopMetrics, mixNodeMetrics } from '@mixlab/metrics';
import { createStrategy, formatStrategyConfig } from '@mixlab/mixing';
import { packetFormat } from '@mixlab/packet';
import { monotonicClock, secureRandom, wallClock } from '@mixlab/runtime';
import {
  enrollSelf,
  FrameSender,
  keepRegistered,
  LinkIdentity,
  LinkReceiver,
  linkRejectedCounter,
  listenUntilSignalled,
  NODE_FORWARDING_SENDER,
  openStateOrExit,
  type Registration,
  readConfigOrExit,
  serviceTap,
  topologySenders,
} from '@mixlab/service-kit';
import { fetchSignedTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { DescriptorSigner } from './descriptor.ts';
import { identityPath, loadOrCreateIdentity } from './identity.ts';
import { keyLifetimeMs } from './key-schedule.ts';
import { LoopCover, topologyForEpoch } from './loop-cover.ts';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { mixingKeysPath, SqliteMixingKeyStore } from './mixing-key-store.ts';
import { MixingKeys } from './mixing-keys.ts';
import { nextHops } from './next-hop.ts';
import { createPeeler, measurePeelRate } from './peeler.ts';
import { replayFilterSize } from './replay-filter.ts';
import { buildServer } from './server.ts';

const config = readConfigOrExit('mix-node', () => readConfig(process.env));
await cryptoReady();

// Long-term identity (kept on the data volume) and per-epoch mixing keys on the directory's schedule.
const identityFile = identityPath(config.dataDir, config.nodeId);
const identity = await loadOrCreateIdentity(identityFile);
// Written before registering, so that the directory finds it when the registration arrives.
const enrollFile =
  config.enrollDir === undefined
    ? undefined
    : await enrollSelf(config.enrollDir, config.nodeId, identity.keys.publicKey);
const keySchedule = {
  epochs: { genesisMs: 0, lengthMs: config.epochLengthMs },
  graceMs: config.keyGraceMs,
  nextKeyWindowMs: config.nextKeyWindowMs,
};
// Kept next to it, so a restarted node still opens packets wrapped to the keys it published.
const mixingKeyFile = mixingKeysPath(config.dataDir, config.nodeId);
const { mixingKeys, keyStore, keyFile } = openStateOrExit('mix-node', () => {
  const { store, opened } = SqliteMixingKeyStore.open(mixingKeyFile);
  const keys = new MixingKeys(keySchedule, wallClock, { store });
  return { mixingKeys: keys, keyStore: store, keyFile: opened };
});
// Each epoch's replay filter holds what one key can open over its life at full speed: no
// sender gets more packets than that past the MAC, so flooding cannot push the
// false-positive rate past the stated one.
const replayRate = config.replayRatePerSecond ?? measurePeelRate(config.packetFormat, config.workers, monotonicClock);
const replaySize = replayFilterSize(
  Math.ceil((replayRate * keyLifetimeMs(keySchedule)) / 1000),
  config.replayFalsePositiveRate,
);
const descriptors = new DescriptorSigner({
  id: config.nodeId,
  layer: config.layer,
  url: config.advertisedUrl,
  identity: identity.keys,
  mixingKeys: () => mixingKeys.published(),
  now: Date.now,
  strategy: formatStrategyConfig(config.strategy),
});

const registry = createServiceRegistry({ node: config.nodeId, layer: String(config.layer) });
const metrics = mixNodeMetrics(registry);
// The observer's tap sees what this node sends, named as the directory publishes this node (its URL).
const tap = serviceTap(config.tapAddress, config.advertisedUrl);
// Every request to another service goes as a link box from this node's identity (link-box.ts).
const linkIdentity = new LinkIdentity(config.nodeId, identity.keys);
const sender = new FrameSender({
  ...NODE_FORWARDING_SENDER,
  tap,
  maxPendingFrames: config.maxPendingFrames,
  link: { identity: linkIdentity, now: Date.now },
});
// The signed document, unverified: next hops and gateways are looked up in it (a forged one
// could only misdirect packets encrypted to keys their senders chose), loops wrapped with it.
const topology = new TopologyCache(() => fetchSignedTopology(config.directoryUrl), {
  maxAgeMs: Math.min(30_000, Math.floor(config.epochLengthMs / 4)),
  refetchAfterMs: 1_000,
  // Refreshed in the background: no batch waits for the directory at every refresh.
  serveStaleMs: 30_000,
});
const peeler = createPeeler(
  { format: config.packetFormat, keys: mixingKeys.keySet(), replay: replaySize, maxPacketBytes: config.maxPacketBytes },
  config.workers,
);
const node = new MixNode({
  peeler,
  keys: mixingKeys.keySet(),
  clock: monotonicClock,
  metrics,
  // exponential:delay=sender holds each packet for the delay its sender put in it; 0 (or
  // none, as in onion) leaves the choice to the node, i.e. a drawn delay when `mean` is set.
  createStrategy: ({ release }) =>
    createStrategy<PooledPacket>(
      config.strategy,
      { clock: monotonicClock, random: secureRandom, release },
      { delayOf: (packet) => packet.peeled.delayMs || undefined },
    ),
  resolve: nextHops(topology),
  send: (url, frames, receiver) => sender.send(url, frames, receiver),
  deliveryPayloadBytes: packetFormat(config.packetFormat).deliveryPayloadBytes,
  logger: { warn: (details, message) => app.log.warn(details, message) },
});

// Loop ids are sealed to a key of the cover's own, so a loop opens whatever rotated meanwhile.
const loopKeys = generateKeyPair();
const loops = { ...loopMetrics(registry, 'node'), ...loopAlarmMetrics(registry) };
const loopCover = new LoopCover({
  nodeId: config.nodeId,
  layer: config.layer,
  keys: loopKeys,
  format: packetFormat(config.packetFormat),
  rate: config.loopRate,
  timeoutMs: config.loopTimeoutMs,
  alarm: config.loopAlarm,
  clock: monotonicClock,
  random: secureRandom,
  topology: async () => topologyForEpoch(await topology.document(), mixingKeys.current),
  enqueue: (packet) => node.inject(packet),
  metrics: loops,
  logger: {
    warn: (details, message) => app.log.warn(details, message),
    info: (details, message) => app.log.info(details, message),
  },
});

let registration: Registration | undefined;
const app = buildServer({
  node,
  registry,
  requestsRejected: metrics.requestsRejected,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  maxPacketBytes: config.maxPacketBytes,
  isReady: () => registration !== undefined,
  acceptDelivery: (delivery) =>
    Buffer.from(delivery.recipient).equals(loopKeys.publicKey) && loopCover.returned(delivery.payload),
  link: {
    receiver: new LinkReceiver({
      identity: linkIdentity,
      findSender: topologySenders(topology),
      now: Date.now,
      rejected: linkRejectedCounter(registry),
    }),
    layer: config.layer,
  },
  logger: { level: config.logLevel, base: { node: config.nodeId, layer: config.layer } },
});

const stopping = new AbortController();
await listenUntilSignalled(app, config.port, async () => {
  stopping.abort();
  mixingKeys.stop();
  loopCover.stop();
  const dropped = await node.stop();
  if (dropped > 0) app.log.warn({ dropped }, 'packets still pooled at shutdown were dropped');
  await Promise.all([sender.close(), peeler.close()]);
  keyStore.close();
  tap?.close();
});
app.log.info(
  {
    strategy: formatStrategyConfig(config.strategy),
    format: config.packetFormat,
    workers: config.workers,
    crypto: cryptoBackend(),
    loopRate: config.loopRate,
    loopAlarm: config.loopAlarm,
    identityKey: descriptors.identityKey,
    identityFile,
    identityCreated: identity.created,
    identityLegacyFormat: identity.legacy,
    enrollFile,
    epochLengthMs: config.epochLengthMs,
    keyGraceMs: config.keyGraceMs,
    nextKeyWindowMs: config.nextKeyWindowMs,
    epoch: mixingKeys.current,
    replayFilter: {
      ratePerSecond: replayRate,
      rateMeasured: config.replayRatePerSecond === undefined,
      entries: replaySize.entries,
      falsePositiveRate: replaySize.falsePositiveRate,
      bytes: replaySize.bits / 8,
      hashes: replaySize.hashes,
    },
    mixingKeyFile,
    mixingKeysRestored: mixingKeys.restored,
  },
  'mix node listening',
);
if (keyFile.permissionsTightened)
  app.log.warn({ mixingKeyFile }, 'the mixing key file was readable by others; its mode is now 0600');
if (identity.permissionsTightened)
  app.log.warn({ identityFile }, 'the identity key file was readable by others; its mode is now 0600');
if (identity.legacy)
  app.log.info(
    { identityFile },
    'the identity key file is in the format from before mixlab-key v1: still read, kept as it is',
  );

// Rotate at every boundary and grace expiry; publish the new keys right away.
mixingKeys.start((change) => {
  node.setKeys(mixingKeys.keySet());
  const { saveError, ...changed } = change;
  app.log.info({ epoch: mixingKeys.current, ...changed }, 'mixing keys changed');
  if (saveError)
    app.log.error(
      { err: saveError, mixingKeyFile, epochs: change.added },
      'new mixing keys could not be saved: they are used, but a restart before they expire makes packets wrapped to them unopenable',
    );
  if (change.rotated) registration?.refresh();
});

registration = await keepRegistered(`${config.directoryUrl}/v1/nodes`, () => descriptors.sign(), {
  retryMs: 1_000,
  refreshMs: config.heartbeatMs,
  signal: stopping.signal,
  logger: app.log,
});
loopCover.start();
