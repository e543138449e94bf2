/**
 * What the anonymity experiment reads from Prometheus for one window [from, to] of a run: the
 * observer's entropy histograms (mean and a 95 % interval by batch means), the batch sizes and
 * pool depths the mix nodes published. Windows are read after the cascade's last one, at the
 * times they ran, so no window waits for a scrape.
 */

/** Prometheus scrapes every 2 s (prometheus/prometheus.yml): a range query's step. */
export const SCRAPE_SECONDS = 2;

interface RangeSeries {
  readonly metric: Record<string, string>;
  readonly values: readonly (readonly [number, string])[];
}

async function prometheus(prometheusUrl: string, path: string, params: Record<string, string>): Promise<unknown> {
  const response = await fetch(new URL(path, prometheusUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { status: string; error?: string; data?: { result: unknown } };
  if (body.status !== 'success')
    throw new Error(`Prometheus ${path} ${params.query}: ${body.error ?? response.status}`);
  return body.data?.result;
}

/** A range query over [fromMs, toMs] at the scrape interval: each series' samples in time order. */
export async function queryRange(
  prometheusUrl: string,
  expr: string,
  fromMs: number,
  toMs: number,
): Promise<RangeSeries[]> {
  return (await prometheus(prometheusUrl, '/api/v1/query_range', {
    query: expr,
    start: String(fromMs / 1000),
    end: String(toMs / 1000),
    step: String(SCRAPE_SECONDS),
  })) as RangeSeries[];
}

/** An instant query at `atMs`: { value of `label`: value }. */
export async function queryAt(
  prometheusUrl: string,
  expr: string,
  atMs: number,
  label: string,
): Promise<Map<string, number>> {
  const result = (await prometheus(prometheusUrl, '/api/v1/query', { query: expr, time: String(atMs / 1000) })) as {
    metric: Record<string, string>;
    value: [number, string];
  }[];
  return new Map(result.map((sample) => [sample.metric[label] ?? '', Number(sample.value[1])]));
}

/** A mean with its 95 % confidence interval and how many observations it averages. */
export interface MeanInterval {
  readonly mean: number;
  /** Half-width of the 95 % interval (NaN with fewer than two groups). */
  readonly halfWidth: number;
  readonly count: number;
}

/** Student's t, 97.5 % quantile, for 1..10 degrees of freedom. */
const T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

/**
 * The mean of observations given as increments of a histogram's sum and count per scrape
 * interval, with a 95 % interval by batch means: the increments are gathered into (at most)
 * `groups` consecutive groups in time, and the spread of the group means gives the interval.
 * Successive messages share batches and pools, so they are not independent; groups of several
 * seconds are much closer to it.
 */
export function batchMeans(increments: readonly { sum: number; count: number }[], groups = 5): MeanInterval {
  const total = increments.reduce((acc, step) => ({ sum: acc.sum + step.sum, count: acc.count + step.count }), {
    sum: 0,
    count: 0,
  });
  if (total.count === 0) return { mean: Number.NaN, halfWidth: Number.NaN, count: 0 };
  const mean = total.sum / total.count;
  const k = Math.min(groups, increments.length);
  const means: number[] = [];
  for (let g = 0; g < k; g++) {
    const part = increments.slice(
      Math.floor((g * increments.length) / k),
      Math.floor(((g + 1) * increments.length) / k),
    );
    const sum = part.reduce((s, step) => s + step.sum, 0);
    const count = part.reduce((c, step) => c + step.count, 0);
    if (count > 0) means.push(sum / count);
  }
  if (means.length < 2) return { mean, halfWidth: Number.NaN, count: total.count };
  const average = means.reduce((s, m) => s + m, 0) / means.length;
  const variance = means.reduce((s, m) => s + (m - average) ** 2, 0) / (means.length - 1);
  const t = T_975[means.length - 2] ?? 1.96;
  return { mean, halfWidth: (t * Math.sqrt(variance)) / Math.sqrt(means.length), count: total.count };
}

/** Per-scrape increments of `sum(<histogram>_sum{selector})` and `_count` over the window. */
async function histogramIncrements(
  prometheusUrl: string,
  histogram: string,
  selector: string,
  fromMs: number,
  toMs: number,
): Promise<{ sum: number; count: number }[]> {
  const [sums, counts] = (await Promise.all(
    ['sum', 'count'].map(async (part) => {
      const series = await queryRange(prometheusUrl, `sum(${histogram}_${part}{${selector}})`, fromMs, toMs);
      return new Map((series[0]?.values ?? []).map(([t, v]) => [t, Number(v)]));
    }),
  )) as [Map<number, number>, Map<number, number>];
  const times = [...counts.keys()].filter((t) => sums.has(t)).sort((a, b) => a - b);
  const increments: { sum: number; count: number }[] = [];
  for (let i = 1; i < times.length; i++) {
    const [before, after] = [times[i - 1] as number, times[i] as number];
    increments.push({
      sum: (sums.get(after) as number) - (sums.get(before) as number),
      count: (counts.get(after) as number) - (counts.get(before) as number),
    });
  }
  return increments;
}

/** The observer's mean entropy over the window: per packet leaving layer `layer` (scope="node"), or per delivered message (scope="route"). */
export async function windowEntropy(
  prometheusUrl: string,
  scope: 'node' | 'route',
  fromMs: number,
  toMs: number,
  layer = 1,
): Promise<MeanInterval> {
  const selector = scope === 'node' ? `scope="node",layer="${layer}"` : 'scope="route"';
  return batchMeans(await histogramIncrements(prometheusUrl, 'mixlab_anonymity_entropy_bits', selector, fromMs, toMs));
}

/** Layer `layer`'s batches in the window as [size, batches] (sizes up to 10 are exact buckets; wider buckets count at their upper bound). */
export async function windowBatchSizes(
  prometheusUrl: string,
  fromMs: number,
  toMs: number,
  layer = 1,
): Promise<[number, number][]> {
  const expr = `sum by (le) (mixlab_batch_size_bucket{job="mix-node",layer="${layer}"})`;
  const [before, after] = await Promise.all([fromMs, toMs].map((at) => queryAt(prometheusUrl, expr, at, 'le')));
  const cumulative = [...(after as Map<string, number>)]
    .filter(([le]) => le !== '+Inf')
    .map(([le, count]) => [Number(le), count - ((before as Map<string, number>).get(le) ?? 0)] as const)
    .sort((a, b) => a[0] - b[0]);
  const histogram: [number, number][] = [];
  let previous = 0;
  for (const [size, count] of cumulative) {
    if (count - previous > 0) histogram.push([size, count - previous]);
    previous = count;
  }
  return histogram;
}

/** Packets layer `layer` accepted into its pool per second over [fromMs, toMs]: λ as the node saw it arrive. */
export async function windowAcceptedRate(
  prometheusUrl: string,
  fromMs: number,
  toMs: number,
  layer = 1,
): Promise<number> {
  const expr = `sum(mixlab_packets_total{job="mix-node",layer="${layer}",outcome="accepted"})`;
  const [before, after] = await Promise.all([fromMs, toMs].map((at) => queryAt(prometheusUrl, expr, at, '')));
  const accepted = (after?.get('') ?? Number.NaN) - (before?.get('') ?? Number.NaN);
  return accepted / ((toMs - fromMs) / 1000);
}

/**
 * Every scrape of layers 1 and 2's pool depth (`mixlab_queue_depth`) in the window. Layer 3 is
 * left out: behind two pools it is still settling after a warm-up of a few mean delays.
 */
export async function windowPoolDepths(prometheusUrl: string, fromMs: number, toMs: number): Promise<number[]> {
  const series = await queryRange(prometheusUrl, 'mixlab_queue_depth{job="mix-node",layer=~"1|2"}', fromMs, toMs);
  return series.flatMap((s) => s.values.map(([, v]) => Number(v)));
}

/**
 * Waits until a scrape taken after `afterMs` shows every mix node's pool empty, so that the
 * next window starts from nothing (no packet of an earlier window left to mix with). Returns
 * the pooled packets of that scrape (0, or what was left when `timeoutMs` ran out).
 */
export async function waitForEmptyPools(prometheusUrl: string, afterMs: number, timeoutMs = 90_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = Date.now();
    const [depth, scrapedAt] = await Promise.all([
      queryAt(prometheusUrl, 'sum(mixlab_queue_depth{job="mix-node"})', now, ''),
      queryAt(prometheusUrl, 'min(timestamp(mixlab_queue_depth{job="mix-node"}))', now, ''),
    ]);
    const pooled = depth.get('') ?? Number.NaN;
    const fresh = (scrapedAt.get('') ?? 0) * 1000 > afterMs;
    if ((fresh && pooled === 0) || Date.now() > deadline) return pooled;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The mean end-to-end entropy of every message delivered since the cascade started (for the strategy comparison). */
export async function meanRouteEntropy(prometheusUrl: string): Promise<number> {
  const [sum, count] = await Promise.all(
    ['sum', 'count'].map(
      async (part) =>
        (await queryAt(prometheusUrl, `sum(mixlab_anonymity_entropy_bits_${part}{scope="route"})`, Date.now(), '')).get(
          '',
        ) ?? 0,
    ),
  );
  return (count as number) > 0 ? (sum as number) / (count as number) : Number.NaN;
}
