import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One registry per service. `labels` (node, layer) go on every series the
 * service exports, so dashboards can split by them; keep them bounded.
 *
 * prom-client's default process metrics include gauges named `*_total`
 * (nodejs_active_handles_total, _requests_total, _resources_total), a suffix
 * that marks counters: `promtool check metrics` refuses them. They are the sums
 * of the per-type gauges exported beside them (`sum(...nodejs_active_handles)`),
 * so they are left out rather than renamed.
 */
export function createServiceRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, prefix: 'mixlab_process_' });
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    if (type !== 'counter' && name.endsWith('_total')) registry.removeSingleMetric(name);
  }
  return registry;
}
