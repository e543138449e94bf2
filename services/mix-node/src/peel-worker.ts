/** A worker thread of WorkerPeeler: peels the packets of one request at a time, with the latest keys it was sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { cryptoReady } from '@mixlab/crypto';
import { type PeelerOptions, type PeelWorkerRequest, peelContext, peelOne } from './peeler.ts';

await cryptoReady();
let options = workerData as PeelerOptions;
let context = peelContext(options);
parentPort?.on('message', (request: PeelWorkerRequest) => {
  if (request.type === 'keys') {
    options = { ...options, keys: request.keys };
    context = peelContext(options);
    return;
  }
  parentPort?.postMessage({ id: request.id, results: request.packets.map((packet) => peelOne(packet, context)) });
});
