import { cryptoBackend, cryptoReady } from '@mixlab/crypto';
import { createServiceRegistry, directoryMetrics } from '@mixlab/metrics';
import { listenUntilSignalled } from '@mixlab/service-kit';
import { readDirectoryConfig } from './config.ts';
import { loadOrCreateDirectoryKey } from './directory-key.ts';
import { NodeRegistry } from './node-registry.ts';
import { buildServer } from './server.ts';

const config = readDirectoryConfig(process.env);
await cryptoReady();
const key = await loadOrCreateDirectoryKey(config.dataDir);

const registry = createServiceRegistry({ node: 'directory' });
const nodes = new NodeRegistry({
  layerCount: config.layerCount,
  // Genesis at the Unix epoch: every service configured with the same length agrees on epoch numbers.
  schedule: { genesisMs: 0, lengthMs: config.epochLengthMs },
  livenessTimeoutMs: config.livenessTimeoutMs,
  maxSkewMs: config.maxSkewMs,
});
const app = buildServer({
  nodes,
  directoryKey: key.keyPair,
  registry,
  metrics: directoryMetrics(registry, config.layerCount),
  logger: { level: config.logLevel },
});
if (key.permissionsTightened)
  app.log.warn({ keyPath: key.keyPath }, 'the directory key file was readable by others; its mode is now 0600');
const origin = key.created ? 'created now' : `kept from ${key.keyPath}`;
app.log.info(
  { directoryKey: key.publicKeyHex, publicKeyFile: key.publicKeyPath, keyFile: key.keyPath, created: key.created },
  `directory public key ${key.publicKeyHex} (${origin}): it signs every topology; clients pin it and refuse ` +
    `topologies signed by any other key (CLI: --directory-key or MIXLAB_DIRECTORY_KEY; also in ${key.publicKeyPath})`,
);
await listenUntilSignalled(app, config.port);
app.log.info(
  {
    port: config.port,
    layers: config.layerCount,
    epochLengthMs: config.epochLengthMs,
    epoch: nodes.epoch(),
    livenessTimeoutMs: config.livenessTimeoutMs,
    maxSkewMs: config.maxSkewMs,
    crypto: cryptoBackend(),
  },
  'directory ready',
);
