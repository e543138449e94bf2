import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import { FrameSender, keepRegistered, listenUntilSignalled, readConfigOrExit } from '@mixlab/service-kit';
import { fetchSignedTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { Mailboxes } from './mailboxes.ts';
import { TokenBuckets } from './rate-limit.ts';
import { buildServer } from './server.ts';

const config = readConfigOrExit('client-gateway', () => readConfig(process.env));
const registry = createServiceRegistry({ node: 'gateway' });
const sender = new FrameSender({
  connections: 8,
  attempts: 3,
  timeoutMs: 10_000,
  maxPendingFrames: config.maxPendingFrames,
});
let registered = false;
const app = await buildServer({
  mailboxes: new Mailboxes({ maxPerMailbox: config.maxMessagesPerMailbox, maxMailboxes: config.maxMailboxes }),
  // Clients get the signed document unchanged; first hops are checked against its routes.
  topology: new TopologyCache(() => fetchSignedTopology(config.directoryUrl), {
    maxAgeMs: 2_000,
    refetchAfterMs: 1_000,
  }),
  send: (url, frames) => sender.send(url, frames),
  info: { gatewayId: config.gatewayId, packetFormat: config.packetFormat },
  isReady: () => registered,
  registry,
  metrics: gatewayMetrics(registry),
  loops: loopMetrics(registry, 'client'),
  maxPacketBytes: config.maxPacketBytes,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  maxSubmitsInFlight: config.maxSubmitsInFlight,
  maxSubmitsInFlightPerClient: config.maxSubmitsInFlightPerClient,
  rateLimit:
    config.rateLimitKey === 'off'
      ? undefined
      : { key: config.rateLimitKey, buckets: new TokenBuckets(config.rateLimit, () => performance.now()) },
  logger: { level: config.logLevel, base: { node: 'gateway' } },
});
const stopping = new AbortController();
await listenUntilSignalled(app, config.port, async () => {
  stopping.abort();
  await sender.close();
});
app.log.info({ directory: config.directoryUrl, gatewayId: config.gatewayId }, 'client gateway listening');
await keepRegistered(
  `${config.directoryUrl}/v1/gateways`,
  () => ({ id: config.gatewayId, url: config.advertisedUrl }),
  { retryMs: 1_000, refreshMs: 30_000, signal: stopping.signal, logger: app.log },
);
registered = true;
