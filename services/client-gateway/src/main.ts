import { createServiceRegistry, gatewayMetrics } from '@mixlab/metrics';
import { FrameSender, listenUntilSignalled } from '@mixlab/service-kit';
import { fetchTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { Mailboxes } from './mailboxes.ts';
import { buildServer } from './server.ts';

const config = readConfig(process.env);
const registry = createServiceRegistry({ node: 'gateway' });
const sender = new FrameSender({ connections: 8, attempts: 3, timeoutMs: 10_000 });
const app = await buildServer({
  mailboxes: new Mailboxes({ maxPerMailbox: config.maxMessagesPerMailbox, maxMailboxes: config.maxMailboxes }),
  topology: new TopologyCache(() => fetchTopology(config.directoryUrl), { maxAgeMs: 2_000, refetchAfterMs: 1_000 }),
  send: (url, frames) => sender.send(url, frames),
  info: { deliveryUrl: config.deliveryUrl, packetFormat: config.packetFormat },
  registry,
  metrics: gatewayMetrics(registry),
  maxPacketBytes: config.maxPacketBytes,
  maxPacketsPerRequest: config.maxPacketsPerRequest,
  logger: { level: config.logLevel, base: { node: 'gateway' } },
});
await listenUntilSignalled(app, config.port, () => sender.close());
app.log.info({ directory: config.directoryUrl, deliveryUrl: config.deliveryUrl }, 'client gateway ready');
