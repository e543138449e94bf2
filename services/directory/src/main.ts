import { join } from 'node:path';
import { cryptoBackend, cryptoReady } from '@mixlab/crypto';
import { createServiceRegistry, directoryMetrics } from '@mixlab/metrics';
import { listenUntilSignalled, openStateOrExit, readConfigOrExit } from '@mixlab/service-kit';
import { readDirectoryConfig } from './config.ts';
import { loadOrCreateDirectoryKey } from './directory-key.ts';
import { EnrollmentDirectory, type EnrollmentReading, readEnrollmentFolder } from './enrollment.ts';
import { NodeRegistry } from './node-registry.ts';
import { SqliteRegistryStore } from './registry-store.ts';
import { buildServer } from './server.ts';

const config = readConfigOrExit('directory', () => readDirectoryConfig(process.env));
await cryptoReady();
const key = await loadOrCreateDirectoryKey(config.dataDir);

// Readings before the app (and its log) exist are logged once it does.
let onReading = (reading: EnrollmentReading, _changed: boolean) => void earlyReadings.push(reading);
const earlyReadings: EnrollmentReading[] = [];
const enrollment = new EnrollmentDirectory({
  read: () => readEnrollmentFolder(config.enrollmentDir),
  now: () => performance.now(),
  // Unknown keys make it read again, at most this often: nodes retry their registration every second.
  minRereadMs: 500,
  onReading: (reading, changed) => onReading(reading, changed),
});
await enrollment.reload();

const registry = createServiceRegistry({ node: 'directory' });
// Registrations on the data volume: a restarted directory serves the topology it knew at once.
const registryFile = join(config.dataDir, 'registry.sqlite');
const { nodes, store } = openStateOrExit('directory', () => {
  const { store } = SqliteRegistryStore.open(registryFile);
  const nodes = new NodeRegistry({
    layerCount: config.layerCount,
    // Genesis at the Unix epoch: every service configured with the same length agrees on epoch numbers.
    schedule: { genesisMs: 0, lengthMs: config.epochLengthMs },
    livenessTimeoutMs: config.livenessTimeoutMs,
    maxSkewMs: config.maxSkewMs,
    enrollment,
    store,
    // Accepted anyway: heartbeats renew every registration within seconds.
    onStoreError: (error) =>
      app.log.error({ err: error, registryFile }, 'a registration could not be saved; a restart may not know it'),
  });
  return { nodes, store };
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
if (key.legacy)
  app.log.info(
    { keyPath: key.keyPath },
    'the directory key file is in the format from before mixlab-key v1: still read, kept as it is',
  );
const origin = key.created ? 'created now' : `kept from ${key.keyPath}`;
app.log.info(
  { directoryKey: key.publicKeyHex, publicKeyFile: key.publicKeyPath, keyFile: key.keyPath, created: key.created },
  `directory public key ${key.publicKeyHex} (${origin}): it signs every topology; clients pin it and refuse ` +
    `topologies signed by any other key (CLI: --directory-key or MIXLAB_DIRECTORY_KEY; also in ${key.publicKeyPath})`,
);
onReading = (reading, changed) => {
  const details = { enrollmentDir: config.enrollmentDir, enrolled: [...reading.keys.keys()] };
  if (changed) app.log.info(details, 'enrollment read: only these ids may register, each with its enrolled key');
  for (const problem of reading.problems)
    app.log.warn({ enrollmentDir: config.enrollmentDir, problem }, 'enrollment file not used');
};
for (const reading of earlyReadings) onReading(reading, true);
const { restored } = nodes;
app.log.info(
  { registryFile, nodes: restored.nodes, gateways: restored.gateways, alive: nodes.liveness() },
  'registrations taken back from before the restart',
);
for (const node of restored.forgotten) app.log.info(node, 'stored registration forgotten');
await listenUntilSignalled(app, config.port, () => store.close());
app.log.info(
  {
    port: config.port,
    layers: config.layerCount,
    epochLengthMs: config.epochLengthMs,
    epoch: nodes.epoch(),
    livenessTimeoutMs: config.livenessTimeoutMs,
    maxSkewMs: config.maxSkewMs,
    enrollmentDir: config.enrollmentDir,
    enrolled: enrollment.size,
    crypto: cryptoBackend(),
  },
  'directory ready',
);
