/**
 * `npm run experiment -- anonymity` (or `npm run experiment:anonymity`): issue 9's anonymity
 * observatory. One cascade per strategy configuration, the observer watching; the load
 * generator (seeded) sends in windows, one per offered load (with and without client drop
 * cover), back to back on the same cascade (the exponential mix's from empty pools); after the
 * cascade's last window Prometheus is read for every window at the times it ran. Writes
 * anonymity.md, anonymity.svg and anonymity.json.
 *
 *   npm run experiment -- anonymity [--part formulas,exponential,curve,frontier] [--only threshold,exponential]
 *       [--clients 32] [--full] [--out docs/experiments]
 *   node experiments/anonymity.ts --render docs/experiments/anonymity.json
 *   node experiments/anonymity.ts --render a/anonymity-formulas.json,b/anonymity-curve.json --out docs/experiments
 *
 * A part run alone writes anonymity-<part>.json (and .md, .svg); --render merges parts into one report.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { runLoad } from '@mixlab/load';
import { type Cascade, eventually, REPO_ROOT, startCascade } from '@mixlab/testbed';
import {
  waitForEmptyPools,
  windowAcceptedRate,
  windowBatchSizes,
  windowEntropy,
  windowPoolDepths,
} from './anonymity-measure.ts';
import { renderAnonymitySvg } from './anonymity-plot.ts';
import {
  type AnonymityRun,
  type CascadeRecord,
  formulaRows,
  mergeRuns,
  renderAnonymityMarkdown,
  type WindowResult,
  type WindowUse,
} from './anonymity-report.ts';
import { machine } from './machine.ts';

interface WindowPlan {
  readonly load: number;
  readonly cover?: boolean;
  readonly uses: readonly WindowUse[];
  /** Wait for stragglers after sending (frontier windows, whose latencies count); 0 by default. */
  readonly drainMs?: number;
  /** The cascade's warm-up and measured part, unless this window needs its own. */
  readonly warmupMs?: number;
  readonly measureMs?: number;
}

/** The experiment in parts, each runnable alone (`--part`) under its own hold of the docker lock. */
const PARTS = ['formulas', 'exponential', 'curve', 'frontier'] as const;
type Part = (typeof PARTS)[number];

interface CascadePlan {
  readonly part: Part;
  readonly strategy: string;
  /** Sending before the measured part of each window, so the pools reach the new load's steady state. */
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Before every window, wait until a scrape shows every pool empty (and record it). */
  readonly emptyPoolsFirst?: boolean;
  readonly windows: readonly WindowPlan[];
}

/** Every strategy is compared at this load (msg/s) on the frontier. */
const FRONTIER_LOAD = 10;
/** The entropy-against-load curve's loads (msg/s), and those it also runs with client cover. */
const CURVE_LOADS = [0.5, 1, 2.5, 5, 10, 25, 50];
const COVER_LOADS = [0.5, 2.5, 10, 50];
/** The exponential mix's formula loads at a mean delay of 2 s: λ/μ = 5, 10, 20, 50, 100. */
const EXPONENTIAL_LOADS = [2.5, 5, 10, 25, 50];
/** Client drop cover per client in the cover windows (msg/s). */
const COVER_PER_CLIENT = 0.25;
const SEED = 9;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    part: { type: 'string' },
    clients: { type: 'string', default: '32' },
    full: { type: 'boolean', default: false },
    // A quick check of the whole pipeline: two formula windows per cascade, 6 s each.
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    render: { type: 'string' },
  },
});

const frontier = (drainMs: number): WindowPlan => ({ load: FRONTIER_LOAD, uses: ['formula', 'frontier'], drainMs });
/** A cascade of one window at the frontier load (a formula row and a frontier point). */
const single = (part: Part, strategy: string, warmupMs: number, measureMs: number, drainMs: number): CascadePlan => ({
  part,
  strategy,
  warmupMs,
  measureMs,
  windows: [frontier(drainMs)],
});

/** The curve for a strategy that empties itself every round: every load, some with cover too. */
function curve(frontierDrainMs: number): WindowPlan[] {
  return CURVE_LOADS.flatMap((load) => {
    const measureMs = load <= 1 ? 16_000 : undefined;
    const plain: WindowPlan = {
      load,
      uses: load === FRONTIER_LOAD ? ['curve', 'frontier'] : ['curve'],
      drainMs: load === FRONTIER_LOAD ? frontierDrainMs : 0,
      ...(measureMs ? { measureMs } : {}),
    };
    return COVER_LOADS.includes(load)
      ? [plain, { load, cover: true, uses: ['curve'] as const, ...(measureMs ? { measureMs } : {}) }]
      : [plain];
  });
}

/**
 * The plan, shortened to about 30 minutes of containers on 2 shared cores (a cascade costs
 * about 30 s to start and stop): threshold n = 2, 8, 32 (--full adds 4 and 16); two parameters
 * per other strategy on the frontier; 7 loads on the curve, 4 of them with cover.
 */
function plan(full: boolean): CascadePlan[] {
  const thresholds = full ? [2, 4, 8, 16, 32] : [2, 8, 32];
  return [
    ...thresholds.map((n) => single('formulas', `threshold:n=${n}`, 2000, n >= 32 ? 14_000 : 10_000, 5000)),
    // Flushes of 1 + Poisson(5) packets at 10 msg/s: batch sizes 1..10, every one its own bucket.
    single('formulas', 'threshold:n=10,maxWait=500ms', 2000, 14_000, 3000),
    // fraction=1 keeps exactly min: the Serjantov–Danezis pool mix with n = 10 and N = λt = 10.
    single('formulas', 'pool:t=1s,min=10,fraction=1', 4000, 16_000, 8000),
    // 30 s: the pool carries packets over rounds, so 16 s held too few independent ones (two
    // runs of the same traffic measured 5.39 and 5.77 bits).
    single('formulas', 'binomial:t=1s,p=0.5', 4000, 30_000, 10_000),
    // Mean 2 s: loads 2.5 to 50 msg/s are λ/μ = 5 to 100 (the cascade carries 200 msg/s,
    // docs/experiments/saturation.md). Every window starts from empty pools; 10 s of warm-up
    // is 5 mean delays (the pool within e^-5 of its steady state).
    {
      part: 'exponential',
      strategy: 'exponential:mean=2s',
      warmupMs: 10_000,
      measureMs: 24_000,
      emptyPoolsFirst: true,
      windows: CURVE_LOADS.map((load) => ({
        load,
        uses: [
          'curve',
          ...(EXPONENTIAL_LOADS.includes(load) ? (['formula'] as const) : []),
          ...(load === FRONTIER_LOAD ? (['frontier'] as const) : []),
        ],
        drainMs: load === FRONTIER_LOAD ? 14_000 : 0,
        ...(load <= 1 || load >= 25 ? { measureMs: 20_000 } : {}),
      })),
    },
    // With cover (the curve only), one fresh cascade per load: the observer keeps drop cover
    // sunk at an exponential exit in its pool model (docs/anonymity.md), so it must not carry over.
    ...COVER_LOADS.map(
      (load): CascadePlan => ({
        part: 'curve',
        strategy: 'exponential:mean=2s',
        warmupMs: 10_000,
        measureMs: 12_000,
        windows: [{ load, cover: true, uses: ['curve'] }],
      }),
    ),
    { part: 'curve', strategy: 'timed:t=1s', warmupMs: 2500, measureMs: 8000, windows: curve(4000) },
    {
      part: 'curve',
      strategy: 'threshold-or-timed:n=10,t=1s',
      warmupMs: 2500,
      measureMs: 8000,
      windows: curve(4000),
    },
    // The frontier's second parameter for every strategy but threshold (three above), each
    // measured over 30 s after at least 5 s (Prometheus has scraped layer 1's counters by then).
    single('frontier', 'timed:t=250ms', 5000, 30_000, 3000),
    single('frontier', 'threshold-or-timed:n=20,t=2s', 6000, 30_000, 6000),
    single('frontier', 'threshold:n=20,maxWait=2s', 6000, 30_000, 6000),
    // Keeping 30 with 10 in per round, a round carries 0.77 of the pool over: 12 s to settle.
    single('frontier', 'pool:t=1s,min=30,fraction=1', 12_000, 30_000, 12_000),
    single('frontier', 'binomial:t=500ms,p=0.8', 6000, 30_000, 4000),
    // λ/μ = 5 again, over 240 mean delays instead of 12 (at 2 s the 95 % interval was ±0.67
    // bits, four times the tolerance); then the frontier point at 10 msg/s, from empty pools.
    {
      part: 'frontier',
      strategy: 'exponential:mean=250ms',
      warmupMs: 5000,
      measureMs: 30_000,
      emptyPoolsFirst: true,
      windows: [{ load: 20, uses: ['formula'], measureMs: 60_000 }, frontier(3000)],
    },
  ];
}

const SHORTENED = [
  'threshold n = 2, 8, 32 instead of every n in 2..32: one cascade each (about 45 s), and log2 n is exact at every n the observer sees (`--full` adds 4 and 16).',
  `the curve at ${CURVE_LOADS.join(', ')} msg/s, with cover at ${COVER_LOADS.join(', ')}; timed and threshold-or-timed windows 2.5 s of warm-up and 8 s measured (16 s at 1 msg/s and below), back to back on one cascade per strategy (each empties itself every second); exponential windows 10 s of warm-up (5 mean delays) and 20–24 s measured, each from empty pools.`,
  `the frontier at ${FRONTIER_LOAD} msg/s: threshold over n = 2, 8, 32, every other strategy at two parameters.`,
  'windows of 8–60 s, so Poisson arrival counts vary by 5–30 %: the theory is evaluated at the rate layer 1 accepted in the window (what left it when that counter had not been scraped yet), not at the nominal load; at 2.5 msg/s and below a curve window holds 5–30 messages, so its interval is wide.',
];

/** `<name>.json`, `.md` and `.svg`; a part run alone writes `anonymity-<part>.*`, for `--render` to merge. */
async function writeReport(directory: string, run: AnonymityRun, name = 'anonymity'): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, `${name}.json`), `${JSON.stringify(run, null, 1)}\n`);
  await writeFile(join(directory, `${name}.md`), renderAnonymityMarkdown(run, `${name}.svg`));
  await writeFile(join(directory, `${name}.svg`), renderAnonymitySvg(run));
  console.log(`wrote ${join(directory, `${name}.md`)}, ${name}.svg and ${name}.json`);
}

if (values.render) {
  // One file, or the parts' files (comma-separated) merged into one report beside the first.
  const files = values.render.split(',');
  const runs = await Promise.all(files.map(async (file) => JSON.parse(await readFile(file, 'utf8')) as AnonymityRun));
  await writeReport(values.out ?? dirname(files[0] as string), mergeRuns(runs));
  process.exit(0);
}

const parts = values.part ? values.part.split(',') : [...PARTS];
for (const part of parts) {
  if (!PARTS.includes(part as Part)) throw new Error(`--part ${part}: not one of ${PARTS.join(', ')}`);
}
const reportName = values.part ? `anonymity-${parts.join('+')}` : 'anonymity';
const clients = Number(values.clients);
// Seeds are numbered over the whole plan, so a part run alone sends what it sends in a full run.
let nextSeed = SEED;
const plans = plan(values.full ?? false)
  .map((p) => ({ ...p, windows: p.windows.map((w) => ({ ...w, seed: nextSeed++ })) }))
  .filter((p) => parts.includes(p.part))
  .filter((p) => !values.only || values.only.split(',').some((only) => p.strategy.startsWith(only)))
  .map((p) =>
    values.smoke
      ? {
          ...p,
          warmupMs: Math.min(p.warmupMs, 3000),
          measureMs: 6000,
          windows: p.windows
            .filter((w) => w.uses.includes('formula'))
            .slice(0, 2)
            .map((w) => ({ ...w, warmupMs: Math.min(w.warmupMs ?? p.warmupMs, 3000), measureMs: 6000 })),
        }
      : p,
  );
if (plans.length === 0) throw new Error(`--part ${values.part} --only ${values.only} matches no strategy`);
const stop = new AbortController();
process.on('SIGINT', () => {
  if (stop.signal.aborted) process.exit(130);
  console.log('\nstopping after this window (Ctrl-C again to leave containers behind)');
  stop.abort();
});
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

await cryptoReady();
const startedAt = new Date();
const outDirectory =
  values.out ??
  join(
    REPO_ROOT,
    'results',
    startedAt
      .toISOString()
      .replace(/:/g, '-')
      .replace(/\.\d+Z$/, 'Z'),
  );
const windows: WindowResult[] = [];
const cascades: CascadeRecord[] = [];
const emptyMean = { mean: Number.NaN, halfWidth: Number.NaN, count: 0 };

for (const [index, cascadePlan] of plans.entries()) {
  if (stop.signal.aborted) break;
  const { strategy } = cascadePlan;
  log(`(${index + 1}/${plans.length}) ${strategy}: starting the cascade`);
  const began = Date.now();
  let cascade: Cascade | undefined;
  let startSeconds = Number.NaN;
  const ran: Omit<WindowResult, 'node' | 'route' | 'arrivalRate' | 'batchSizes' | 'poolDepths'>[] = [];
  let record: CascadeRecord;
  // Room for every window's fresh clients: each endpoint (the submitting connections and the
  // recipient's WebSocket, two or more per client) takes one of the observer's client slots,
  // and one that finds none is not modelled (its packets come out unattributed).
  const clientSlots = Math.min(10_000, Math.max(256, clients * cascadePlan.windows.length * 4 + 64));
  try {
    cascade = await startCascade({
      MIXLAB_STRATEGY: strategy,
      MIXLAB_OBSERVER_MAX_CLIENTS: String(clientSlots),
    });
    const { gatewayUrl, prometheusUrl, directoryKey, observerUrl } = cascade;
    await eventually('every layer in the topology', async () => {
      const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
      return topology.layers.length === 3 && topology.layers.every((nodes) => nodes.length > 0) ? true : undefined;
    });
    startSeconds = (Date.now() - began) / 1000;
    let sentUntilMs = Date.now();
    for (const window of cascadePlan.windows) {
      if (stop.signal.aborted) break;
      const pooledAtStart = cascadePlan.emptyPoolsFirst
        ? await waitForEmptyPools(prometheusUrl, sentUntilMs)
        : undefined;
      const warmupMs = window.warmupMs ?? cascadePlan.warmupMs;
      const measureMs = window.measureMs ?? cascadePlan.measureMs;
      const cover = window.cover ? COVER_PER_CLIENT : 0;
      const errors = new Set<string>();
      const { summary } = await runLoad({
        clients,
        ratePerClient: window.load / clients,
        durationMs: warmupMs + measureMs,
        drainMs: window.drainMs ?? 0,
        dropRatePerClient: cover,
        strategy,
        connect: (random) => new MixnetClient(gatewayUrl, { directoryKey, random }),
        generateKeys: generateKeyPair,
        seed: window.seed,
        signal: stop.signal,
        onError: (error) => errors.add(error.message),
      });
      const windowStart = Date.parse(summary.startedAt);
      // While sending only: a drain (for the latencies of a frontier point) empties the pools.
      const fromMs = windowStart + warmupMs;
      const toMs = fromMs + measureMs;
      sentUntilMs = toMs;
      ran.push({
        strategy,
        load: window.load,
        cover: cover * clients,
        uses: window.uses,
        fromMs,
        toMs,
        sent: summary.sent,
        delivered: summary.delivered,
        latencyP50Ms: summary.latencyMs?.p50Ms ?? null,
        latencyP99Ms: summary.latencyMs?.p99Ms ?? null,
        ...(pooledAtStart !== undefined ? { pooledAtStart } : {}),
        ...(errors.size > 0 ? { error: [...errors].slice(0, 2).join('; ') } : {}),
      });
      log(
        `${strategy} at ${window.load} msg/s${cover ? ' + cover' : ''}: ${pooledAtStart !== undefined ? `pooled at start ${pooledAtStart}, ` : ''}sent ${summary.sent}, delivered ${summary.delivered}, p50 ${summary.latencyMs?.p50Ms ?? '–'} ms${errors.size ? ` (${errors.size} kinds of error)` : ''}`,
      );
    }
    // One scrape after the last window, then every window read at the times it ran.
    await new Promise((resolve) => setTimeout(resolve, 2500 + 2000));
    for (const window of ran) {
      const [node, route, batchSizes, poolDepths, acceptedRate] = await Promise.all([
        windowEntropy(prometheusUrl, 'node', window.fromMs, window.toMs),
        windowEntropy(prometheusUrl, 'route', window.fromMs, window.toMs),
        windowBatchSizes(prometheusUrl, window.fromMs, window.toMs),
        strategy.startsWith('exponential') ? windowPoolDepths(prometheusUrl, window.fromMs, window.toMs) : [],
        windowAcceptedRate(prometheusUrl, window.fromMs, window.toMs),
      ]);
      const arrivalRate = node.count / ((window.toMs - window.fromMs) / 1000);
      windows.push({ ...window, node, route, arrivalRate, acceptedRate, batchSizes, poolDepths });
      log(
        `  ${window.load} msg/s${window.cover ? ' + cover' : ''}: node H ${node.mean.toFixed(3)} (${node.count}), route H ${route.mean.toFixed(3)} (${route.count}), λ ${acceptedRate.toFixed(2)}/s in, ${arrivalRate.toFixed(2)}/s out`,
      );
    }
    const estimates = (await (await fetch(new URL('/v1/estimates', observerUrl))).json()) as {
      stats?: Record<string, number>;
      clients?: unknown[];
    };
    const slotsTaken = estimates.clients?.length ?? 0;
    if (slotsTaken >= clientSlots)
      log(`${strategy}: every one of the observer's ${clientSlots} client slots was taken`);
    record = {
      strategy,
      startSeconds,
      seconds: (Date.now() - began) / 1000,
      ...(estimates.stats ? { observerStats: { ...estimates.stats, clientSlots, slotsTaken } } : {}),
    };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'unknown';
    log(`${strategy}: failed: ${message}`);
    for (const window of ran) {
      if (!windows.some((w) => w.fromMs === window.fromMs && w.strategy === strategy)) {
        windows.push({
          ...window,
          node: emptyMean,
          route: emptyMean,
          arrivalRate: 0,
          batchSizes: [],
          poolDepths: [],
          error: message,
        });
      }
    }
    record = { strategy, startSeconds, seconds: (Date.now() - began) / 1000, error: message };
  } finally {
    await cascade?.stop().catch((error: Error) => log(`${strategy}: stopping the cascade failed: ${error.message}`));
  }
  cascades.push(record);
  log(`${strategy}: done in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  // After every cascade, so that a run stopped early (Ctrl-C) still leaves what it measured.
  await writeReport(outDirectory, runSoFar(), reportName);
}

const run = runSoFar();
await writeReport(outDirectory, run, reportName);
for (const r of formulaRows(run)) {
  log(
    `${r.pass ? 'pass' : 'FAIL'} ${r.formula} ${r.parameters}: ${r.measured.mean.toFixed(3)} vs ${r.theory.toFixed(3)}`,
  );
}
log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
process.exit(0);

function runSoFar(): AnonymityRun {
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: machine(),
    clients,
    seed: SEED,
    coverPerClient: COVER_PER_CLIENT,
    frontierLoad: FRONTIER_LOAD,
    shortened: SHORTENED,
    cascades,
    windows,
  };
}
