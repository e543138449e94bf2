/**
 * A mix node's peeling throughput on one core and on all cores: requests of 50
 * Sphinx packets, peeled inline and by WorkerPeeler with one and N worker threads, in turns,
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

/** Keeps `inFlight` requests going for `ms`; returns the packets peeled and the time taken. */
async function run(peeler: Peeler, inFlight: number, ms: number): Promise<{ peeled: number; ms: number }> {
  let peeled = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + ms;
  const lane = async () => {
    while (performance.now() < deadline) {
      const results = await peeler.peel(requests[next++ % requests.length] as Uint8Array[]);
      if (!results.every((r) => r.ok)) throw new Error('a benchmark packet failed to peel');
      peeled += results.length;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { peeled, ms: performance.now() - start };
}

/**
 * Packets per second of each peeler (with its requests in flight), taken in turns of 500 ms for
 * SECONDS each, so load from other processes hits them alike.
 */
async function rates(peelers: readonly { peeler: Peeler; inFlight: number }[]): Promise<number[]> {
  for (const { peeler } of peelers) await peeler.peel(requests[0] as Uint8Array[]); // warm up (worker start, JIT)
  const totals = peelers.map(() => ({ peeled: 0, ms: 0 }));
  for (let turn = 0; turn < SECONDS * 2; turn++) {
    for (const [k, { peeler, inFlight }] of peelers.entries()) {
      const { peeled, ms } = await run(peeler, inFlight, 500);
      const total = totals[k] as { peeled: number; ms: number };
      total.peeled += peeled;
      total.ms += ms;
    }
  }
  return totals.map(({ peeled, ms }) => (peeled * 1000) / ms);
}

const cores = availableParallelism();
console.log(`mixlab mix-node peeling bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores, ${SECONDS} s each`);
console.log(
  `requests of ${PACKETS_PER_REQUEST} Sphinx packets (${sphinx.geometry.packetBytes} bytes), crypto backend ${cryptoBackend()}, ` +
    `load average ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}\n`,
);
const counts = [...new Set([1, cores])];
const peelers = [
  { peeler: new InlinePeeler(options) as Peeler, inFlight: 1 },
  ...counts.map((workers) => ({ peeler: new WorkerPeeler(options, workers) as Peeler, inFlight: workers * 2 })),
];
const [inline, ...byWorkers] = (await rates(peelers)) as [number, ...number[]];
await Promise.all(peelers.map(({ peeler }) => peeler.close()));
const row = (label: string, value: number) =>
  console.log(
    `${label.padEnd(40)} ${Math.round(value).toLocaleString('en').padStart(8)} packets/s   ×${(value / inline).toFixed(2)}`,
  );
row('inline, event loop thread (1 core)', inline);
counts.forEach((workers, k) => {
  row(`${workers} worker thread${workers > 1 ? 's' : ''}`, byWorkers[k] as number);
});
if (cores > 1) {
  const scaling = (byWorkers[1] as number) / (byWorkers[0] as number);
  console.log(`\n${cores} workers / 1 worker: ×${scaling.toFixed(2)}${cores === 2 ? ' (goal ≥ 1.7)' : ''}`);
}
