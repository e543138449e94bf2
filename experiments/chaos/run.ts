/**
 * `npm run chaos`: the fault-injection suite (issue 14). Starts a cascade (one node per layer),
 * runs the single-path faults one after another with acknowledged traffic around each, then a
 * second cascade with two nodes in layer 2 for the faults a layer's width should ride out; writes
 * docs/experiments/chaos.md (table, the metrics that showed each fault, the raw JSON).
 *
 *   npm run chaos [-- --only kill,pause --out docs/experiments/chaos.md]
 *   npm run chaos -- --only "kill -9",lossy --update   # rerun those rows, keep the others (each row says its run)
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CASCADE_PLANS,
  CHAOS_SETTINGS,
  type ChaosRun,
  HOLD_MS,
  readChaosRun,
  renderChaos,
  runScenario,
} from '@mixlab/chaos';
import { cryptoReady } from '@mixlab/crypto';
import { type Cascade, REPO_ROOT, startCascade } from '@mixlab/testbed';

function machine(): string {
  let docker = 'unknown';
  try {
    docker = execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim();
  } catch {}
  const cpu = cpus()[0]?.model.trim() ?? 'unknown';
  return `${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node.js ${process.version}, Docker engine ${docker}, ${platform()} ${release()}`;
}

function commit(): string {
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return dirty.trim() ? `${head} (with uncommitted changes)` : head;
}

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    out: { type: 'string', default: join(REPO_ROOT, 'docs/experiments/chaos.md') },
    update: { type: 'boolean', default: false },
  },
});
const only = values.only?.split(',');
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

await cryptoReady();
const ranAt = new Date().toISOString();
const ranOn = commit();
const run: ChaosRun = values.update
  ? { ...(await readChaosRun(values.out)), date: ranAt, commit: ranOn, machine: machine() }
  : { date: ranAt, commit: ranOn, machine: machine(), settings: { ...CHAOS_SETTINGS, holdMs: HOLD_MS }, cascades: [] };
let failed = false;
for (const plan of CASCADE_PLANS) {
  const faults = plan.faults.filter((fault) => !only || only.some((word) => fault.name.includes(word)));
  if (faults.length === 0) continue;
  log(`${plan.name}: starting the cascade`);
  let cascade: Cascade | undefined;
  let results = run.cascades.find((cascade) => cascade.name === plan.name);
  if (!results) {
    results = { name: plan.name, compose: plan.compose, results: [] };
    run.cascades.push(results);
  }
  const rows = results.results;
  const stopOnSignal = () => {
    log('interrupted: taking the cascade down');
    void cascade?.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  try {
    cascade = await startCascade(plan.compose);
    for (const fault of faults) {
      log(`${fault.name}`);
      const result = await runScenario(cascade, fault, CHAOS_SETTINGS, plan.nodes, log);
      const o = result.outcome;
      log(
        `  sent ${o.sent}, refused ${o.refused}, acknowledged ${o.acknowledged}, delivered ${o.delivered}, ` +
          `duplicated ${o.duplicated}, lost ${o.lost}, gave up ${o.gaveUp}, undelivered ${o.undelivered}, ` +
          `recovery ${o.recoveryMs ?? 'never'} ms`,
      );
      const row = { ...result, ranAt, commit: ranOn };
      const index = rows.findIndex((earlier) => earlier.fault === result.fault);
      if (index >= 0) rows[index] = row;
      else rows.push(row);
      await writeFile(values.out, renderChaos(run));
    }
  } catch (error) {
    failed = true;
    log(`${plan.name} failed: ${(error as Error).stack}`);
  } finally {
    process.off('SIGINT', stopOnSignal);
    await cascade?.stop();
  }
}
await writeFile(values.out, renderChaos(run));
log(`wrote ${values.out}`);
// Whatever a failed scenario left running (timers, sockets) must not keep holding the Docker lock.
process.exit(failed ? 1 : 0);
