/**
 * CPU profiles of every service of the compose cascade under a steady load: starts the cascade
 * with MIXLAB_NODE_OPTIONS=--cpu-prof, runs the saturation bench's load workers at one rate, stops
 * each container with SIGTERM (a service exits cleanly, so V8 writes its profile), copies the
 * profiles out, and prints where each process's time went (summarize.ts).
 *
 *   node --cpu-prof --cpu-prof-dir=OUT/load-generator experiments/profile/run.ts [--rate 300] [--seconds 10]
 *        [--strategy threshold:n=1] [--out /tmp/mixlab-profiles]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cryptoReady } from '@mixlab/crypto';
import { startCascade } from '@mixlab/testbed';
import { LoadWorkers } from '../load-workers.ts';
import { summarizeProfiles } from './summarize.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '300' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '8' },
    strategy: { type: 'string', default: 'threshold:n=1' },
    out: { type: 'string', default: '/tmp/mixlab-profiles' },
  },
});
const out = resolve(values.out);
const SERVICES = ['directory-1', 'mix-layer-1-1', 'mix-layer-2-1', 'mix-layer-3-1', 'client-gateway-1', 'observer-1'];
const IN_CONTAINER = '/tmp/cpu-profiles';

await cryptoReady();
await mkdir(out, { recursive: true });
const cascade = await startCascade({
  MIXLAB_STRATEGY: values.strategy,
  MIXLAB_NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${IN_CONTAINER}`,
});
const workers = new LoadWorkers(2, Number(values.clients));
try {
  const measured = await workers.run(
    {
      gatewayUrl: cascade.gatewayUrl,
      directoryKey: cascade.directoryKey,
      strategy: values.strategy,
      durationMs: Number(values.seconds) * 1000,
      drainMs: 3000,
    },
    Number(values.rate),
    1,
  );
  console.log(
    `sent ${measured.sent}, delivered ${measured.delivered}, p50 ${measured.latency?.p50Ms.toFixed(1)} ms, p99 ${measured.latency?.p99Ms.toFixed(1)} ms`,
  );
  for (const service of SERVICES) {
    const container = cascade.environment.getContainer(service);
    // SIGTERM: the service closes and exits, and V8 writes its profile on the way out.
    execFileSync('docker', ['kill', '--signal', 'TERM', container.getId()]);
  }
  await new Promise((r) => setTimeout(r, 3000));
  for (const service of SERVICES) {
    const container = cascade.environment.getContainer(service);
    execFileSync('docker', ['cp', `${container.getId()}:${IN_CONTAINER}`, join(out, service)]);
  }
} finally {
  await workers.close();
  await cascade.stop();
}
for (const service of SERVICES) {
  const directory = join(out, service);
  for (const file of await readdir(directory)) console.log(summarizeProfiles(service, [join(directory, file)]));
}
