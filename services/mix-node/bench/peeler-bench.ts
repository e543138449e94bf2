/**
 * A mix node's peeling throughput on one core and on all cores: requests of 50
 * Sphinx packets, peeled inline and by WorkerPeeler with one and N worker threads,
 * measured in the same run. Prints packets per second, the ratio to one core, and N workers
 * against one (the goal on 2 cores: at least 1.7).
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { cryptoBackend, cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import { singleKeySet } from '../src/mixing-keys.ts';
import { InlinePeeler, type Peeler, type PeelerOptions, WorkerPeeler } from '../src/peeler.ts';

const PACKETS_PER_REQUEST = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

await cryptoReady();
const self = generateKeyPair();
const next = generateKeyPair();
const route = [
  { id: 'mix-1', publicKey: self.publicKey },
  { id: 'mix-2', publicKey: next.publicKey },
];
// Distinct packets, so that nothing is cached between them.
const requests = Array.from({ length: 40 }, () =>
  Array.from({ length: PACKETS_PER_REQUEST }, () =>
    sphinx.wrap(route, { gateway: 'gateway-1', recipient: next.publicKey }, new Uint8Array(1024)),
  ),
);
const options: PeelerOptions = { format: 'sphinx', keys: singleKeySet(self), maxPacketBytes: 4096 };

/** Keeps `inFlight` requests going for SECONDS; returns packets peeled per second. */
async function rate(peeler: Peeler, inFlight: number): Promise<number> {
  await peeler.peel(requests[0] as Uint8Array[]); // warm up (worker start, JIT)
  let peeled = 0;
  let next = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  const lane = async () => {
    while (performance.now() < deadline) {
      const results = await peeler.peel(requests[next++ % requests.length] as Uint8Array[]);
      if (!results.every((r) => r.ok)) throw new Error('a benchmark packet failed to peel');
      peeled += results.length;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return peeled / ((performance.now() - start) / 1000);
}

const cores = availableParallelism();
console.log(`mixlab mix-node peeling bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores, ${SECONDS} s each`);
console.log(
  `requests of ${PACKETS_PER_REQUEST} Sphinx packets (${sphinx.geometry.packetBytes} bytes), crypto backend ${cryptoBackend()}, ` +
    `load average ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}\n`,
);
const inline = await rate(new InlinePeeler(options), 1);
const row = (label: string, value: number) =>
  console.log(
    `${label.padEnd(40)} ${Math.round(value).toLocaleString('en').padStart(8)} packets/s   ×${(value / inline).toFixed(2)}`,
  );
row('inline, event loop thread (1 core)', inline);
const byWorkers = new Map<number, number>();
for (const workers of [...new Set([1, cores])]) {
  const peeler = new WorkerPeeler(options, workers);
  byWorkers.set(workers, await rate(peeler, workers * 2));
  row(`${workers} worker thread${workers > 1 ? 's' : ''}`, byWorkers.get(workers) as number);
  await peeler.close();
}
if (cores > 1) {
  const scaling = (byWorkers.get(cores) as number) / (byWorkers.get(1) as number);
  console.log(`\n${cores} workers / 1 worker: ×${scaling.toFixed(2)}${cores === 2 ? ' (goal ≥ 1.7)' : ''}`);
}
