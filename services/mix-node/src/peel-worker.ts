/** A worker thread of WorkerPeeler: peels the packets of one request at a time, with the latest keys it was sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { cryptoReady } from '@mixlab/crypto';
import { type PeelWorkerData, type PeelWorkerRequest, peelContext, peelOne } from './peeler.ts';

await cryptoReady();
let data = workerData as PeelWorkerData;
let context = peelContext(data);
parentPort?.on('message', (request: PeelWorkerRequest) => {
  if (request.type === 'keys') {
    data = { ...data, keys: request.keys };
    context = peelContext(data);
    return;
  }
  parentPort?.postMessage({ id: request.id, results: request.packets.map((packet) => peelOne(packet, context)) });
});
