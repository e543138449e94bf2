/** A worker thread of WorkerPeeler: peels the packets of one request at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { cryptoReady } from '@mixlab/crypto';
import { type PeelerOptions, peelOne } from './peeler.ts';

await cryptoReady();
const options = workerData as PeelerOptions;
parentPort?.on('message', ({ id, packets }: { id: number; packets: Uint8Array[] }) => {
  parentPort?.postMessage({ id, results: packets.map((packet) => peelOne(packet, options)) });
});
