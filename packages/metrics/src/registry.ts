import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One registry per service. `labels` (node, layer) go on every series the
 * service exports, so dashboards can split by them; keep them bounded.
 */
export function createServiceRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'mixlab_process_' });
  return registry;
}
