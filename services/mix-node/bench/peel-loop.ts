/**
 * A thread for peeler-bench's ceiling: peels its packets on its own, no messages per request,
 * for the time each turn it is sent asks, and answers how many it peeled.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { cryptoReady } from '@mixlab/crypto';
import { InlinePeeler, type PeelerOptions } from '../src/peeler.ts';
import { singleKeySet } from '../src/test-support.ts';

await cryptoReady();
const { options, packets } = workerData as { options: PeelerOptions; packets: Uint8Array[] };
const self = options.keys.byEpoch.get(options.keys.current);
if (!self) throw new Error('peel-loop needs the key of the current epoch');
const peeler = new InlinePeeler(options);
let pass = 0;
parentPort?.on('message', async (ms: number) => {
  let peeled = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const index = peeled % packets.length;
    // Each pass over the packets peels under a new epoch (same key), so no packet is a replay.
    if (index === 0) peeler.setKeys(singleKeySet(self, ++pass));
    await peeler.peel([packets[index] as Uint8Array]);
    peeled++;
  }
  parentPort?.postMessage(peeled);
});
parentPort?.postMessage('ready');
