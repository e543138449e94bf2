/**
 * A thread for peeler-bench's ceiling: peels its packets on its own, no messages per request,
 * for the time each turn it is sent asks, and answers how many it peeled.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cryptoReady } from '@mixlab/crypto';
import { type PeelerOptions, peelContext, peelOne } from '../src/peeler.ts';

await cryptoReady();
const { options, packets } = workerData as { options: PeelerOptions; packets: Uint8Array[] };
const context = peelContext(options);
parentPort?.on('message', (ms: number) => {
  let peeled = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) peelOne(packets[peeled++ % packets.length] as Uint8Array, context);
  parentPort?.postMessage(peeled);
});
parentPort?.postMessage('ready');
