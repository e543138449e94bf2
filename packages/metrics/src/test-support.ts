import type { Registry } from 'prom-client';

/**
 * The value of the one series of `name` (histogram parts by their full name, e.g.
 * `mixlab_batch_size_sum`) whose labels include `labels`; throws unless exactly one
 * matches. For tests that read a service's registry directly (`@mixlab/metrics/test-support`).
 */
export async function seriesValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = (await registry.getMetricsAsJSON()).flatMap((metric) =>
    metric.values.map((value) => ({
      value: value.value,
      labels: value.labels as Record<string, unknown>,
      name: (value as { metricName?: string }).metricName ?? metric.name,
    })),
  );
  const matching = values.filter(
    (value) =>
      value.name === name && Object.entries(labels).every(([label, wanted]) => String(value.labels[label]) === wanted),
  );
  if (matching.length !== 1) {
    throw new Error(`expected exactly one ${name} series for ${JSON.stringify(labels)}, found ${matching.length}`);
  }
  return (matching[0] as { value: number }).value;
}
