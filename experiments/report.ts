/** The experiment's results as markdown: one row per strategy, then per layer. */
import type { LoadSummary } from '@mixlab/load';
import type { GatewayMeasurement, LayerMeasurement } from './measure.ts';

/**
 * No mixing: a threshold of one releases every packet the moment it arrives, so this run's
 * latency is what the cascade itself costs (hops, packet processing, mailboxes), the
 * baseline every strategy's latency is measured against.
 */
export const BASELINE_STRATEGY = 'threshold:n=1';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly docker: string;
  readonly platform: string;
}

export interface StrategyResult {
  readonly strategy: string;
  readonly packetFormat?: string;
  readonly summary: LoadSummary | null;
  /** Every first receipt's end-to-end latency in ms. */
  readonly latenciesMs: readonly number[];
  readonly layers: readonly LayerMeasurement[];
  readonly gateway: GatewayMeasurement | null;
  readonly startSeconds: number;
  /** The observer's mean end-to-end entropy over senders, bits (absent in runs before the observer). */
  readonly entropyBits?: number;
  readonly error?: string;
}

/** The load settings every experiment's run record states. */
export interface RunLoad {
  readonly clients: number;
  readonly ratePerClient: number;
  readonly durationSeconds: number;
  readonly drainSeconds: number;
  readonly seed: number;
}

export interface ExperimentRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly load: RunLoad & {
    /** Loop cover per mix node, msg/s (absent in runs before cover existed: none). */
    readonly loopRate?: number;
  };
  readonly packetFormat: string;
  readonly results: readonly StrategyResult[];
}

const ms = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '–' : `${Math.round(value)}`);
const seconds = (value: number) => (Number.isNaN(value) ? '–' : `${Math.round(value * 1000)}`);
const fixed = (value: number, digits = 1) => (Number.isNaN(value) ? '–' : value.toFixed(digits));
const perLayer = (layers: readonly LayerMeasurement[], pick: (layer: LayerMeasurement) => string) =>
  layers.length === 0 ? '–' : layers.map(pick).join(' / ');

/** Non-cumulative batch-size counts as `size: batches` (ranges for the wide buckets). */
function batchSizeHistogram(cumulative: readonly (readonly [number, number])[]): string {
  const parts: string[] = [];
  let previousBound = 0;
  let previousCount = 0;
  for (const [bound, count] of cumulative) {
    const inBucket = count - previousCount;
    if (inBucket > 0) {
      const low = previousBound + 1;
      const label =
        bound === Number.POSITIVE_INFINITY ? `>${previousBound}` : low === bound ? `${bound}` : `${low}–${bound}`;
      parts.push(`${label}: ${inBucket}`);
    }
    previousBound = bound;
    previousCount = count;
  }
  return parts.length > 0 ? parts.join(', ') : '–';
}

export function renderMarkdown(run: ExperimentRun): string {
  const { load, machine } = run;
  const offered = load.clients * load.ratePerClient;
  const lines: string[] = [];
  lines.push('# Mixing strategies under one load', '');
  lines.push(
    `Every strategy ran on a fresh three-layer cascade (one mix node per layer, \`${run.packetFormat}\` packets) ` +
      `under the same offered load: ${load.clients} simulated clients × ${load.ratePerClient} msg/s each ` +
      `(${offered} msg/s in total, Poisson, the same seeded schedule for every strategy), each sending to a random ` +
      `other client for ${load.durationSeconds} s, then up to ${load.drainSeconds} s for stragglers. ` +
      (load.loopRate
        ? `Every mix node also sent ${load.loopRate} loop cover packets per second, which count in its batches.`
        : "No cover traffic: batches hold only the clients' messages.") +
      (run.results.some((result) => result.strategy === BASELINE_STRATEGY)
        ? ` \`${BASELINE_STRATEGY}\` does not mix (every packet leaves a node as it arrives): its latency is the ` +
          "cascade's own, the baseline the other strategies add their mixing delay to."
        : ''),
    '',
  );
  lines.push(
    '| strategy | offered (msg/s) | sent | delivered | lost | latency p50 (ms) | p95 (ms) | p99 (ms) | entropy (bits) | throughput (msg/s) | mean batch size L1 / L2 / L3 | mixing delay p50 (ms) L1 / L2 / L3 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  );
  for (const result of run.results) {
    const s = result.summary;
    if (!s) {
      lines.push(`| \`${result.strategy}\` | ${offered} | failed: ${result.error ?? 'unknown'} | | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| \`${result.strategy}\` | ${s.offeredRate} | ${s.sent} | ${s.delivered} | ${s.lost} | ${ms(s.latencyMs?.p50Ms)} | ${ms(s.latencyMs?.p95Ms)} | ${ms(s.latencyMs?.p99Ms)} | ${result.entropyBits === undefined ? '–' : fixed(result.entropyBits, 2)} | ${s.throughput.toFixed(2)} | ${perLayer(result.layers, (l) => fixed(l.meanBatchSize))} | ${perLayer(result.layers, (l) => seconds(l.mixingDelayP50))} |`,
    );
  }
  lines.push(
    '',
    'Latency is end to end (send to receipt), measured by the load generator, which both sends and ' +
      'receives on one clock; its percentiles are exact (nearest rank). Throughput is delivered messages ' +
      'per second over the load duration, or over the first to the last delivery if that took longer. Lost ' +
      "means not received by the end of the drain: packets a strategy holds for good (a pool's `min`, a " +
      "threshold's partial batch) and stragglers still pooled when the drain ended. Batch sizes and mixing " +
      'delays come from Prometheus; mixing delay quantiles are interpolated within histogram buckets ' +
      "(powers of two from 1 ms), so they are estimates. Entropy is the observer's (a global passive adversary, " +
      'docs/anonymity.md): the mean over delivered messages of the entropy of its sender distribution, end to end ' +
      `(\`mixlab_anonymity_entropy_bits{scope="route"}\`; at most log2 ${load.clients} = ${fixed(Math.log2(load.clients), 2)} bits with ${load.clients} clients).`,
    '',
  );

  lines.push('## Per layer', '');
  lines.push(
    '"Pooled when read" is the queue depth a few seconds after the drain, when Prometheus was read; "dropped" counts ' +
      'malformed, undecryptable and unforwarded packets.',
    '',
  );
  lines.push(
    '| strategy | layer | batches | mean batch size | batch sizes (size: batches) | mixing delay p50 (ms) | p95 (ms) | pooled when read | dropped |',
    '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  );
  for (const result of run.results) {
    for (const layer of result.layers) {
      lines.push(
        `| \`${result.strategy}\` | ${layer.layer} | ${layer.batches} | ${fixed(layer.meanBatchSize, 2)} | ${batchSizeHistogram(layer.batchSizeBuckets)} | ${seconds(layer.mixingDelayP50)} | ${seconds(layer.mixingDelayP95)} | ${layer.pooledAtEnd} | ${layer.dropped} |`,
      );
    }
  }
  lines.push('');

  lines.push('## What the gateway recorded', '');
  lines.push(
    'The recipients reported each latency with its acknowledgement (`mixlab_end_to_end_latency_seconds`); ' +
      "Prometheus's quantiles interpolate within the histogram's buckets (10 ms × 2^k), so they only " +
      "approximate the load generator's exact ones.",
    '',
    '| strategy | reports | p50 (ms) | p95 (ms) | p99 (ms) | cascade start (s) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const result of run.results) {
    const g = result.gateway;
    lines.push(
      `| \`${result.strategy}\` | ${g?.count ?? '–'} | ${g ? seconds(g.p50) : '–'} | ${g ? seconds(g.p95) : '–'} | ${g ? seconds(g.p99) : '–'} | ${result.startSeconds.toFixed(1)} |`,
    );
  }
  lines.push('');

  lines.push('## Machine', '');
  lines.push(
    `- CPU: ${machine.cpu}, ${machine.cores} cores`,
    `- memory: ${machine.memoryGiB.toFixed(1)} GiB`,
    `- Node.js ${machine.node}, Docker engine ${machine.docker}, ${machine.platform}`,
    `- run: ${run.startedAt} to ${run.finishedAt}`,
    '',
  );
  return lines.join('\n');
}
