/**
 * One fault scenario on a running cascade: fresh acknowledged traffic for a fixed window around
 * the fault, the fault, what the traffic saw, the metrics that showed it, and the cascade back
 * to health before the next one.
 */
import { type Cascade, eventually, queryValue, queryVector } from '@mixlab/testbed';
import { containerState, docker } from './docker.ts';
import type { Fault, FaultTarget } from './faults.ts';
import { type TrafficOutcome, trafficOutcome } from './outcome.ts';
import { AcknowledgedTraffic, type TrafficSettings } from './traffic.ts';

export interface ScenarioSettings {
  readonly traffic: Omit<TrafficSettings, 'gatewayUrl' | 'directoryKey'>;
  /** Traffic before the fault. */
  readonly warmupMs: number;
  /** Sending from the fault's start (its hold included). */
  readonly windowMs: number;
}

export interface ScenarioResult {
  readonly fault: string;
  readonly how: string;
  readonly container: string;
  /** The faulted mix node's id, when it is one. */
  readonly node: string | null;
  readonly outcome: TrafficOutcome;
  /** Non-zero metrics over the scenario, as `name{labels}: value`. */
  readonly metrics: string[];
  readonly notes: string[];
  /** The cascade healthy again, from the fault's start (containers healthy, every node alive in the directory). */
  readonly healthyAfterMs: number | null;
  /** False when the fault could not be injected (or the scenario broke off): its row measures nothing. */
  readonly injected: boolean;
  readonly errors: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** The mix node id of a compose mix container: `mix-<layer>-<host name>`, the host name being the short id. */
export function nodeIdOf(container: string, id: string): string | null {
  const layer = /^mix-layer-(\d+)-\d+$/.exec(container)?.[1];
  return layer ? `mix-${layer}-${id.slice(0, 12)}` : null;
}

export async function runScenario(
  cascade: Cascade,
  fault: Fault,
  settings: ScenarioSettings,
  nodes: number,
  log: (line: string) => void,
): Promise<ScenarioResult> {
  const target: FaultTarget = {
    container: fault.container,
    id: cascade.environment.getContainer(fault.container).getId(),
  };
  const node = nodeIdOf(fault.container, target.id);
  const traffic = new AcknowledgedTraffic({
    ...settings.traffic,
    gatewayUrl: cascade.gatewayUrl,
    directoryKey: cascade.directoryKey,
  });
  const notes: string[] = [];
  const errors: string[] = [];
  const startedAt = Date.now();
  let faultAt = startedAt;
  let healthy: Promise<number | undefined> | undefined;
  const watchHealth = async () => {
    // A killed process takes a moment to take its container down.
    await sleep(1_000);
    return healthyAgain(cascade, nodes).catch((error: Error) => {
      notes.push(`not healthy again: ${error.message}`);
      return undefined;
    });
  };
  try {
    await traffic.open();
    traffic.startSending();
    await sleep(settings.warmupMs);
    faultAt = Date.now();
    log(`  fault: ${fault.how}`);
    notes.push(...(await fault.inject(target)));
    if (fault.heal) {
      await sleep(faultAt + fault.holdMs - Date.now());
      notes.push(...(await fault.heal(target)));
    }
    healthy = watchHealth();
    await sleep(faultAt + settings.windowMs - Date.now());
    await traffic.stopSending();
    log('  sending stopped; waiting for every message to be acknowledged or given up');
    await traffic.settle(settings.traffic.ackTimeoutMs * settings.traffic.maxAttempts + 10_000);
    await traffic.deliveriesCaughtUp(5_000);
  } catch (error) {
    // Recorded, and the cascade put back as well as possible, so the next fault still runs.
    errors.push(`scenario failed: ${(error as Error).message}`);
    log(`  failed: ${(error as Error).message}`);
    await traffic.stopSending();
    await fault.heal?.(target).catch(() => {});
  } finally {
    traffic.close();
  }
  const healthyAt = await (healthy ?? watchHealth());
  const state = await containerState(target.id);
  notes.push(`container restarts: ${state.restartCount}`);
  const windowSeconds = Math.ceil((Date.now() - startedAt) / 1000) + 5;
  return {
    fault: fault.name,
    how: fault.how,
    container: fault.container,
    node,
    outcome: trafficOutcome(traffic.records.values(), traffic.counts, faultAt, node ?? undefined),
    metrics: await faultMetrics(cascade.prometheusUrl, windowSeconds),
    notes,
    healthyAfterMs: healthyAt === undefined ? null : healthyAt - faultAt,
    injected: errors.length === 0,
    errors: [...errors, ...new Set(traffic.counts.errors)].slice(0, 10),
  };
}

/** Every container running and healthy, and the directory lists `nodes` mix nodes alive and none dead. */
export async function healthyAgain(cascade: Cascade, nodes: number, timeoutMs = 90_000): Promise<number> {
  const ids = (await docker('ps', '-q', '--filter', `label=com.docker.compose.project=${cascade.projectName}`)).split(
    '\n',
  );
  await eventually(
    'every container healthy',
    async () => {
      const states = await Promise.all(ids.map(containerState));
      return states.every((s) => s.running && !s.paused && s.health !== 'unhealthy' && s.health !== 'starting')
        ? true
        : undefined;
    },
    timeoutMs,
  );
  await eventually(
    `${nodes} mix nodes alive in the directory`,
    async () => {
      const alive = await queryValue(cascade.prometheusUrl, 'sum(mixlab_directory_nodes{state="alive"})');
      const dead = await queryValue(cascade.prometheusUrl, 'sum(mixlab_directory_nodes{state="dead"})');
      return alive === nodes && (dead ?? 0) === 0 ? true : undefined;
    },
    timeoutMs,
  );
  return Date.now();
}

/** The metrics that show a fault, over the last `seconds`: only those that moved. */
const FAULT_METRICS: readonly { name: string; expr: (window: string) => string }[] = [
  {
    name: 'forward_failed',
    expr: (w) => `sum by (node) (increase(mixlab_packets_total{outcome="forward_failed"}[${w}]))`,
  },
  {
    name: 'undecryptable',
    expr: (w) => `sum by (node) (increase(mixlab_packets_total{outcome="undecryptable"}[${w}]))`,
  },
  {
    name: 'gateway submitted',
    expr: (w) => `sum by (outcome) (increase(mixlab_gateway_packets_submitted_total{outcome!="forwarded"}[${w}]))`,
  },
  {
    name: 'gateway deliveries',
    expr: (w) => `sum by (outcome) (increase(mixlab_gateway_messages_delivered_total{outcome!="stored"}[${w}]))`,
  },
  { name: 'directory alive min', expr: (w) => `min_over_time(sum(mixlab_directory_nodes{state="alive"})[${w}:2s])` },
  { name: 'directory dead max', expr: (w) => `max_over_time(sum(mixlab_directory_nodes{state="dead"})[${w}:2s])` },
  {
    name: 'process restarts',
    expr: (w) => `sum by (job) (changes({__name__=~"mixlab_process_.*start_time_seconds"}[${w}]))`,
  },
  { name: 'failed scrapes', expr: (w) => `sum by (job) (count_over_time(up[${w}]) - sum_over_time(up[${w}]))` },
];

export async function faultMetrics(prometheusUrl: string, seconds: number): Promise<string[]> {
  const shown: string[] = [];
  for (const { name, expr } of FAULT_METRICS) {
    try {
      for (const sample of await queryVector(prometheusUrl, expr(`${seconds}s`))) {
        const value = Number(sample.value[1]);
        const always = name.startsWith('directory alive');
        if (!always && !(value > 0)) continue;
        const labels = Object.values(sample.metric).join(',');
        shown.push(`${name}${labels ? ` ${labels}` : ''}: ${Number.isInteger(value) ? value : value.toFixed(1)}`);
      }
    } catch (error) {
      shown.push(`${name}: query failed (${(error as Error).message.slice(0, 80)})`);
    }
  }
  return shown;
}
