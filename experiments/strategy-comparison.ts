/**
 * `npm run experiment`: every mixing strategy under one offered load, after a baseline that
 * does not mix (BASELINE_STRATEGY). For each strategy, start a fresh cascade (testcontainers
 * compose, free ports) with MIXLAB_STRATEGY, run the load generator in this process, read
 * batch sizes, mixing delays and the observer's end-to-end entropy from Prometheus, stop the cascade; then write
 * results/<timestamp>/results.md, strategies.svg and results.json.
 *
 *   npm run experiment [-- --duration 45s --drain 10s --clients 4 --rate 2 --loop-rate 0 --only timed,pool]
 *   node experiments/strategy-comparison.ts --render results/<timestamp>/results.json
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { formatProgress, formatSummary, runLoad } from '@mixlab/load';
import { parseDuration } from '@mixlab/runtime';
import { type Cascade, eventually, REPO_ROOT, startCascade } from '@mixlab/testbed';
import { meanRouteEntropy } from './anonymity-measure.ts';
import { machine } from './machine.ts';
import { measureGateway, measureLayers, totalLatencyReports } from './measure.ts';
import { renderSvg } from './plot.ts';
import { BASELINE_STRATEGY, type ExperimentRun, renderMarkdown, type StrategyResult } from './report.ts';

/** One per strategy, each with parameters that deliver within the drain at 8 msg/s. */
const STRATEGIES = [
  'threshold:n=5',
  'threshold:n=10,maxWait=1s',
  'timed:t=1s',
  'threshold-or-timed:n=10,t=1s',
  'pool:t=1s,min=5,fraction=0.6',
  'binomial:t=1s,p=0.5',
  'exponential:mean=200ms',
];

/**
 * Seeds the whole run (send schedules, recipients, routes, hop delays), the same for every
 * strategy. With seed 60 the 4 × 2 msg/s schedule sends exactly the nominal 360 messages in
 * 45 s (seed 1, from before runLoad forked a stream per use, also did; now it sends 385).
 */
const SEED = 60;

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '45s' },
    drain: { type: 'string', default: '10s' },
    clients: { type: 'string', default: '4' },
    rate: { type: 'string', default: '2' },
    // Loop cover per mix node (msg/s); off by default so batches hold only the clients' messages.
    'loop-rate': { type: 'string', default: '0' },
    only: { type: 'string' },
    render: { type: 'string' },
  },
});

async function writeReport(directory: string, run: ExperimentRun): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'results.json'), `${JSON.stringify(run, null, 1)}\n`);
  await writeFile(join(directory, 'results.md'), renderMarkdown(run));
  await writeFile(join(directory, 'strategies.svg'), renderSvg(run));
  console.log(`wrote ${join(directory, 'results.md')} and strategies.svg`);
}

if (values.render) {
  const run = JSON.parse(await readFile(values.render, 'utf8')) as ExperimentRun;
  await writeReport(dirname(values.render), run);
  process.exit(0);
}

const load = {
  clients: Number(values.clients),
  ratePerClient: Number(values.rate),
  durationMs: parseDuration(values.duration, { bareUnit: 's', what: '--duration' }),
  drainMs: parseDuration(values.drain, { bareUnit: 's', what: '--drain', allowZero: true }),
};
const chosen = values.only
  ? STRATEGIES.filter((s) => values.only?.split(',').some((only) => s === only || s.startsWith(`${only}:`)))
  : STRATEGIES;
if (chosen.length === 0) throw new Error(`--only ${values.only} matches none of ${STRATEGIES.join(' ')}`);
// The baseline runs first whatever --only says: without it the latencies have nothing to compare with.
const strategies = [BASELINE_STRATEGY, ...chosen];

const stop = new AbortController();
process.on('SIGINT', () => {
  if (stop.signal.aborted) process.exit(130);
  console.log('\nstopping after this strategy (Ctrl-C again to leave containers behind)');
  stop.abort();
});

await cryptoReady();
const startedAt = new Date();
const results: StrategyResult[] = [];
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

for (const [index, strategy] of strategies.entries()) {
  if (stop.signal.aborted) break;
  log(`(${index + 1}/${strategies.length}) ${strategy}: starting the cascade`);
  const began = Date.now();
  let cascade: Cascade | undefined;
  let result: StrategyResult = { strategy, summary: null, latenciesMs: [], layers: [], gateway: null, startSeconds: 0 };
  let packetFormat = '';
  const errors = new Set<string>();
  try {
    cascade = await startCascade({ MIXLAB_STRATEGY: strategy, MIXLAB_LOOP_RATE: values['loop-rate'] });
    const { gatewayUrl, prometheusUrl, directoryKey } = cascade;
    await eventually('every layer in the topology', async () => {
      const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
      return topology.layers.length === 3 && topology.layers.every((nodes) => nodes.length > 0) ? true : undefined;
    });
    packetFormat = (await new MixnetClient(gatewayUrl, { directoryKey }).gateway.info()).packetFormat;
    const startSeconds = (Date.now() - began) / 1000;
    log(`${strategy}: cascade up in ${startSeconds.toFixed(1)} s, sending`);
    const { summary, latenciesMs } = await runLoad({
      ...load,
      strategy,
      connect: (random) => new MixnetClient(gatewayUrl, { directoryKey, random }),
      generateKeys: generateKeyPair,
      seed: SEED,
      signal: stop.signal,
      progressIntervalMs: 10_000,
      onProgress: (progress) => log(`${strategy}: ${formatProgress(progress, load)}`),
      onError: (error) => {
        // Once per reason: a broken cascade fails every send the same way.
        if (errors.has(error.message)) return;
        errors.add(error.message);
        log(`${strategy}: ${error.message}`);
      },
    });
    if (summary.sent === 0) {
      throw new Error(`no message was sent (${summary.sendErrors} sends failed: ${[...errors].join('; ')})`);
    }
    // Wait until Prometheus has scraped every reported latency, then one more scrape for the mix nodes.
    await eventually(
      'Prometheus to scrape every latency report',
      async () => ((await totalLatencyReports(prometheusUrl)) >= summary.delivered ? true : undefined),
      20_000,
    ).catch((error: Error) => log(`${strategy}: ${error.message}`));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [layers, gateway, entropyBits] = await Promise.all([
      measureLayers(prometheusUrl),
      measureGateway(prometheusUrl),
      meanRouteEntropy(prometheusUrl),
    ]);
    result = { strategy, packetFormat, summary, latenciesMs, layers, gateway, startSeconds, entropyBits };
    console.log(formatSummary(summary).replace(/^/gm, '    '));
    console.log(`    end-to-end entropy (observer): ${entropyBits.toFixed(2)} bits`);
    console.log(`    mean batch size per layer: ${layers.map((l) => l.meanBatchSize.toFixed(2)).join(' / ')}`);
  } catch (error) {
    log(`${strategy}: failed: ${(error as Error).message}`);
    result = { ...result, error: (error as Error).message.split('\n')[0] ?? 'unknown' };
  } finally {
    await cascade?.stop().catch((error: Error) => log(`${strategy}: stopping the cascade failed: ${error.message}`));
  }
  results.push(result);
  log(`${strategy}: done in ${((Date.now() - began) / 1000).toFixed(0)} s`);
}

const run: ExperimentRun = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: machine(),
  load: {
    clients: load.clients,
    ratePerClient: load.ratePerClient,
    durationSeconds: load.durationMs / 1000,
    drainSeconds: load.drainMs / 1000,
    seed: SEED,
    loopRate: Number(values['loop-rate']),
  },
  packetFormat: [...new Set(results.map((r) => r.packetFormat).filter((f) => f))].join(', ') || 'unknown',
  results,
};
// ISO 8601 without colons, which some file systems and tools dislike.
const stamp = run.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
await writeReport(join(REPO_ROOT, 'results', stamp), run);
log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
process.exit(0);
