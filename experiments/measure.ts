/**
 * What Prometheus saw during one strategy's run: every series is cumulative since the
 * cascade started, so instant queries at the end cover exactly that run.
 */
import { queryByLabel, queryValue, queryVector } from '@mixlab/testbed';

export interface LayerMeasurement {
  readonly layer: number;
  readonly batches: number;
  readonly meanBatchSize: number;
  /** Cumulative batch-size histogram: [upper bound, batches at or below it]. */
  readonly batchSizeBuckets: readonly (readonly [number, number])[];
  /** Per-packet mixing delay quantiles in seconds (interpolated within histogram buckets). */
  readonly mixingDelayP50: number;
  readonly mixingDelayP95: number;
  /** Packets still in the pool when the run ended. */
  readonly pooledAtEnd: number;
  /** Packets malformed, undecryptable or not forwarded. */
  readonly dropped: number;
}

export interface GatewayMeasurement {
  /** Latencies the recipients reported with their acknowledgements. */
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** Cumulative end-to-end latency histogram in seconds: [upper bound, count]. */
  readonly buckets: readonly (readonly [number, number])[];
}

/** Cumulative buckets per value of `label`, sorted by upper bound (+Inf last). */
async function buckets(prometheusUrl: string, expr: string, label?: string): Promise<Map<string, [number, number][]>> {
  const out = new Map<string, [number, number][]>();
  for (const sample of await queryVector(prometheusUrl, expr)) {
    const key = label ? (sample.metric[label] ?? '') : '';
    const le = sample.metric.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(sample.metric.le);
    out.set(key, [...(out.get(key) ?? []), [le, Number(sample.value[1])]]);
  }
  for (const list of out.values()) list.sort((a, b) => a[0] - b[0]);
  return out;
}

export async function totalLatencyReports(prometheusUrl: string): Promise<number> {
  return (await queryValue(prometheusUrl, 'sum(mixlab_end_to_end_latency_seconds_count)')) ?? 0;
}

export async function measureLayers(prometheusUrl: string, layers = 3): Promise<LayerMeasurement[]> {
  const mixNode = 'job="mix-node"';
  const byLayer = (expr: string) => queryByLabel(prometheusUrl, expr, 'layer');
  const [count, sum, sizeBuckets, p50, p95, pooled, dropped] = await Promise.all([
    byLayer(`sum by (layer) (mixlab_batch_size_count{${mixNode}})`),
    byLayer(`sum by (layer) (mixlab_batch_size_sum{${mixNode}})`),
    buckets(prometheusUrl, `sum by (layer, le) (mixlab_batch_size_bucket{${mixNode}})`, 'layer'),
    byLayer(`histogram_quantile(0.5, sum by (layer, le) (mixlab_mixing_delay_seconds_bucket))`),
    byLayer(`histogram_quantile(0.95, sum by (layer, le) (mixlab_mixing_delay_seconds_bucket))`),
    byLayer(`sum by (layer) (mixlab_queue_depth{${mixNode}})`),
    byLayer(`sum by (layer) (mixlab_packets_total{${mixNode},outcome=~"malformed|undecryptable|forward_failed"})`),
  ]);
  return Array.from({ length: layers }, (_, i) => {
    const layer = String(i + 1);
    const batches = count[layer] ?? 0;
    return {
      layer: i + 1,
      batches,
      meanBatchSize: batches > 0 ? (sum[layer] ?? 0) / batches : Number.NaN,
      batchSizeBuckets: sizeBuckets.get(layer) ?? [],
      mixingDelayP50: p50[layer] ?? Number.NaN,
      mixingDelayP95: p95[layer] ?? Number.NaN,
      pooledAtEnd: pooled[layer] ?? 0,
      dropped: dropped[layer] ?? 0,
    };
  });
}

export async function measureGateway(prometheusUrl: string): Promise<GatewayMeasurement> {
  const quantile = async (q: number) =>
    (await queryValue(
      prometheusUrl,
      `histogram_quantile(${q}, sum by (le) (mixlab_end_to_end_latency_seconds_bucket))`,
    )) ?? Number.NaN;
  const [count, p50, p95, p99, histogram] = await Promise.all([
    totalLatencyReports(prometheusUrl),
    quantile(0.5),
    quantile(0.95),
    quantile(0.99),
    buckets(prometheusUrl, 'sum by (le) (mixlab_end_to_end_latency_seconds_bucket)'),
  ]);
  return { count, p50, p95, p99, buckets: histogram.get('') ?? [] };
}
