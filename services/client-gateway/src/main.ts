import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import { FORWARDING_SENDER, FrameSender, keepRegistered, listenUntilSignalled } from '@mixlab/service-kit';
import { fetchSignedTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { Mailboxes } from './mailboxes.ts';
import { buildServer } from './server.ts';

const config = readConfig(process.env);
const registry = createServiceRegistry({ node: 'gateway' });
const sender = new FrameSender(FORWARDING_SENDER);
let registered = false;
const app = await buildServer({
  mailboxes: new Mailboxes({ maxPerMailbox: config.maxMessagesPerMailbox, maxMailboxes: config.maxMailboxes }),
  // Clients get the signed document unchanged; first hops are checked against its routes.
  topology: new TopologyCache(() => fetchSignedTopology(config.directoryUrl), {
    maxAgeMs: 2_000,
    refetchAfterMs: 1_000,
    // Refreshed in the background: no submit waits for the directory every 2 s.
    serveStaleMs: 10_000,
  }),
  send: (url, frames) => sender.send(url, frames),
  info: { gatewayId: config.gatewayId, packetFormat: config.packetFormat },
  isReady: () => registered,
  registry,
  metrics: gatewayMetrics(registry),
  loops: loopMetrics(registry, 'client'),
  maxPacketBytes: config.maxPacketBytes,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
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
