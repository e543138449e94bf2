/**
 * `npm run experiment -- anonymity` (or `npm run experiment:anonymity`): issue 9's anonymity
 * observatory. One cascade per strategy configuration, the observer watching; the load
 * generator (seeded) sends in windows, one per offered load (with and without client drop
 * cover), back to back on the same cascade; after the cascade's last window Prometheus is read
 * for every window at the times it ran. Writes anonymity.md, anonymity.svg and anonymity.json.
 *
 *   npm run experiment -- anonymity [--only threshold,exponential] [--clients 32] [--full] [--out docs/experiments]
 *   node experiments/anonymity.ts --render docs/experiments/anonymity.json
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { runLoad } from '@mixlab/load';
import { type Cascade, eventually, REPO_ROOT, startCascade } from '@mixlab/testbed';
import { windowBatchSizes, windowEntropy, windowPoolDepths } from './anonymity-measure.ts';
import { renderAnonymitySvg } from './anonymity-plot.ts';
import {
  type AnonymityRun,
  type CascadeRecord,
  formulaRows,
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
}

interface CascadePlan {
  readonly strategy: string;
  /** Sending before the measured part of each window, so the pools reach the new load's steady state. */
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly windows: readonly WindowPlan[];
}

/** Every strategy is compared at this load (msg/s) on the frontier. */
const FRONTIER_LOAD = 10;
/** The entropy-against-load curve's loads (msg/s). */
const CURVE_LOADS = [0.5, 2.5, 10, 50];
/** Client drop cover per client in the cover windows (msg/s). */
const COVER_PER_CLIENT = 0.25;
const SEED = 9;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    clients: { type: 'string', default: '32' },
    full: { type: 'boolean', default: false },
    // A quick check of the whole pipeline: two formula windows per cascade, 6 s each.
    smoke: { type: 'boolean', default: false },
    out: { type: 'string' },
    render: { type: 'string' },
  },
});

const frontier = (drainMs: number): WindowPlan => ({ load: FRONTIER_LOAD, uses: ['formula', 'frontier'], drainMs });
/** The curve for one strategy: every load without and with cover; the frontier load's plain window also a frontier point. */
const curve = (frontierDrainMs: number, formulaLoads: readonly number[] = []): WindowPlan[] => {
  const loads = [...new Set([...CURVE_LOADS, ...formulaLoads])].sort((a, b) => a - b);
  return loads.flatMap((load) => {
    const plain: WindowPlan = {
      load,
      uses: [
        ...(CURVE_LOADS.includes(load) ? (['curve'] as const) : []),
        ...(formulaLoads.includes(load) ? (['formula'] as const) : []),
        ...(load === FRONTIER_LOAD ? (['frontier'] as const) : []),
      ],
      drainMs: load === FRONTIER_LOAD ? frontierDrainMs : 0,
    };
    return CURVE_LOADS.includes(load) ? [plain, { load, cover: true, uses: ['curve'] as const }] : [plain];
  });
};

/**
 * The plan, shortened to about 13 minutes on 2 shared cores (a cascade costs about 30 s to start
 * and stop): threshold n = 2, 8, 32 (all of 2..32 with --full adds 4 and 16); one parameter per
 * strategy on the frontier except threshold (--full adds a second); 4 loads on the curve.
 */
function plan(full: boolean): CascadePlan[] {
  const thresholds = full ? [2, 4, 8, 16, 32] : [2, 8, 32];
  const plans: CascadePlan[] = [
    ...thresholds.map((n) => ({
      strategy: `threshold:n=${n}`,
      warmupMs: 2000,
      measureMs: n >= 32 ? 14_000 : 10_000,
      windows: [frontier(5000)],
    })),
    // Flushes of 1 + Poisson(5) packets at 10 msg/s: batch sizes 1..10, every one its own bucket.
    { strategy: 'threshold:n=10,maxWait=500ms', warmupMs: 2000, measureMs: 14_000, windows: [frontier(3000)] },
    // fraction=1 keeps exactly min: the Serjantov–Danezis pool mix with n = 10 and N = λt = 10.
    { strategy: 'pool:t=1s,min=10,fraction=1', warmupMs: 4000, measureMs: 16_000, windows: [frontier(8000)] },
    { strategy: 'binomial:t=1s,p=0.5', warmupMs: 4000, measureMs: 16_000, windows: [frontier(10_000)] },
    // Mean 2 s: loads 2.5, 5, 10, 25, 50 msg/s are λ/μ = 5, 10, 20, 50, 100.
    {
      strategy: 'exponential:mean=2s',
      warmupMs: 6000,
      measureMs: 10_000,
      windows: curve(14_000, [2.5, 5, 10, 25, 50]),
    },
    { strategy: 'timed:t=1s', warmupMs: 2500, measureMs: 8000, windows: curve(4000) },
    { strategy: 'threshold-or-timed:n=10,t=1s', warmupMs: 2500, measureMs: 8000, windows: curve(4000) },
  ];
  if (full) {
    plans.push(
      { strategy: 'timed:t=250ms', warmupMs: 2000, measureMs: 8000, windows: [frontier(3000)] },
      { strategy: 'threshold-or-timed:n=20,t=2s', warmupMs: 3000, measureMs: 10_000, windows: [frontier(6000)] },
      { strategy: 'pool:t=1s,min=30,fraction=1', warmupMs: 5000, measureMs: 14_000, windows: [frontier(12_000)] },
      { strategy: 'binomial:t=500ms,p=0.8', warmupMs: 3000, measureMs: 12_000, windows: [frontier(4000)] },
      { strategy: 'exponential:mean=250ms', warmupMs: 2000, measureMs: 10_000, windows: [frontier(3000)] },
      { strategy: 'threshold:n=20,maxWait=2s', warmupMs: 3000, measureMs: 12_000, windows: [frontier(6000)] },
    );
  }
  return plans;
}

const SHORTENED = [
  'threshold n = 2, 8, 32 instead of every n in 2..32: one cascade each (about 45 s), and log2 n is exact at every n the observer sees (`--full` adds 4 and 16).',
  `the curve at ${CURVE_LOADS.join(', ')} msg/s instead of a finer sweep from 0.5 to 50, each window 2.5 s of warm-up and 8 s measured (exponential: 6 s and 10 s), all loads on one cascade per strategy, back to back.`,
  `the frontier at ${FRONTIER_LOAD} msg/s: threshold over n = 2, 8, 32, every other strategy at one parameter (\`--full\` adds a second for each).`,
  'windows of 8–16 s, so Poisson arrival counts vary by 10–30 %: the theory is evaluated at the rate the observer saw leave layer 1, not at the nominal load.',
];

async function writeReport(directory: string, run: AnonymityRun): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'anonymity.json'), `${JSON.stringify(run, null, 1)}\n`);
  await writeFile(join(directory, 'anonymity.md'), renderAnonymityMarkdown(run));
  await writeFile(join(directory, 'anonymity.svg'), renderAnonymitySvg(run));
  console.log(`wrote ${join(directory, 'anonymity.md')}, anonymity.svg and anonymity.json`);
}

if (values.render) {
  const run = JSON.parse(await readFile(values.render, 'utf8')) as AnonymityRun;
  await writeReport(dirname(values.render), run);
  process.exit(0);
}

const clients = Number(values.clients);
const plans = plan(values.full ?? false)
  .filter((p) => !values.only || values.only.split(',').some((only) => p.strategy.startsWith(only)))
  .map((p) =>
    values.smoke
      ? {
          ...p,
          warmupMs: Math.min(p.warmupMs, 3000),
          measureMs: 6000,
          windows: p.windows.filter((w) => w.uses.includes('formula')).slice(0, 2),
        }
      : p,
  );
if (plans.length === 0) throw new Error(`--only ${values.only} matches no strategy`);
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
let seed = SEED;
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
  try {
    // Room for every window's fresh clients: each connection is a client slot to the observer.
    cascade = await startCascade({
      MIXLAB_STRATEGY: strategy,
      MIXLAB_OBSERVER_MAX_CLIENTS: String(Math.max(256, clients * cascadePlan.windows.length + 16)),
    });
    const { gatewayUrl, prometheusUrl, directoryKey, observerUrl } = cascade;
    await eventually('every layer in the topology', async () => {
      const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
      return topology.layers.length === 3 && topology.layers.every((nodes) => nodes.length > 0) ? true : undefined;
    });
    startSeconds = (Date.now() - began) / 1000;
    for (const window of cascadePlan.windows) {
      if (stop.signal.aborted) break;
      const cover = window.cover ? COVER_PER_CLIENT : 0;
      const errors = new Set<string>();
      const { summary } = await runLoad({
        clients,
        ratePerClient: window.load / clients,
        durationMs: cascadePlan.warmupMs + cascadePlan.measureMs,
        drainMs: window.drainMs ?? 0,
        dropRatePerClient: cover,
        strategy,
        connect: (random) => new MixnetClient(gatewayUrl, { directoryKey, random }),
        generateKeys: generateKeyPair,
        seed: seed++,
        signal: stop.signal,
        onError: (error) => errors.add(error.message),
      });
      const windowStart = Date.parse(summary.startedAt);
      // While sending only: a drain (for the latencies of a frontier point) empties the pools.
      const fromMs = windowStart + cascadePlan.warmupMs;
      const toMs = fromMs + cascadePlan.measureMs;
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
        ...(errors.size > 0 ? { error: [...errors].slice(0, 2).join('; ') } : {}),
      });
      log(
        `${strategy} at ${window.load} msg/s${cover ? ' + cover' : ''}: sent ${summary.sent}, delivered ${summary.delivered}, p50 ${summary.latencyMs?.p50Ms ?? '–'} ms${errors.size ? ` (${errors.size} kinds of error)` : ''}`,
      );
    }
    // One scrape after the last window, then every window read at the times it ran.
    await new Promise((resolve) => setTimeout(resolve, 2500 + 2000));
    for (const window of ran) {
      const [node, route, batchSizes, poolDepths] = await Promise.all([
        windowEntropy(prometheusUrl, 'node', window.fromMs, window.toMs),
        windowEntropy(prometheusUrl, 'route', window.fromMs, window.toMs),
        windowBatchSizes(prometheusUrl, window.fromMs, window.toMs),
        strategy.startsWith('exponential') ? windowPoolDepths(prometheusUrl, window.fromMs, window.toMs) : [],
      ]);
      const arrivalRate = node.count / ((window.toMs - window.fromMs) / 1000);
      windows.push({ ...window, node, route, arrivalRate, batchSizes, poolDepths });
      log(
        `  ${window.load} msg/s${window.cover ? ' + cover' : ''}: node H ${node.mean.toFixed(3)} (${node.count}), route H ${route.mean.toFixed(3)} (${route.count}), λ ${arrivalRate.toFixed(2)}/s`,
      );
    }
    const estimates = (await (await fetch(new URL('/v1/estimates', observerUrl))).json()) as {
      stats?: Record<string, number>;
    };
    record = {
      strategy,
      startSeconds,
      seconds: (Date.now() - began) / 1000,
      ...(estimates.stats ? { observerStats: estimates.stats } : {}),
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
  await writeReport(outDirectory, runSoFar());
}

const run = runSoFar();
await writeReport(outDirectory, run);
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
