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
  /** The V8 heap's committed size (new space included): what V8 holds of the RSS. */
  readonly heapTotalMiB: number;
  /** Memory outside the V8 heap that V8 knows of (Buffers and ArrayBuffers among it). */
  readonly externalMiB: number;
  /** Committed size of the young generation (new space) and of the old space. */
  readonly newSpaceMiB: number;
  readonly oldSpaceMiB: number;
}

interface GatewayMemory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly newSpace: number;
  readonly oldSpace: number;
}

/** The gateway's resident memory, V8 heap and external memory, as Prometheus last scraped them. */
async function gatewayMemory(prometheusUrl: string): Promise<GatewayMemory> {
  const value = async (selector: string) => (await queryValue(prometheusUrl, `sum(${selector})`)) ?? Number.NaN;
  const gateway = 'job="client-gateway"';
  return {
    rss: await value(`mixlab_process_process_resident_memory_bytes{${gateway}}`),
    heapUsed: await value(`mixlab_process_nodejs_heap_size_used_bytes{${gateway}}`),
    heapTotal: await value(`mixlab_process_nodejs_heap_size_total_bytes{${gateway}}`),
    external: await value(`mixlab_process_nodejs_external_memory_bytes{${gateway}}`),
    newSpace: await value(`mixlab_process_nodejs_heap_space_size_total_bytes{${gateway},space="new"}`),
    oldSpace: await value(`mixlab_process_nodejs_heap_space_size_total_bytes{${gateway},space="old"}`),
  };
}

/** The gateway's node process in its container, found by its command line (docker-init, PID 1, has it too, after its own). */
const FIND_GATEWAY = `
import { readdirSync, readFileSync } from 'node:fs';
const pid = readdirSync('/proc').find((entry) => /^\\d+$/.test(entry) && Number(entry) !== process.pid &&
  /^node\\0(?:.*\\0)?services\\/client-gateway\\/src\\/main\\.ts\\0/.test(readFileSync('/proc/' + entry + '/cmdline', 'utf8')));
`;

/**
 * Where the gateway's resident memory is, from /proc/<pid>/smaps (kB): glibc's main arena
 * ([heap]), its thread arenas (heaps of 64 MiB, aligned to their size, each a read-write
 * part and a reserved rest), other anonymous mappings (V8's heap pages, large malloc chunks,
 * stacks), and files (code, the SQLite file's pages).
 */
const MEMORY_MAP = `${FIND_GATEWAY}
const ARENA = 64 * 1024 * 1024;
const maps = [];
for (const line of readFileSync('/proc/' + pid + '/smaps', 'utf8').split('\\n')) {
  const head = /^([0-9a-f]+)-([0-9a-f]+) (\\S+) \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
  if (head) maps.push({ start: BigInt('0x' + head[1]), end: BigInt('0x' + head[2]), perms: head[3], path: head[4], rss: 0 });
  const rss = /^Rss:\\s+(\\d+) kB/.exec(line);
  if (rss) maps.at(-1).rss = Number(rss[1]);
}
const kB = { mainArena: 0, threadArenas: 0, otherAnonymous: 0, files: 0 };
let arenas = 0;
maps.forEach((map, i) => {
  const next = maps[i + 1];
  const size = Number(map.end - map.start) + (next && next.start === map.end && next.perms === '---p' ? Number(next.end - next.start) : 0);
  if (map.path === '[heap]') kB.mainArena += map.rss;
  else if (map.path.startsWith('/')) kB.files += map.rss;
  else if (map.path === '' && map.perms === 'rw-p' && map.start % BigInt(ARENA) === 0n && size === ARENA) { kB.threadArenas += map.rss; arenas++; }
  else kB.otherAnonymous += map.rss;
});
const threads = Number(/^Threads:\\s+(\\d+)/m.exec(readFileSync('/proc/' + pid + '/status', 'utf8'))[1]);
console.log(JSON.stringify({ ...kB, arenas, threads }));
`;

interface MemoryMap {
  readonly label: string;
  /** Resident kB by where it is. */
  readonly mainArena: number;
  readonly threadArenas: number;
  readonly otherAnonymous: number;
  readonly files: number;
  readonly arenas: number;
  readonly threads: number;
}

/**
 * Forces a full garbage collection in the gateway, to tell the heap V8 merely keeps from heap
 * in use: SIGUSR1 opens the gateway's inspector (on 127.0.0.1 inside its container), and a
 * script in the same container asks it for HeapProfiler.collectGarbage, and for the process's
 * own process.memoryUsage() (arrayBuffers is only there) before and after it.
 */
const COLLECT_GARBAGE = `${FIND_GATEWAY}
process.kill(Number(pid), 'SIGUSR1');
await new Promise((resolve) => setTimeout(resolve, 1000));
const [target] = await (await fetch('http://127.0.0.1:9229/json/list')).json();
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve) => { ws.onopen = resolve; });
let id = 0;
const call = (method, params = {}) => new Promise((resolve) => {
  const mine = ++id;
  ws.addEventListener('message', function answer(event) {
    const reply = JSON.parse(event.data);
    if (reply.id !== mine) return;
    ws.removeEventListener('message', answer);
    resolve(reply.result);
  });
  ws.send(JSON.stringify({ id: mine, method, params }));
});
const usage = async () => JSON.parse((await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())' })).result.value);
const before = await usage();
await call('HeapProfiler.collectGarbage');
await new Promise((resolve) => setTimeout(resolve, 2000));
console.log(JSON.stringify({ before, after: await usage() }));
ws.close();
`;

type Usage = Record<'rss' | 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers', number>;

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
  maps: MemoryMap[],
  collected: { readonly before: Usage; readonly after: Usage } | string,
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
    const cells = [
      (s: MemorySample) => s.rssMiB,
      (s: MemorySample) => s.heapUsedMiB,
      (s: MemorySample) => s.heapTotalMiB,
      (s: MemorySample) => s.externalMiB,
      (s: MemorySample) => s.newSpaceMiB,
      (s: MemorySample) => s.oldSpaceMiB,
    ].flatMap((of) => {
      const all = list.map(of);
      return [median(all).toFixed(0), Math.max(...all).toFixed(0)];
    });
    return `| ${name} | ${list.length} | ${cells.join(' | ')} |`;
  };
  const kiB = (value: number) => (value / 1024).toFixed(0);
  const mapRow = (map: MemoryMap) =>
    `| ${map.label} | ${kiB(map.mainArena)} | ${kiB(map.threadArenas)} (${map.arenas}) | ${kiB(map.otherAnonymous)} | ${kiB(map.files)} | ${map.threads} |`;
  const usage = (u: Usage) =>
    (['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const)
      .map((key) => `${key} ${(u[key] / MiB).toFixed(0)}`)
      .join(', ');
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
    '| phase | samples | RSS median | RSS max | heap used median | heap used max | heap total median | heap total max | external median | external max | new space median | new space max | old space median | old space max |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('before', before),
    row('during', during),
    row('after', after),
    '',
    `Baseline RSS ${baseline.toFixed(0)} MiB, heap used ${heapBaseline.toFixed(0)} MiB. After the flood, RSS back within 10% (at least 8 MiB) of the baseline and staying there: ${settle((s) => s.rssMiB, baseline)}; heap used: ${settle((s) => s.heapUsedMiB, heapBaseline)}. Last sample: RSS ${after.at(-1)?.rssMiB.toFixed(0)} MiB, heap used ${after.at(-1)?.heapUsedMiB.toFixed(0)} MiB.`,
    '',
    'MiB. Heap total is what V8 has committed, of which new space (the young generation) and old space; external is memory outside the heap that V8 accounts for (Buffers).',
    '',
    '## Where the resident memory is (from /proc/<pid>/smaps, MiB)',
    '',
    '| when | malloc main arena | malloc thread arenas (count) | other anonymous (V8 heap, large chunks, stacks) | files | threads |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...maps.map(mapRow),
    '',
    typeof collected === 'string'
      ? `Forcing a full garbage collection at the end failed: ${collected}.`
      : `process.memoryUsage() in the gateway at the end (MiB): ${usage(collected.before)}; two seconds after a forced full garbage collection (through its inspector): ${usage(collected.after)}.`,
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
  const gateway = cascade.environment.getContainer('client-gateway-1');
  const network = gateway.getNetworkNames()[0] as string;
  const maps: Promise<MemoryMap | undefined>[] = [];
  const memoryMap = (label: string) => {
    maps.push(
      gateway.exec(['node', '--input-type=module', '-e', MEMORY_MAP]).then((run) => {
        if (run.exitCode === 0) return { label, ...JSON.parse(run.stdout) } as MemoryMap;
        log(`memory map ${label} failed: ${run.output.trim()}`);
        return undefined;
      }),
    );
  };
  const samples: MemorySample[] = [];
  let phase: MemorySample['phase'] = 'before';
  const t0 = Date.now();
  const sampler = setInterval(async () => {
    const memory = await gatewayMemory(prometheusUrl).catch(() => undefined);
    if (!memory) return;
    const t = (Date.now() - t0) / 1000;
    samples.push({
      t,
      phase,
      rssMiB: memory.rss / MiB,
      heapUsedMiB: memory.heapUsed / MiB,
      heapTotalMiB: memory.heapTotal / MiB,
      externalMiB: memory.external / MiB,
      newSpaceMiB: memory.newSpace / MiB,
      oldSpaceMiB: memory.oldSpace / MiB,
    });
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
      memoryMap('flood starts');
      phase = 'during';
    },
    ended: () => {
      memoryMap('flood ends');
      phase = 'after';
    },
  });
  log(`flood answered: ${JSON.stringify(flood.statuses)}; sampling for ${afterMs / 1000} s more`);
  const { summary } = await honest;
  clearInterval(sampler);
  memoryMap(`${afterMs / 1000} s after`);
  await Promise.all(maps);
  const gc = await gateway.exec(['node', '--input-type=module', '-e', COLLECT_GARBAGE]);
  const collected =
    gc.exitCode === 0
      ? (JSON.parse(gc.stdout.trim().split('\n').at(-1) ?? '') as { before: Usage; after: Usage })
      : (gc.output.trim().split('\n').at(-1) ?? '');
  memoryMap('after the forced collection');
  const mapped = (await Promise.all(maps)).filter((map) => map !== undefined);
  const submitted = await gatewayCounters(prometheusUrl, 'mixlab_gateway_packets_submitted_total');
  await new Promise((resolve) => setTimeout(resolve, 3000)); // one more scrape of the mix nodes
  const layers = (await queryVector(prometheusUrl, 'sum by (layer, outcome) (mixlab_packets_total) > 0'))
    .map((row) => ({ layer: row.metric.layer ?? '', outcome: row.metric.outcome ?? '', value: Number(row.value[1]) }))
    .sort((a, b) => a.layer.localeCompare(b.layer) || a.outcome.localeCompare(b.outcome));
  const markdown = report(samples, flood, summary, submitted, layers, startedAt, mapped, collected);
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
  await writeFile(
    join(dir, 'samples.json'),
    `${JSON.stringify({ settings, flood, samples, maps: mapped, collected }, null, 2)}\n`,
  );
  console.log(`\n${markdown}`);
  log(`wrote ${dir}`);
} finally {
  await cascade?.stop();
}
process.exit(0);
