import { join } from 'node:path';
import { createServiceRegistry, gatewayMetrics, loopMetrics } from '@mixlab/metrics';
import {
  FORWARDING_SENDER,
  FrameSender,
  keepRegistered,
  listenUntilSignalled,
  openStateOrExit,
  readConfigOrExit,
  serviceTap,
} from '@mixlab/service-kit';
import { fetchSignedTopology, TopologyCache } from '@mixlab/topology';
import { readConfig } from './config.ts';
import { Mailboxes } from './mailboxes.ts';
import { buildServer } from './server.ts';

const config = readConfigOrExit('client-gateway', () => readConfig(process.env));
// Messages wait here, on the data volume, until their recipients acknowledge them.
const mailboxFile = join(config.dataDir, 'mailboxes.sqlite');
const { mailboxes, opened } = openStateOrExit('client-gateway', () =>
  Mailboxes.open(mailboxFile, {
    maxPerMailbox: config.maxMessagesPerMailbox,
    maxMailboxes: config.maxMailboxes,
    maxBytes: config.maxStoredBytes,
  }),
);
const registry = createServiceRegistry({ node: 'gateway' });
// The observer's tap sees every link of the gateway: clients' submissions and pushes, forwards to layer 1.
const tap = serviceTap(config.tapAddress, config.advertisedUrl);
const sender = new FrameSender({ ...FORWARDING_SENDER, tap });
let registered = false;
const app = await buildServer({
  mailboxes,
  // Clients get the signed document unchanged; first hops are checked against its routes.
  topology: new TopologyCache(() => fetchSignedTopology(config.directoryUrl), {
    maxAgeMs: 2_000,
    refetchAfterMs: 1_000,
    // Refreshed in the background: no submit waits for the directory every 2 s.
    serveStaleMs: 10_000,
  }),
  send: (url, frames) => sender.send(url, frames),
  tap,
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
  mailboxes.close();
  tap?.close();
});
app.log.info(
  {
    directory: config.directoryUrl,
    gatewayId: config.gatewayId,
    mailboxFile,
    created: opened.created,
    messages: mailboxes.size,
    bytes: mailboxes.bytes,
  },
  'client gateway listening',
);
if (opened.permissionsTightened)
  app.log.warn({ mailboxFile }, 'the mailbox file was readable by others; its mode is now 0600');
await keepRegistered(
  `${config.directoryUrl}/v1/gateways`,
  () => ({ id: config.gatewayId, url: config.advertisedUrl }),
  { retryMs: 1_000, refreshMs: 30_000, signal: stopping.signal, logger: app.log },
);
registered = true;
