/**
 * A mix node's peeling throughput on one core and on all cores: requests of 50
 * Sphinx packets, peeled inline and by WorkerPeeler with one and N worker threads, in turns,
 * measured in the same run. Prints packets per second, the ratio to one core, and N workers
 * against one (the goal on 2 cores: at least 1.7) beside the machine's own ceiling in the same
 * turns: N threads peeling on their own against one (what the cores give when shared).
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { cryptoBackend, cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import { InlinePeeler, type Peeler, type PeelerOptions, WorkerPeeler } from '../src/peeler.ts';
import { replayFilterSize } from '../src/replay-filter.ts';
import { singleKeySet } from '../src/test-support.ts';

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
const options: PeelerOptions = {
  format: 'sphinx',
  keys: singleKeySet(self),
  replay: replayFilterSize(10_000, 1e-6),
  maxPacketBytes: 4096,
};

/** Never repeats, so that every pass over the requests peels under an epoch new to the peeler (an empty replay filter). */
let epoch = 0;

/** Keeps `inFlight` requests going for `ms`; returns the packets peeled and the time taken. */
async function run(peeler: Peeler, inFlight: number, ms: number): Promise<{ peeled: number; ms: number }> {
  let peeled = 0;
  let next = 0;
  const start = performance.now();
  const deadline = start + ms;
  const lane = async () => {
    while (performance.now() < deadline) {
      // Each pass over the requests peels under a new epoch (same key), so its replay filter is empty.
      if (next % requests.length === 0) peeler.setKeys(singleKeySet(self, ++epoch));
      const results = await peeler.peel(requests[next++ % requests.length] as Uint8Array[]);
      if (!results.every((r) => r.ok))
        throw new Error(`a benchmark packet failed to peel: ${JSON.stringify(results.find((r) => !r.ok))}`);
      peeled += results.length;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { peeled, ms: performance.now() - start };
}

type Measure = (ms: number) => Promise<{ peeled: number; ms: number }>;

/** `threads` peel-loop threads peeling on their own at once: what the cores give without WorkerPeeler. */
async function alone(threads: number): Promise<{ measure: Measure; close: () => Promise<unknown> }> {
  const workers = await Promise.all(
    Array.from({ length: threads }, async () => {
      const worker = new Worker(new URL('./peel-loop.ts', import.meta.url), {
        workerData: { options, packets: requests.flat() },
      });
      await new Promise((resolve) => worker.once('message', resolve));
      return worker;
    }),
  );
  const measure: Measure = async (ms) => {
    const start = performance.now();
    const counts = await Promise.all(
      workers.map((worker) => {
        const answer = new Promise<number>((resolve) => worker.once('message', resolve));
        worker.postMessage(ms);
        return answer;
      }),
    );
    return { peeled: counts.reduce((a, b) => a + b, 0), ms: performance.now() - start };
  };
  return { measure, close: () => Promise.all(workers.map((worker) => worker.terminate())) };
}

/** Packets per second of each measure, taken in turns of 500 ms for SECONDS each, so load from other processes hits them alike. */
async function rates(measures: readonly Measure[]): Promise<number[]> {
  for (const measure of measures) await measure(100); // warm up (worker start, JIT)
  const totals = measures.map(() => ({ peeled: 0, ms: 0 }));
  for (let turn = 0; turn < SECONDS * 2; turn++) {
    for (const [k, measure] of measures.entries()) {
      const { peeled, ms } = await measure(500);
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
const ceilings = await Promise.all(counts.map(alone));
const [inline, ...others] = (await rates([
  ...peelers.map(
    ({ peeler, inFlight }) =>
      (ms: number) =>
        run(peeler, inFlight, ms),
  ),
  ...ceilings.map(({ measure }) => measure),
])) as [number, ...number[]];
await Promise.all([...peelers.map(({ peeler }) => peeler.close()), ...ceilings.map(({ close }) => close())]);
const byWorkers = others.slice(0, counts.length);
const byThreads = others.slice(counts.length);
const row = (label: string, value: number) =>
  console.log(
    `${label.padEnd(40)} ${Math.round(value).toLocaleString('en').padStart(8)} packets/s   ×${(value / inline).toFixed(2)}`,
  );
row('inline, event loop thread (1 core)', inline);
counts.forEach((workers, k) => {
  row(`${workers} worker thread${workers > 1 ? 's' : ''}`, byWorkers[k] as number);
});
counts.forEach((threads, k) => {
  row(`${threads} thread${threads > 1 ? 's' : ''} peeling alone (ceiling)`, byThreads[k] as number);
});
if (cores > 1) {
  const scaling = (byWorkers[1] as number) / (byWorkers[0] as number);
  const ceiling = (byThreads[1] as number) / (byThreads[0] as number);
  console.log(
    `\n${cores} workers / 1 worker: ×${scaling.toFixed(2)}${cores === 2 ? ' (goal ≥ 1.7)' : ''}; ` +
      `the cores' own ceiling in the same turns, ${cores} threads alone / 1: ×${ceiling.toFixed(2)}`,
  );
}
