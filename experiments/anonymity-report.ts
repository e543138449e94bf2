/**
 * The anonymity experiment's results: each window's measurements, the formula rows (measured
 * against @mixlab/anonymity's closed forms, with a stated tolerance), and the markdown report.
 */
import {
  batchEntropyPerBatchBits,
  batchEntropyPerMessageBits,
  binomialMeanFieldEntropyBits,
  exponentialMixEntropyBits,
  exponentialMixExpectedEntropyBits,
  exponentialMixPoolSize,
  poolMixEntropyBits,
  thresholdEntropyBits,
} from '@mixlab/anonymity';
import { BATCH_SIZE_BUCKETS } from '@mixlab/metrics';
import { parseStrategyConfig } from '@mixlab/mixing';
import { seededRandom } from '@mixlab/runtime';
import type { MeanInterval } from './anonymity-measure.ts';
import { SCRAPE_SECONDS } from './anonymity-measure.ts';
import type { Machine } from './report.ts';

/** What a window is for: a formula row, a point of the entropy-against-load curve, a point of the frontier. */
export type WindowUse = 'formula' | 'curve' | 'frontier';

export interface WindowResult {
  readonly strategy: string;
  /** Offered load of the clients' messages, msg/s. */
  readonly load: number;
  /** Drop cover the clients sent on top, msg/s in total (0: none). */
  readonly cover: number;
  readonly uses: readonly WindowUse[];
  /** The measured part of the window (after the warm-up), epoch ms. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly sent: number;
  readonly delivered: number;
  readonly latencyP50Ms: number | null;
  readonly latencyP99Ms: number | null;
  /** scope="node", layer 1: per packet leaving the first layer, entropy over its inputs. */
  readonly node: MeanInterval;
  /** scope="route": per delivered message, entropy over the senders, end to end. */
  readonly route: MeanInterval;
  /** Packets leaving layer 1 per second in the window (the observer's count). */
  readonly arrivalRate: number;
  /**
   * Packets layer 1 accepted per second in the window (`mixlab_packets_total{outcome="accepted"}`):
   * λ as it arrived, which the formulas take (a pool that grows or shrinks over a short window
   * makes the departures differ from it). Absent in runs before it was read.
   */
  readonly acceptedRate?: number;
  /** Layer 1's batches in the window, [size, batches]. */
  readonly batchSizes: readonly (readonly [number, number])[];
  /** Every scrape of every layer's pool depth in the window. */
  readonly poolDepths: readonly number[];
  /** Packets pooled in all mix nodes at the last scrape before the window (windows that wait for empty pools). */
  readonly pooledAtStart?: number;
  readonly error?: string;
}

export interface CascadeRecord {
  readonly strategy: string;
  readonly startSeconds: number;
  readonly seconds: number;
  /** The observer's model counters at the end (/v1/estimates). */
  readonly observerStats?: Record<string, number>;
  readonly error?: string;
}

export interface AnonymityRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly clients: number;
  readonly seed: number;
  /** Drop cover per client in the cover windows, msg/s. */
  readonly coverPerClient: number;
  readonly frontierLoad: number;
  readonly shortened: readonly string[];
  readonly cascades: readonly CascadeRecord[];
  readonly windows: readonly WindowResult[];
}

export interface FormulaRow {
  readonly formula: string;
  readonly strategy: string;
  readonly parameters: string;
  readonly load: number;
  readonly measured: MeanInterval;
  readonly theory: number;
  /** The literature's asymptote, where the theory column is an exact finite value (exponential). */
  readonly asymptote?: number;
  readonly tolerance: number;
  readonly pass: boolean;
  /** Why it failed, or what the row assumes. */
  readonly note: string;
}

/** Tolerances (bits, or packets for the pool size), each with its reason in the report. */
export const TOLERANCES = {
  /** The observer is exact for a threshold batch; only floating point separates them. */
  threshold: 0.01,
  /** Exact per batch; the window's edges may cut a batch the node counted and the observer not yet. */
  batches: 0.05,
  /** N varies (Poisson) from round to round; the closed form is for a constant N. */
  pool: 0.15,
  /** Mean field, and Poisson N: the doc measured 0.07 bits below at p = 0.8 with constant N. */
  binomial: 0.2,
  /** Exact in expectation at the measured λ/μ; a window holds 12 to 240 mean delays, over which the pool wanders. */
  exponential: 0.15,
} as const;

/** Seeds the Monte Carlo of the exponential mix's expected entropy. */
const EXPONENTIAL_SEED = 1;

const f = (value: number, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const measuredText = (m: MeanInterval, digits = 3) =>
  Number.isFinite(m.halfWidth) ? `${f(m.mean, digits)} ± ${f(m.halfWidth, digits)}` : f(m.mean, digits);

function row(
  formula: string,
  window: WindowResult,
  parameters: string,
  measured: MeanInterval,
  theory: number,
  tolerance: number,
  note = '',
): FormulaRow {
  const difference = measured.mean - theory;
  const pass = measured.count > 0 && Math.abs(difference) <= tolerance;
  let why = note;
  if (measured.count === 0) why = `nothing measured${window.error ? `: ${window.error}` : ''}`;
  else if (!pass) {
    const covered = Number.isFinite(measured.halfWidth) && Math.abs(difference) <= tolerance + measured.halfWidth;
    const unresolved =
      Number.isFinite(measured.halfWidth) && measured.halfWidth > tolerance
        ? `; the window cannot resolve the tolerance (95 % interval ± ${f(measured.halfWidth)})`
        : '';
    why = `${note ? `${note}; ` : ''}off by ${f(difference)}${covered ? ' (within tolerance + the 95 % interval)' : ''}${unresolved}`;
  }
  return {
    formula,
    strategy: window.strategy,
    parameters,
    load: window.load,
    measured,
    theory,
    tolerance,
    pass,
    note: why,
  };
}

const accepted = (window: WindowResult) => window.acceptedRate !== undefined && Number.isFinite(window.acceptedRate);
/** λ for the formulas: what layer 1 accepted in the window, or (not read) what left it. */
const lambdaOf = (window: WindowResult) => (accepted(window) ? (window.acceptedRate as number) : window.arrivalRate);
/** Which λ a row took, for its parameters. */
const lambdaText = (window: WindowResult) =>
  accepted(window)
    ? `λ = ${f(window.acceptedRate as number, 2)}/s in, ${f(window.arrivalRate, 2)}/s out`
    : `λ = ${f(window.arrivalRate, 2)}/s out; what layer 1 accepted was not read`;

/** The smallest batch size a bucket of mixlab_batch_size with upper bound `size` holds. */
function bucketLowerBound(size: number): number {
  const index = BATCH_SIZE_BUCKETS.indexOf(size);
  return index > 0 ? (BATCH_SIZE_BUCKETS[index - 1] as number) + 1 : size;
}

/** Scrapes SCRAPE_SECONDS apart of a pool that forgets at rate μ are correlated by ρ = e^{−μΔ}: this many count as independent. */
function effectiveSamples(samples: number, meanDelayMs: number): number {
  const rho = Math.exp(-(SCRAPE_SECONDS * 1000) / meanDelayMs);
  return (samples * (1 - rho)) / (1 + rho);
}

/** The mean pool depth against λ/μ (M/M/∞), within 3 standard errors of a Poisson sample. */
function poolMeanRow(window: WindowResult, meanDelayMs: number): FormulaRow {
  const samples = window.poolDepths;
  const expected = exponentialMixPoolSize(lambdaOf(window), 1000 / meanDelayMs).mean;
  const mean = samples.length > 0 ? samples.reduce((s, v) => s + v, 0) / samples.length : Number.NaN;
  const tolerance = 3 * Math.sqrt(expected / Math.max(1, effectiveSamples(samples.length, meanDelayMs)));
  return row(
    'pool size: mean = λ/μ (M/M/∞)',
    window,
    `λ/μ = ${f(expected, 1)}, ${samples.length} scrapes of layers 1 and 2`,
    { mean, halfWidth: Number.NaN, count: samples.length },
    expected,
    tolerance,
    '3 standard errors',
  );
}

/**
 * Poisson means variance = mean: over every formula window of the exponential mix, the scrapes
 * standardised by their window's λ/μ, (depth − λ/μ)/√(λ/μ), have variance 1. One row, since a
 * 10 s window holds too few scrapes to tell a variance per window.
 */
function poolDispersionRow(windows: readonly WindowResult[], meanDelayMs: number): FormulaRow | undefined {
  const z = windows.flatMap((w) => {
    const expected = lambdaOf(w) * (meanDelayMs / 1000);
    return expected > 0 ? w.poolDepths.map((d) => (d - expected) / Math.sqrt(expected)) : [];
  });
  const first = windows[0];
  if (!first || z.length < 3) return undefined;
  const variance = z.reduce((s, v) => s + v * v, 0) / z.length;
  const tolerance = 3 * Math.sqrt(2 / Math.max(1, effectiveSamples(z.length, meanDelayMs)));
  return {
    ...row(
      'pool size: variance = λ/μ (Poisson)',
      first,
      `var((depth − λ/μ)/√(λ/μ)) = 1 over ${z.length} scrapes of ${windows.length} windows`,
      { mean: variance, halfWidth: Number.NaN, count: z.length },
      1,
      tolerance,
      '3 standard errors',
    ),
    load: Number.NaN,
  };
}

/** Every formula row the windows marked 'formula' give, in the order they ran. */
export function formulaRows(run: AnonymityRun): FormulaRow[] {
  const rows: FormulaRow[] = [];
  const exponential = new Map<number, WindowResult[]>();
  for (const window of run.windows) {
    if (!window.uses.includes('formula') || window.cover > 0) continue;
    const config = parseStrategyConfig(window.strategy);
    const lambda = lambdaOf(window);
    if (config.name === 'threshold' && config.maxWaitMs === undefined) {
      rows.push(
        row(
          'threshold: log2 n',
          window,
          `n = ${config.threshold}`,
          window.node,
          thresholdEntropyBits(config.threshold),
          TOLERANCES.threshold,
        ),
      );
    } else if (config.name === 'threshold') {
      const histogram = window.batchSizes;
      const batches = histogram.reduce((s, [, c]) => s + c, 0);
      const theory = batches > 0 ? batchEntropyPerMessageBits(histogram) : Number.NaN;
      const perBatch = batches > 0 ? batchEntropyPerBatchBits(histogram) : Number.NaN;
      // Above 10 the histogram's buckets are wide (11–15, 16–20, ...) and count at their upper
      // bound; at the lower bounds the theory would be this.
      const lowest = histogram.map(([size, count]) => [bucketLowerBound(size), count] as const);
      const wide = lowest.some(([low], i) => low !== histogram[i]?.[0]);
      const low = wide && batches > 0 ? batchEntropyPerMessageBits(lowest) : theory;
      rows.push(
        row(
          'threshold + maxWait: Σ c_b b log2 b / Σ c_b b',
          window,
          `n = ${config.threshold}, maxWait = ${config.maxWaitMs} ms; ${batches} batches (${histogram.map(([b, c]) => `${b}: ${c}`).join(', ')}); per batch Σ c_b log2 b / Σ c_b = ${f(perBatch)}`,
          window.node,
          theory,
          TOLERANCES.batches,
          `per message: the observer records each packet${wide ? `; batches above 10 count at their bucket's upper bound (the buckets allow a theory from ${f(low)} to ${f(theory)})` : ''}`,
        ),
      );
    } else if (config.name === 'pool') {
      const perRound = Math.max(1, Math.round((lambda * config.intervalMs) / 1000));
      rows.push(
        row(
          'pool: log2(N+n) + (n/N) log2((N+n)/n)',
          window,
          `n = ${config.minPool}, N = λt = ${f((lambda * config.intervalMs) / 1000, 2)} → ${perRound} (${lambdaText(window)})`,
          window.node,
          poolMixEntropyBits(perRound, config.minPool),
          TOLERANCES.pool,
          config.fraction === 1 ? '' : 'fraction < 1 is not the Serjantov–Danezis pool mix',
        ),
      );
    } else if (config.name === 'binomial') {
      const perRound = (lambda * config.intervalMs) / 1000;
      rows.push(
        row(
          'binomial (mean field): log2 N + H_b(p)/p',
          window,
          `N = λt = ${f(perRound, 2)}, p = ${config.probability} (${lambdaText(window)})`,
          window.node,
          perRound > 0 ? binomialMeanFieldEntropyBits(perRound, config.probability) : Number.NaN,
          TOLERANCES.binomial,
        ),
      );
    } else if (config.name === 'exponential' && config.meanDelayMs !== undefined) {
      const mu = 1000 / config.meanDelayMs;
      const empty = window.pooledAtStart === undefined ? '' : `; pooled at start: ${window.pooledAtStart}`;
      rows.push({
        ...row(
          'exponential: E[H] at λ/μ (→ log2(e λ/μ))',
          window,
          `λ/μ = ${f(lambda / mu, 1)} (${lambdaText(window)}; 1/μ = ${config.meanDelayMs} ms${empty})`,
          window.node,
          // Seeded, so a report renders the same from its JSON.
          lambda > 0 ? exponentialMixExpectedEntropyBits(lambda, mu, seededRandom(EXPONENTIAL_SEED)) : Number.NaN,
          TOLERANCES.exponential,
        ),
        ...(lambda > 0 ? { asymptote: exponentialMixEntropyBits(lambda, mu) } : {}),
      });
      rows.push(poolMeanRow(window, config.meanDelayMs));
      exponential.set(config.meanDelayMs, [...(exponential.get(config.meanDelayMs) ?? []), window]);
    }
  }
  for (const [meanDelayMs, windows] of exponential) {
    const dispersion = poolDispersionRow(windows, meanDelayMs);
    if (dispersion) rows.push({ ...dispersion, strategy: windows[0]?.strategy ?? '' });
  }
  return rows;
}

/** Runs of separate parts (`--part`) as one: their cascades and windows in the order given. */
export function mergeRuns(runs: readonly AnonymityRun[]): AnonymityRun {
  const [first] = runs;
  if (!first) throw new Error('no run to merge');
  return {
    ...first,
    startedAt: runs.map((r) => r.startedAt).sort()[0] as string,
    finishedAt: runs.map((r) => r.finishedAt).sort()[runs.length - 1] as string,
    cascades: runs.flatMap((r) => r.cascades),
    windows: runs.flatMap((r) => r.windows),
  };
}

/** The frontier's points: per strategy family, the windows at the frontier load without cover. */
export function frontierPoints(run: AnonymityRun): Map<string, WindowResult[]> {
  const families = new Map<string, WindowResult[]>();
  for (const window of run.windows) {
    if (!window.uses.includes('frontier') || window.cover > 0 || window.latencyP50Ms === null) continue;
    const family = familyOf(window.strategy);
    families.set(family, [...(families.get(family) ?? []), window]);
  }
  for (const points of families.values()) points.sort((a, b) => (a.latencyP50Ms ?? 0) - (b.latencyP50Ms ?? 0));
  return families;
}

/** A strategy's line in the plots: its name, and `+maxWait` for a threshold with a flush. */
export function familyOf(strategy: string): string {
  const name = strategy.split(':')[0] ?? strategy;
  return name === 'threshold' && strategy.includes('maxWait') ? 'threshold+maxWait' : name;
}

export function renderAnonymityMarkdown(run: AnonymityRun, svgName = 'anonymity.svg'): string {
  const rows = formulaRows(run);
  const passed = rows.filter((r) => r.pass).length;
  const lines: string[] = [];
  lines.push('# Anonymity observatory: the formulas, measured', '');
  lines.push(
    'Every number here was measured on real containers: a three-layer cascade (one mix node per layer, ' +
      `no node loop cover) per strategy configuration, the load generator's seeded traffic (${run.clients} ` +
      `simulated clients per window, Poisson, seed ${run.seed}), and the observer's entropies read from ` +
      'Prometheus (`mixlab_anonymity_entropy_bits`; `scope="node",layer="1"` for the single-node formulas, ' +
      '`scope="route"` end to end). A measured mean carries a 95 % interval by batch means (the window cut ' +
      "into up to 5 consecutive groups of scrapes); the theory column is `@mixlab/anonymity`'s closed form " +
      'at the rate layer 1 accepted in the window (λ; what left it where that counter was not read), and a row passes when |measured − theory| is within its ' +
      'tolerance.',
    '',
  );
  lines.push(`## Formulas (${passed} of ${rows.length} pass)`, '');
  lines.push(
    '| formula | strategy | parameters | offered (msg/s) | measured | theory | difference | tolerance | result | asymptote log2(e λ/μ) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  );
  for (const r of rows) {
    lines.push(
      `| ${r.formula} | \`${r.strategy}\` | ${r.parameters} | ${Number.isFinite(r.load) ? r.load : 'all'} | ${measuredText(r.measured)} | ${f(r.theory)} | ${f(r.measured.mean - r.theory)} | ${f(r.tolerance)} | ${r.pass ? 'pass' : 'FAIL'}${r.note ? `: ${r.note}` : ''} | ${r.asymptote === undefined ? '' : f(r.asymptote)} |`,
    );
  }
  lines.push(
    '',
    'Tolerances: threshold 0.01 bits (the observer is exact for a threshold batch); threshold with ' +
      'maxWait 0.05 bits (exact per batch, but the window edges may cut a batch the node counted and the ' +
      'observer had not yet); pool 0.15 bits and binomial 0.2 bits (the closed forms hold N constant per ' +
      'round, here it is Poisson, and the binomial one is a mean field; N = λt rounded for the pool form, ' +
      'which takes whole numbers); exponential 0.15 bits (the theory is exact in expectation, but a window holds ' +
      'only 12 to 240 mean delays, over which the pool size wanders around λ/μ); ' +
      'the pool size 3 standard errors of a Poisson(λ/μ) sample (layers 1 and 2, whose pools have settled ' +
      `after the warm-up), counting the correlation of scrapes ${SCRAPE_SECONDS} s apart.`,
    '',
    "The exponential rows' theory is exact at the measured λ/μ: the expected entropy of the observer's own " +
      'posterior (each departure a uniform draw from the pool, by memorylessness) for Poisson arrivals and ' +
      'exponential delays, from a seeded Monte Carlo of the M/M/∞ jump chain over 20 000 mean delays ' +
      "(`exponentialMixExpectedEntropyBits`); the last column is Danezis' asymptote log2(e λ/μ) (PET 2004), " +
      'which it approaches for λ/μ ≫ 1 (within 0.01 bits from λ/μ = 5 on). Each exponential window starts ' +
      'from empty pools ("pooled at start", read from `mixlab_queue_depth` at a scrape after the previous ' +
      'window stopped sending), so no packet of an earlier load is mixed in.',
    '',
  );

  lines.push(
    `![Measured entropy against theory, entropy against load, and the anonymity–latency frontier](${svgName})`,
    '',
  );

  lines.push('## End-to-end entropy against offered load', '');
  lines.push(
    `Mean \`scope="route"\` entropy over senders (bits; at most log2 ${run.clients} = ${f(Math.log2(run.clients), 2)} with ${run.clients} clients per window). ` +
      `Cover: every client also sends ${run.coverPerClient} drop/s (${f(run.coverPerClient * run.clients, 1)} msg/s in total), which crosses the three layers and ends at the exit. ` +
      'At an exponential exit the observer cannot see a drop end, so its model keeps the drops pooled (docs/anonymity.md): ' +
      'with cover, the exponential end-to-end entropy is an upper bound (each cover load ran on a fresh cascade, so the ' +
      "phantoms hold only that window's senders); its layer-1 entropy, over packets, is exact.",
    '',
    '| strategy | offered (msg/s) | cover (msg/s) | delivered in window | end-to-end entropy | layer-1 node entropy | pooled at start |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  const curve = run.windows
    .filter((w) => w.uses.includes('curve'))
    .sort((a, b) => a.strategy.localeCompare(b.strategy) || a.cover - b.cover || a.load - b.load);
  for (const w of curve) {
    lines.push(
      `| \`${w.strategy}\` | ${w.load} | ${w.cover} | ${w.route.count} | ${measuredText(w.route)}${w.cover > 0 && w.strategy.startsWith('exponential') ? ' (upper bound)' : ''} | ${measuredText(w.node)} | ${w.pooledAtStart ?? ''} |`,
    );
  }
  lines.push('');

  lines.push('## The frontier: anonymity against latency', '');
  lines.push(
    `Every strategy at ${run.frontierLoad} msg/s without cover: end-to-end entropy against the load generator's exact latency.`,
    '',
    '| strategy | entropy end to end (bits) | latency p50 (ms) | p99 (ms) | sent | delivered |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const points of frontierPoints(run).values()) {
    for (const w of points) {
      lines.push(
        `| \`${w.strategy}\` | ${measuredText(w.route)} | ${f(w.latencyP50Ms ?? Number.NaN, 0)} | ${f(w.latencyP99Ms ?? Number.NaN, 0)} | ${w.sent} | ${w.delivered} |`,
      );
    }
  }
  lines.push('');

  lines.push('## Shortened for the time budget', '');
  for (const item of run.shortened) lines.push(`- ${item}`);
  lines.push('');

  lines.push('## Cascades', '');
  lines.push(
    '| strategy | start (s) | total (s) | observer: unattributed / sunk / evicted packets | client slots taken / given | error |',
    '| --- | ---: | ---: | --- | ---: | --- |',
  );
  for (const c of run.cascades) {
    const s = c.observerStats;
    lines.push(
      `| \`${c.strategy}\` | ${f(c.startSeconds, 1)} | ${f(c.seconds, 0)} | ${s ? `${s.unattributedPackets} / ${s.sunkPackets} / ${s.evictedPackets}` : '–'} | ${s?.clientSlots ? `${s.slotsTaken} / ${s.clientSlots}` : '–'} | ${c.error ?? ''} |`,
    );
  }
  lines.push('');

  const { machine } = run;
  lines.push('## Machine', '');
  lines.push(
    `- CPU: ${machine.cpu}, ${machine.cores} cores (shared with other work)`,
    `- memory: ${machine.memoryGiB.toFixed(1)} GiB`,
    `- Node.js ${machine.node}, Docker engine ${machine.docker}, ${machine.platform}`,
    `- run: ${run.startedAt} to ${run.finishedAt}`,
    '',
  );
  return lines.join('\n');
}
