/**
 * Faults lose nothing, the short version of `npm run chaos`: on one cascade under acknowledged
 * traffic, the gateway restarts, a layer-2 node's process is killed (kill -9, back by the
 * restart policy), the directory restarts, and the layer-2 container is killed (`docker kill`,
 * started again 5 s later as an operator would). After each: every acknowledged message is
 * delivered, every sent message is delivered by the end of the retries, the faulted service
 * carries traffic again, and Prometheus saw its process start anew. A failure prints the
 * faulted container's and the gateway's last log lines.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  CHAOS_SETTINGS,
  CHAOS_STRATEGY,
  crashProcess,
  dockerKill,
  type Fault,
  nodeIdOf,
  restart,
  runScenario,
  type ScenarioSettings,
} from '@mixlab/chaos';
import { cryptoReady } from '@mixlab/crypto';
import { type Cascade, eventually, queryValue, startCascade } from '@mixlab/testbed';

/** Shorter than the full run: a 3 s warm-up and 15 s of sending from the fault (about 30 s a fault). */
const SHORT: ScenarioSettings = { ...CHAOS_SETTINGS, warmupMs: 3_000, windowMs: 15_000 };

const FAULTS: readonly Fault[] = [
  restart('gateway restarted', 'client-gateway-1'),
  crashProcess('mix-layer-2-1'),
  restart('directory restarted', 'directory-1'),
  dockerKill('mix-layer-2-1', 5_000),
];

/** The `node` label of the faulted service's metrics: a mix node's id, else the service's name. */
function metricsNode(container: string, nodeId: string | null): string {
  if (nodeId) return nodeId;
  if (container.startsWith('client-gateway')) return 'gateway';
  return container.replace(/-\d+$/, '');
}

const startTime = (node: string) => `mixlab_process_process_start_time_seconds{node="${node}"}`;

/** The last log lines of `containers` (stdout and stderr), for a failure's message. */
async function logTails(cascade: Cascade, containers: readonly string[]): Promise<string> {
  const tails = await Promise.all(
    [...new Set(containers)].map(async (name) => {
      const id = cascade.environment.getContainer(name).getId();
      const logs = await promisify(execFile)('docker', ['logs', '--tail', '25', id], { maxBuffer: 4 * 2 ** 20 }).then(
        ({ stdout, stderr }) => stdout + stderr,
        (error: Error) => `docker logs failed: ${error.message}`,
      );
      return `--- ${name}, last log lines:\n${logs.trimEnd()}`;
    }),
  );
  return tails.join('\n');
}

describe('faults lose nothing', { timeout: 420_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({ MIXLAB_STRATEGY: CHAOS_STRATEGY, MIXLAB_LOOP_RATE: '0' });
  });

  after(async () => {
    await cascade?.stop();
  });

  for (const fault of FAULTS) {
    it(`${fault.name}: nothing acknowledged is lost, everything sent is delivered`, async () => {
      const running = cascade as Cascade;
      const target = running.environment.getContainer(fault.container);
      const node = metricsNode(fault.container, nodeIdOf(fault.container, target.getId()));
      const startedAt = Date.now();
      // Prometheus has the process before the fault (a cascade just started may not be scraped yet).
      await eventually(`Prometheus scraping ${node}`, () =>
        queryValue(running.prometheusUrl, `count(${startTime(node)})`),
      );
      const result = await runScenario(running, fault, SHORT, 3, () => {});
      const o = result.outcome;
      try {
        const seen = JSON.stringify({ ...o, notes: result.notes, metrics: result.metrics, errors: result.errors });
        assert.ok(result.injected, `the fault was injected: ${seen}`);
        assert.ok(o.sent > 40, `traffic ran: ${seen}`);
        assert.equal(o.lost, 0, `acknowledged but never delivered: ${seen}`);
        assert.equal(o.undelivered, 0, `sent but not delivered by the end of the retries: ${seen}`);
        assert.equal(o.acknowledged, o.sent, seen);
        assert.notEqual(o.recoveryMs, null, `the faulted service carried traffic again: ${seen}`);
        assert.notEqual(result.healthyAfterMs, null, `the cascade was healthy again: ${seen}`);
        // The fault happened, as Prometheus saw it: the service's process start time changed
        // within the scenario (across series, since a container back on another address is another target).
        const start = startTime(node);
        await eventually(
          `Prometheus saw ${node} start anew`,
          async () => {
            const window = `${Math.ceil((Date.now() - startedAt) / 1000)}s`;
            const moved = await queryValue(
              running.prometheusUrl,
              `max(max_over_time(${start}[${window}])) - min(min_over_time(${start}[${window}]))`,
            );
            return moved !== undefined && moved > 0 ? true : undefined;
          },
          15_000,
        );
      } catch (error) {
        const logs = await logTails(running, [fault.container, 'client-gateway-1']);
        throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
      }
    });
  }
});
