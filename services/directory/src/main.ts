import { createServiceRegistry, directoryMetrics } from '@mixlab/metrics';
import { envInt, listenUntilSignalled } from '@mixlab/service-kit';
import { NodeRegistry } from './node-registry.ts';
import { buildServer } from './server.ts';

const config = {
  port: envInt(process.env, 'PORT', 8080, 1, 65535),
  layerCount: envInt(process.env, 'LAYERS', 3, 1, 16),
};

const registry = createServiceRegistry({ node: 'directory' });
const app = buildServer({
  nodes: new NodeRegistry(config.layerCount),
  registry,
  metrics: directoryMetrics(registry),
  logger: { level: process.env.LOG_LEVEL ?? 'info' },
});
await listenUntilSignalled(app, config.port);
app.log.info({ layers: config.layerCount }, 'directory ready');
