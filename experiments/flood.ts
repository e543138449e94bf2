/**
 * A flood against a real cascade, with honest traffic alongside, and the gateway's memory
 * before, during and after:
 *
 *   npm run flood [-- --rate 300 --duration 20s --before 15s --after 60s --clients 4 --client-rate 1
 *                    --limit 100 --burst 200 | --no-limits]
 *
 * Starts a cascade (the gateway's rate limit set by --limit and --burst, packets per second per
 * client; --no-limits turns the rate limit and the bound on submissions in flight off, for the
 * comparison), then runs the load generator's honest clients from this host for the whole run,
 * and after --before the flooder (experiments/flooder.ts) in a container on the cascade's
 * network: --rate requests per second of one drop-cover packet each, for --duration. It samples
 * the gateway's resident memory and V8 heap as Prometheus scraped them (every 2 s; the gateway's
 * /metrics is on its delivery listener, inside the compose network) every second, and writes
 * results/flood-<time>/flood.md (and samples.json): memory per phase, the flooder's answers,
 * the gateway's and the mix nodes' counters, what became of the honest messages.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { formatSummary, type LoadSummary, runLoad } from '@mixlab/load';
import { parseDuration } from '@mixlab/runtime';
import {
  type Cascade,
  eventually,
  MIXLAB_IMAGE,
  queryByLabel,
  queryValue,
  queryVector,
  REPO_ROOT,
  startCascade,
} from '@mixlab/testbed';
import type { FloodSummary } from './flooder.ts';
import { machine } from './machine.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '300' },
    duration: { type: 'string', default: '20s' },
    before: { type: 'string', default: '15s' },
    after: { type: 'string', default: '60s' },
    clients: { type: 'string', default: '4' },
    'client-rate': { type: 'string', default: '1' },
    limit: { type: 'string', default: '100' },
    burst: { type: 'string', default: '200' },
    'no-limits': { type: 'boolean', default: false },
  },
});
const floodMs = parseDuration(values.duration);
const beforeMs = parseDuration(values.before);
const afterMs = parseDuration(values.after);
const settings: Record<string, string> = values['no-limits']
  ? { MIXLAB_RATE_LIMIT_KEY: 'off', MIXLAB_MAX_SUBMITS_IN_FLIGHT: '100000' }
  : {
      MIXLAB_RATE_LIMIT_KEY: 'address',
      MIXLAB_RATE_LIMIT_PER_SECOND: values.limit,
      MIXLAB_RATE_LIMIT_BURST: values.burst,
    };
const MiB = 2 ** 20;
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

interface MemorySample {
  /** Seconds since the honest traffic started. */
  readonly t: number;
  readonly phase: 'before' | 'during' | 'after';
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
}

/** The gateway's resident memory and V8 heap in use, as Prometheus last scraped them. */
async function gatewayMemory(prometheusUrl: string): Promise<{ rss: number; heapUsed: number }> {
  const value = async (name: string) =>
    (await queryValue(prometheusUrl, `sum(${name}{job="client-gateway"})`)) ?? Number.NaN;
  return {
    rss: await value('mixlab_process_process_resident_memory_bytes'),
    heapUsed: await value('mixlab_process_nodejs_heap_size_used_bytes'),
  };
}

/**
 * Forces a full garbage collection in the gateway, to tell the heap V8 merely keeps from heap
 * in use: SIGUSR1 opens the gateway's inspector (on 127.0.0.1 inside its container), and a
 * script in the same container asks it for HeapProfiler.collectGarbage.
 */
const COLLECT_GARBAGE = `
import { readdirSync, readFileSync } from 'node:fs';
const pid = readdirSync('/proc').find((entry) => /^\\d+$/.test(entry) && Number(entry) !== process.pid &&
  readFileSync('/proc/' + entry + '/cmdline', 'utf8').startsWith('node\\0services/client-gateway/src/main.ts'));
process.kill(Number(pid), 'SIGUSR1');
await new Promise((resolve) => setTimeout(resolve, 1000));
const [target] = await (await fetch('http://127.0.0.1:9229/json/list')).json();
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve) => { ws.onopen = resolve; });
ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
await new Promise((resolve) => { ws.onmessage = resolve; });
ws.close();
`;

/** Counters of one gateway metric, by their outcome label, as Prometheus last scraped them. */
function gatewayCounters(prometheusUrl: string, metric: string): Promise<Record<string, number>> {
  return queryByLabel(prometheusUrl, `sum by (outcome) (${metric}{job="client-gateway"})`, 'outcome');
}

/** Runs the flooder in a container on `network`; resolves with its summary, calling back as its phases start. */
function runFlooder(
  network: string,
  directoryKey: string,
  startAt: number,
  on: { started: () => void; ended: () => void },
): Promise<FloodSummary> {
  const args = ['run', '--rm', '--network', network, MIXLAB_IMAGE, 'node', 'experiments/flooder.ts'];
  args.push('--directory-key', directoryKey, '--rate', values.rate, '--duration', values.duration);
  args.push('--start-at', String(startAt));
  const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let summary: FloodSummary | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) summary = JSON.parse(line) as FloodSummary;
      else log(`flooder: ${line}`);
      if (line.startsWith('flood started')) on.started();
      if (line.startsWith('flood ended')) on.ended();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      summary ? resolve(summary) : reject(new Error(`the flooder exited with ${code} and no summary`)),
    );
  });
}

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

function report(
  samples: MemorySample[],
  flood: FloodSummary,
  honest: LoadSummary,
  submitted: Record<string, number>,
  layers: { layer: string; outcome: string; value: number }[],
  startedAt: Date,
  collected: { rss: number; heapUsed: number } | string,
): string {
  const phase = (name: MemorySample['phase']) => samples.filter((sample) => sample.phase === name);
  const before = phase('before');
  const during = phase('during');
  const after = phase('after');
  const baseline = median(before.map((s) => s.rssMiB));
  const heapBaseline = median(before.map((s) => s.heapUsedMiB));
  const floodEnd = after[0]?.t ?? Number.NaN;
  // Back near the baseline: within 10% (at least 8 MiB) of it, and staying there.
  const near = (value: number, base: number) => value <= base + Math.max(8, base * 0.1);
  const settle = (values: (s: MemorySample) => number, base: number) => {
    const lastAbove = after.findLastIndex((sample) => !near(values(sample), base));
    const back = after[lastAbove + 1];
    return back ? `${(back.t - floodEnd).toFixed(0)} s` : `not within ${after.length} s`;
  };
  const row = (name: string, list: MemorySample[]) => {
    const rss = list.map((s) => s.rssMiB);
    const heap = list.map((s) => s.heapUsedMiB);
    return `| ${name} | ${list.length} | ${median(rss).toFixed(0)} | ${Math.max(...rss).toFixed(0)} | ${median(heap).toFixed(0)} | ${Math.max(...heap).toFixed(0)} |`;
  };
  const table = (entries: Record<string, number>) =>
    Object.entries(entries)
      .map(([key, value]) => `${key}: ${value}`)
      .join(', ') || 'none';
  const m = machine();
  return [
    `# Flood run, ${startedAt.toISOString()}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB, Node.js ${m.node}, Docker engine ${m.docker}, ${m.platform}.`,
    `Gateway limits: ${values['no-limits'] ? 'none (RATE_LIMIT_KEY=off, MAX_SUBMITS_IN_FLIGHT=100000)' : `${values.limit} packets/s per client address, burst ${values.burst}; 64 submissions in flight`}.`,
    `Flood: ${flood.offered} requests of one drop-cover packet each over ${flood.durationSeconds} s (${values.rate}/s offered) from a container on the cascade's network; honest: ${honest.clients} clients × ${honest.ratePerClient} msg/s from the host.`,
    '',
    '## Gateway memory (from its /metrics, sampled every second)',
    '',
    '| phase | samples | RSS median (MiB) | RSS max (MiB) | heap used median (MiB) | heap used max (MiB) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('before', before),
    row('during', during),
    row('after', after),
    '',
    `Baseline RSS ${baseline.toFixed(0)} MiB, heap used ${heapBaseline.toFixed(0)} MiB. After the flood, RSS back within 10% (at least 8 MiB) of the baseline and staying there: ${settle((s) => s.rssMiB, baseline)}; heap used: ${settle((s) => s.heapUsedMiB, heapBaseline)}. Last sample: RSS ${after.at(-1)?.rssMiB.toFixed(0)} MiB, heap used ${after.at(-1)?.heapUsedMiB.toFixed(0)} MiB.`,
    '',
    typeof collected === 'string'
      ? `Forcing a full garbage collection at the end failed: ${collected}.`
      : `Then a forced full garbage collection (through the gateway's inspector): RSS ${(collected.rss / MiB).toFixed(0)} MiB, heap used ${(collected.heapUsed / MiB).toFixed(0)} MiB two seconds later.`,
    '',
    '## Answers to the flooder',
    '',
    `By status: ${table(flood.statuses)}. By error code: ${table(flood.codes)}. Retry-After (s): ${table(flood.retryAfter)}. Not sent (flooder's own cap on unanswered requests): ${flood.skipped}.`,
    '',
    '## Counters',
    '',
    `mixlab_gateway_packets_submitted_total: ${table(submitted)}.`,
    '',
    `mixlab_packets_total (outcomes above zero): ${layers.map((r) => `layer ${r.layer} ${r.outcome} ${r.value}`).join(', ')}.`,
    '',
    '## Honest traffic (load generator on the host, through docker-proxy)',
    '',
    '```',
    formatSummary(honest),
    '```',
    '',
  ].join('\n');
}

await cryptoReady();
const startedAt = new Date();
log(`starting the cascade (${JSON.stringify(settings)})`);
let cascade: Cascade | undefined;
try {
  cascade = await startCascade(settings);
  const { gatewayUrl, prometheusUrl, directoryKey } = cascade;
  await eventually('every layer in the topology', async () => {
    const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
    return topology.layers.every((nodes) => nodes.length > 0) ? true : undefined;
  });
  const network = cascade.environment.getContainer('client-gateway-1').getNetworkNames()[0] as string;
  const samples: MemorySample[] = [];
  let phase: MemorySample['phase'] = 'before';
  const t0 = Date.now();
  const sampler = setInterval(async () => {
    const memory = await gatewayMemory(prometheusUrl).catch(() => undefined);
    if (!memory) return;
    const t = (Date.now() - t0) / 1000;
    samples.push({ t, phase, rssMiB: memory.rss / MiB, heapUsedMiB: memory.heapUsed / MiB });
  }, 1000);
  const honestErrors = new Set<string>();
  const honest = runLoad({
    clients: Number(values.clients),
    ratePerClient: Number(values['client-rate']),
    durationMs: beforeMs + floodMs + afterMs,
    drainMs: 15_000,
    connect: (random) => new MixnetClient(gatewayUrl, { directoryKey, random }),
    generateKeys: generateKeyPair,
    onError: (error) => {
      if (!honestErrors.has(error.message)) log(`honest: ${error.message}`);
      honestErrors.add(error.message);
    },
  });
  log(`honest traffic started; the flood starts in ${beforeMs / 1000} s`);
  const flood = await runFlooder(network, directoryKey, t0 + beforeMs, {
    started: () => {
      phase = 'during';
    },
    ended: () => {
      phase = 'after';
    },
  });
  log(`flood answered: ${JSON.stringify(flood.statuses)}; sampling for ${afterMs / 1000} s more`);
  const { summary } = await honest;
  clearInterval(sampler);
  const gateway = cascade.environment.getContainer('client-gateway-1');
  const gc = await gateway.exec(['node', '--input-type=module', '-e', COLLECT_GARBAGE]);
  await new Promise((resolve) => setTimeout(resolve, 4000)); // a scrape after the collection
  const collected =
    gc.exitCode === 0 ? await gatewayMemory(prometheusUrl) : (gc.output.trim().split('\n').at(-1) ?? '');
  const submitted = await gatewayCounters(prometheusUrl, 'mixlab_gateway_packets_submitted_total');
  await new Promise((resolve) => setTimeout(resolve, 3000)); // one more scrape of the mix nodes
  const layers = (await queryVector(prometheusUrl, 'sum by (layer, outcome) (mixlab_packets_total) > 0'))
    .map((row) => ({ layer: row.metric.layer ?? '', outcome: row.metric.outcome ?? '', value: Number(row.value[1]) }))
    .sort((a, b) => a.layer.localeCompare(b.layer) || a.outcome.localeCompare(b.outcome));
  const markdown = report(samples, flood, summary, submitted, layers, startedAt, collected);
  const dir = join(
    REPO_ROOT,
    'results',
    `flood-${startedAt
      .toISOString()
      .replace(/:/g, '-')
      .replace(/\.\d+Z$/, 'Z')}`,
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'flood.md'), markdown);
  await writeFile(join(dir, 'samples.json'), `${JSON.stringify({ settings, flood, samples, collected }, null, 2)}\n`);
  console.log(`\n${markdown}`);
  log(`wrote ${dir}`);
} finally {
  await cascade?.stop();
}
process.exit(0);
