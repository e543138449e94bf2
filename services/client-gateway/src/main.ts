import { join } from 'node:path';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import { loadOrCreateKeyFile } from '@mixlab/runtime';
import {
  enrollSelf,
  FORWARDING_SENDER,
  FrameSender,
  keepRegistered,
  LinkIdentity,
  LinkReceiver,
  linkRejectedCounter,
  listenUntilSignalled,
  openStateOrExit,
  readConfigOrExit,
  serviceTap,
  topologySenders,
} from '@mixlab/service-kit';
import { fetchSignedTopology, issuedAtClock, signGatewayDescriptor, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { buildDeliveryServer } from './delivery-server.ts';
import { startHeapReducer } from './heap-reducer.ts';
import { Mailboxes } from './mailboxes.ts';
import { TokenBuckets } from './rate-limit.ts';
import { buildServer } from './server.ts';
import { Sessions } from './sessions.ts';

const config = readConfigOrExit('client-gateway', () => readConfig(process.env));
await cryptoReady();
const registry = createServiceRegistry({ node: 'gateway' });
const metrics = gatewayMetrics(registry);
// Long-term identity on the data volume: it signs every registration; the directory binds the gateway id to it.
const identity = await loadOrCreateKeyFile(config.identityKeyFile, 'ed25519', {
  name: 'gateway identity key',
  ifReplaced:
    'the directory refuses the new key under this GATEWAY_ID until an operator enrolls it in place of the old one',
});
const identityKey = toHex(identity.keys.publicKey);
// Written before registering, so that the directory finds it when the registration arrives.
const enrollFile =
  config.enrollDir === undefined
    ? undefined
    : await enrollSelf(config.enrollDir, config.gatewayId, identity.keys.publicKey);
// Messages wait here, on the data volume, until their recipients acknowledge them.
const mailboxFile = join(config.dataDir, 'mailboxes.sqlite');
const { mailboxes, opened } = openStateOrExit('client-gateway', () =>
  Mailboxes.open(mailboxFile, {
    maxPerMailbox: config.maxMessagesPerMailbox,
    maxBytesPerMailbox: config.maxBytesPerMailbox,
    onRefused: (limit) => metrics.mailboxLimits.inc({ limit }),
    onCommit: ({ durability }) => metrics.mailboxCommits.inc({ durability }),
    maxMailboxes: config.maxMailboxes,
    maxBytes: config.maxStoredBytes,
  }),
);
// The observer's tap sees every link of the gateway: clients' submissions and pushes, forwards to layer 1.
const tap = serviceTap(config.tapAddress, config.advertisedUrl);
const linkIdentity = new LinkIdentity(config.gatewayId, identity.keys);
const sender = new FrameSender({
  ...FORWARDING_SENDER,
  tap,
  maxPendingFrames: config.maxPendingFrames,
  link: { identity: linkIdentity, now: Date.now },
});
let registered = false;
// Clients get the signed document unchanged; first hops and exit nodes are checked against it.
const topology = new TopologyCache(() => fetchSignedTopology(config.directoryUrl), {
  maxAgeMs: 2_000,
  refetchAfterMs: 1_000,
  // Refreshed in the background: no submit waits for the directory every 2 s.
  serveStaleMs: 10_000,
});
const logger = { level: config.logLevel, base: { node: 'gateway' } };
const deliveries = buildDeliveryServer({
  mailboxes,
  registry,
  metrics,
  maxPacketBytes: config.maxPacketBytes,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  link: new LinkReceiver({
    identity: linkIdentity,
    findSender: topologySenders(topology),
    now: Date.now,
    rejected: linkRejectedCounter(registry),
  }),
  isReady: () => registered,
  logger,
});
const app = await buildServer({
  identity: { publicKey: identity.keys.publicKey, privateKey: identity.keys.secretKey },
  mailboxes,
  sessions: new Sessions({ maxSessions: config.maxSessions }),
  topology,
  send: (url, frames, receiver) => sender.send(url, frames, receiver),
  tap,
  info: { gatewayId: config.gatewayId, packetFormat: config.packetFormat },
  isReady: () => registered,
  metrics,
  loops: loopMetrics(registry, 'client'),
  maxPacketBytes: config.maxPacketBytes,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  maxSubmitsInFlight: config.maxSubmitsInFlight,
  maxSubmitsInFlightPerClient: config.maxSubmitsInFlightPerClient,
  rateLimit:
    config.rateLimitKey === 'off'
      ? undefined
      : { key: config.rateLimitKey, buckets: new TokenBuckets(config.rateLimit, () => performance.now()) },
  logger,
});
const stopping = new AbortController();
// What a flood made V8 commit goes back once it is over (heap-reducer.ts says why it would not by itself).
const MiB = 2 ** 20;
const stopHeapReducer = startHeapReducer(
  (r) =>
    app.log.info(
      {
        heapMiB: [r.heapBefore / MiB, r.heapAfter / MiB].map(Math.round),
        rssMiB: [r.rssBefore / MiB, r.rssAfter / MiB].map(Math.round),
        ms: Math.round(r.ms),
      },
      'heap reduced',
    ),
  (error) => app.log.warn({ err: error }, 'heap reduction failed'),
);
await deliveries.listen({ host: '0.0.0.0', port: config.deliveryPort });
await listenUntilSignalled(app, config.port, async () => {
  stopping.abort();
  await deliveries.close();
  stopHeapReducer();
  await sender.close();
  mailboxes.close();
  tap?.close();
});
app.log.info(
  {
    directory: config.directoryUrl,
    gatewayId: config.gatewayId,
    identityKey,
    identityKeyFile: identity.path,
    identityCreated: identity.created,
    enrollFile,
    deliveryPort: config.deliveryPort,
    mailboxFile,
    created: opened.created,
    messages: mailboxes.size,
    bytes: mailboxes.bytes,
  },
  'client gateway listening',
);
if (opened.permissionsTightened)
  app.log.warn({ mailboxFile }, 'the mailbox file was readable by others; its mode is now 0600');
if (identity.permissionsTightened)
  app.log.warn(
    { identityKeyFile: identity.path },
    'the identity key file was readable by others; its mode is now 0600',
  );
const issuedAt = issuedAtClock(Date.now);
await keepRegistered(
  `${config.directoryUrl}/v1/gateways`,
  // Signed afresh for every POST: the directory refuses a descriptor not issued after the last.
  () =>
    signGatewayDescriptor(
      { id: config.gatewayId, url: config.advertisedUrl, identityKey, issuedAt: issuedAt() },
      identity.keys.secretKey,
    ),
  { retryMs: 1_000, refreshMs: 30_000, signal: stopping.signal, logger: app.log },
);
registered = true;
