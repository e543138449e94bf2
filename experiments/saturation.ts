/**
 * `npm run bench:cascade`: where the compose cascade saturates. For each strategy (no mixing,
 * then a short threshold), start a fresh cascade, ramp the offered load in short seeded steps
 * (the load generator on worker threads, so it is not what saturates) until delivery falls
 * behind (carried < 0.95 × offered, or p99 over 1 s), with each step's stage histograms
 * (mixlab_stage_seconds) and CPU per container; then one longer step at half the saturation
 * load without mixing, for the latency floor. Compares the saturation point with the
 * public-key bound measured in the same run, and writes docs/experiments/saturation.md and
 * saturation.svg (and saturation.json).
 *
 *   npm run bench:cascade [-- --step 6s --drain 3s --floor 15s --clients 32 --workers 2 --rates 25,50,100
 *                              --only 'threshold:n=1' (strategies separated by |) --via direct|published --out DIR]
 *   node experiments/saturation.ts --render docs/experiments/saturation.json
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady } from '@mixlab/crypto';
import { parseDuration } from '@mixlab/runtime';
import { type Cascade, eventually, queryVector, REPO_ROOT, startCascade, uncheckedGatewayAgent } from '@mixlab/testbed';
import { fetch } from 'undici';
import { LoadWorkers } from './load-workers.ts';
import { measurePublicKeyBound, type PublicKeyBound } from './public-key-bound.ts';
import { LINKS_PER_MESSAGE, measureRequestMicros, measureRoundTripMicros } from './request-cost.ts';
import {
  type CpuShare,
  renderSaturationMarkdown,
  renderSaturationSvg,
  type SaturationRun,
  type StageQuantiles,
  type StepResult,
  type StrategyRamp,
} from './saturation-report.ts';

const STRATEGIES = ['threshold:n=1', 'threshold:n=10,maxWait=50ms'];
const SEED = 11;

const { values } = parseArgs({
  options: {
    step: { type: 'string', default: '6s' },
    drain: { type: 'string', default: '3s' },
    floor: { type: 'string', default: '15s' },
    // Each simulated client has one keep-alive connection to the gateway, as a user would, so its
    // submissions queue behind each other's answers (which wait for layer 1): 8 clients capped
    // the bench near 8 / that round trip (about 500 msg/s) with the cores not yet busy.
    clients: { type: 'string', default: '32' },
    workers: { type: 'string', default: '2' },
    rates: { type: 'string', default: '25,50,100,150,200,300,400,500,650,800,1000,1300,1600' },
    only: { type: 'string' },
    out: { type: 'string', default: 'docs/experiments' },
    render: { type: 'string' },
    // direct: to the gateway container's own address when this host reaches it (no docker-proxy
    // in the path); published: through the port published on 127.0.0.1.
    via: { type: 'string', default: 'direct' },
  },
});

async function write(directory: string, run: SaturationRun): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'saturation.json'), `${JSON.stringify(run, null, 1)}\n`);
  await writeFile(join(directory, 'saturation.md'), renderSaturationMarkdown(run));
  await writeFile(join(directory, 'saturation.svg'), renderSaturationSvg(run));
  console.log(`wrote ${join(directory, 'saturation.md')}, saturation.svg and saturation.json`);
}

if (values.render) {
  await write(dirname(values.render), JSON.parse(await readFile(values.render, 'utf8')) as SaturationRun);
  process.exit(0);
}

const stepMs = parseDuration(values.step, { bareUnit: 's', what: '--step' });
const drainMs = parseDuration(values.drain, { bareUnit: 's', what: '--drain', allowZero: true });
const floorMs = parseDuration(values.floor, { bareUnit: 's', what: '--floor' });
const clients = Number(values.clients);
const workerCount = Math.max(1, Math.min(Number(values.workers), clients));
const rates = values.rates.split(',').map(Number);
const strategies = values.only ? STRATEGIES.filter((s) => values.only?.split('|').includes(s)) : STRATEGIES;
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const load1 = () => Number((loadavg()[0] as number).toFixed(2));

// ---------------------------------------------------------------------------
// CPU per container (its cgroup: the service and whatever its healthchecks start), per
// docker-proxy (the published ports' userland proxy), and of this process (the load generator).

const CGROUP_CPU = '/sys/fs/cgroup/cpuacct/docker';
const TICKS_PER_SECOND = 100;

async function containerCpuSeconds(id: string): Promise<number | undefined> {
  for (const path of [`${CGROUP_CPU}/${id}/cpuacct.usage`, `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`]) {
    try {
      const text = await readFile(path, 'utf8');
      if (path.endsWith('cpuacct.usage')) return Number(text) / 1e9;
      const usec = /usage_usec (\d+)/.exec(text)?.[1];
      if (usec) return Number(usec) / 1e6;
    } catch {}
  }
  return undefined;
}

/** docker-proxy processes that forward one of `ports`, by pid. */
function dockerProxies(ports: readonly number[]): number[] {
  try {
    const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
    return out
      .split('\n')
      .filter((line) => line.includes('docker-proxy') && ports.some((port) => line.includes(`-host-port ${port} `)))
      .map((line) => Number(line.trim().split(/\s+/)[0]));
  } catch {
    return [];
  }
}

async function processCpuSeconds(pid: number): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

interface CpuProbe {
  read(): Promise<Record<string, number>>;
}

function cpuProbe(cascade: Cascade): CpuProbe {
  const names = [
    'directory-1',
    'mix-layer-1-1',
    'mix-layer-2-1',
    'mix-layer-3-1',
    'client-gateway-1',
    'observer-1',
    'prometheus-1',
  ];
  const ids = Object.fromEntries(
    names.map((name) => [name.replace(/-1$/, ''), cascade.environment.getContainer(name).getId()]),
  );
  const gatewayPort = Number(new URL(cascade.gatewayUrl).port);
  const proxies = dockerProxies([gatewayPort]);
  return {
    async read() {
      const out: Record<string, number> = {};
      for (const [name, id] of Object.entries(ids)) {
        const seconds = await containerCpuSeconds(id);
        if (seconds !== undefined) out[name] = seconds;
      }
      if (proxies.length > 0) {
        let total = 0;
        for (const pid of proxies) total += await processCpuSeconds(pid);
        out['docker-proxy (gateway)'] = total;
      }
      const own = process.cpuUsage();
      out['load generator'] = (own.user + own.system) / 1e6;
      return out;
    },
  };
}

function cpuDelta(before: Record<string, number>, after: Record<string, number>, seconds: number): CpuShare[] {
  return Object.keys(after)
    .filter((name) => name in before)
    .map((name) => ({ name, cores: ((after[name] as number) - (before[name] as number)) / seconds }));
}

/** The gateway at its container's address, when this host reaches it there. */
async function directGatewayUrl(cascade: Cascade): Promise<string | undefined> {
  const container = cascade.environment.getContainer('client-gateway-1');
  for (const network of container.getNetworkNames()) {
    const url = `https://${container.getIpAddress(network)}:8080`;
    try {
      const response = await fetch(`${url}/v1/gateway`, {
        dispatcher: uncheckedGatewayAgent(),
        signal: AbortSignal.timeout(1000),
      });
      if (response.ok) return url;
    } catch {}
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Stage histograms: cumulative buckets before and after a step, so each step is read exactly.

type Buckets = Map<string, Map<number, number>>;
const STAGE_SERIES = 'sum by (stage, layer, le) (mixlab_stage_seconds_bucket)';

async function stageBuckets(prometheusUrl: string): Promise<Buckets> {
  const out: Buckets = new Map();
  for (const sample of await queryVector(prometheusUrl, STAGE_SERIES)) {
    const { stage = '', layer, le = '' } = sample.metric;
    const key = layer ? `${stage} L${layer}` : stage;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    if (!out.has(key)) out.set(key, new Map());
    out.get(key)?.set(bound, Number(sample.value[1]));
  }
  return out;
}

/** The q-quantile (seconds) of a cumulative histogram, interpolated within its bucket as Prometheus does. */
function quantile(cumulative: readonly [number, number][], q: number): number {
  const total = cumulative.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const [bound, count] of cumulative) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return previousBound;
      return previousBound + ((bound - previousBound) * (rank - previousCount)) / Math.max(1e-9, count - previousCount);
    }
    previousBound = bound;
    previousCount = count;
  }
  return previousBound;
}

function stageQuantiles(before: Buckets, after: Buckets): StageQuantiles[] {
  const out: StageQuantiles[] = [];
  for (const [stage, buckets] of after) {
    const was = before.get(stage);
    const cumulative = [...buckets]
      .map(([bound, count]) => [bound, count - (was?.get(bound) ?? 0)] as [number, number])
      .sort((a, b) => a[0] - b[0]);
    const count = cumulative.at(-1)?.[1] ?? 0;
    if (count > 0) {
      out.push({ stage, count, p50Ms: quantile(cumulative, 0.5) * 1000, p99Ms: quantile(cumulative, 0.99) * 1000 });
    }
  }
  return out.sort((a, b) => a.stage.localeCompare(b.stage));
}

// ---------------------------------------------------------------------------

await cryptoReady();
const startedAt = new Date();
log(`measuring the public-key bound (load ${load1()})`);
const keyBound = await measurePublicKeyBound(availableParallelism());
const requestMicros = await measureRequestMicros();
const roundTripMicros = await measureRoundTripMicros();
const bound: PublicKeyBound = {
  ...keyBound,
  requestMicros,
  roundTripMicros,
  linksPerMessage: LINKS_PER_MESSAGE,
  requestBoundPerSecond: (keyBound.cores * 1e6) / (keyBound.publicKeyMicros + LINKS_PER_MESSAGE * requestMicros),
};
log(
  `public-key bound: ${Math.round(bound.boundPerSecond)} msg/s (${bound.publicKeyMicros.toFixed(0)} µs of X25519 per message, ${bound.fastest}); packet-work bound ${Math.round(bound.packetBoundPerSecond)} msg/s; a request of one packet ${requestMicros.toFixed(0)} µs of CPU, with ${LINKS_PER_MESSAGE} per message ${Math.round(bound.requestBoundPerSecond ?? 0)} msg/s; a bare TCP round trip ${roundTripMicros.toFixed(0)} µs`,
);

const ramps: StrategyRamp[] = [];
const workers = new LoadWorkers(workerCount, clients);
try {
  for (const strategy of strategies) {
    log(`${strategy}: starting the cascade`);
    const cascade = await startCascade({ MIXLAB_STRATEGY: strategy, MIXLAB_LOOP_RATE: '0' });
    try {
      const { prometheusUrl, directoryKey } = cascade;
      const direct = values.via === 'direct' ? await directGatewayUrl(cascade) : undefined;
      const gatewayUrl = direct ?? cascade.gatewayUrl;
      log(`${strategy}: clients reach the gateway at ${gatewayUrl}${direct ? " (the container's address)" : ''}`);
      await eventually('every layer in the topology', async () => {
        const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
        return topology.layers.length === 3 && topology.layers.every((nodes) => nodes.length > 0) ? true : undefined;
      });
      const cpu = cpuProbe(cascade);
      // Idle: what the cascade costs before any traffic (services, healthchecks, Prometheus).
      const idleSeconds = 10;
      const idleBefore = await cpu.read();
      await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
      const idle = cpuDelta(idleBefore, await cpu.read(), idleSeconds).filter(
        (share) => share.name !== 'load generator',
      );
      log(`${strategy}: idle ${idle.map((s) => `${s.name} ${s.cores.toFixed(3)}`).join(', ')} cores (load ${load1()})`);

      const runStep = async (offered: number, durationMs: number, seed: number, kind: StepResult['kind']) => {
        const stagesBefore = await stageBuckets(prometheusUrl);
        const cpuBefore = await cpu.read();
        const began = performance.now();
        const measured = await workers.run({ gatewayUrl, directoryKey, strategy, durationMs, drainMs }, offered, seed);
        const seconds = (performance.now() - began) / 1000;
        const cpuAfter = await cpu.read();
        await new Promise((resolve) => setTimeout(resolve, 2500)); // one more scrape of every service
        const attempted = (measured.sent + measured.sendErrors) / (durationMs / 1000);
        const step: StepResult = {
          kind,
          offered,
          attempted,
          carried: measured.throughput,
          sent: measured.sent,
          sendErrors: measured.sendErrors,
          delivered: measured.delivered,
          lost: measured.lost,
          latency: measured.latency,
          latenciesMs: kind === 'floor' ? measured.latenciesMs : [],
          stages: stageQuantiles(stagesBefore, await stageBuckets(prometheusUrl)),
          cpu: cpuDelta(cpuBefore, cpuAfter, seconds),
          cpuSeconds: seconds,
          load1: load1(),
          errors: measured.errors,
          loadGeneratorLoopDelayP99Ms: measured.loopDelayP99Ms,
        };
        const keptUp = step.carried >= 0.95 * attempted && (step.latency?.p99Ms ?? Number.POSITIVE_INFINITY) <= 1000;
        log(
          `${strategy}: ${kind} ${offered} msg/s: sent ${step.sent} (${step.sendErrors} failed), delivered ${step.delivered}, carried ${step.carried.toFixed(1)} msg/s, p50 ${step.latency?.p50Ms.toFixed(1)} ms, p99 ${step.latency?.p99Ms.toFixed(1)} ms, load ${step.load1}${keptUp ? '' : ' — behind'}`,
        );
        return { step, keptUp };
      };

      const steps: StepResult[] = [];
      let saturation: number | undefined;
      for (const [index, offered] of rates.entries()) {
        const { step, keptUp } = await runStep(offered, stepMs, SEED + index, 'ramp');
        steps.push(step);
        if (!keptUp) break;
        saturation = offered;
      }
      if (strategy === STRATEGIES[0] && saturation !== undefined) {
        const half = Math.max(1, Math.round(saturation / 2));
        const { step } = await runStep(half, floorMs, SEED + 99, 'floor');
        steps.push(step);
      }
      ramps.push({
        strategy,
        gatewayUrl: direct ? 'container address' : 'published port (docker-proxy)',
        idle,
        steps,
        saturation: saturation ?? null,
      });
    } finally {
      await cascade.stop().catch((error: Error) => log(`${strategy}: stopping the cascade failed: ${error.message}`));
    }
  }
} finally {
  await workers.close();
}

let docker = 'unknown';
try {
  docker = execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim();
} catch {}
const run: SaturationRun = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism(), node: process.version, docker },
  settings: {
    stepSeconds: stepMs / 1000,
    drainSeconds: drainMs / 1000,
    floorSeconds: floorMs / 1000,
    clients,
    workers: workerCount,
    seed: SEED,
  },
  bound,
  ramps,
};
await write(resolve(REPO_ROOT, values.out), run);
log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
process.exit(0);
