/**
 * One share of a saturation step's simulated clients on a worker thread, so the load generator
 * spreads over cores instead of saturating one event loop before the cascade does. The thread
 * takes steps (LoadStep) from its parent one at a time and answers each with what runLoad measured.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { type LoadResult, runLoad } from '@mixlab/load';
import { type Clock, monotonicClock } from '@mixlab/runtime';

export interface LoadStep {
  readonly gatewayUrl: string;
  readonly directoryKey: string;
  readonly strategy: string;
  readonly clients: number;
  readonly ratePerClient: number;
  readonly durationMs: number;
  readonly drainMs: number;
  readonly seed: number;
}

export type LoadStepAnswer =
  | {
      readonly result: LoadResult;
      readonly errors: string[];
      /** This thread's event-loop delay over the step (ms): what its own wraps and opens held messages up. */
      readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
    }
  | { readonly error: string };

/** Wall-clock time at sub-millisecond resolution (sender and recipient share this thread's clock). */
const fineWallClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  schedule: monotonicClock.schedule,
};

await cryptoReady();
const port = parentPort;
if (!port) throw new Error('load-worker.ts runs as a worker thread');
port.on('message', async (step: LoadStep) => {
  const errors = new Set<string>();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  try {
    const result = await runLoad({
      clients: step.clients,
      ratePerClient: step.ratePerClient,
      durationMs: step.durationMs,
      drainMs: step.drainMs,
      strategy: step.strategy,
      seed: step.seed,
      clock: fineWallClock,
      connect: (random) => new MixnetClient(step.gatewayUrl, { directoryKey: step.directoryKey, random }),
      generateKeys: generateKeyPair,
      onError: (error) => errors.add(error.message),
    });
    loopDelay.disable();
    const loopDelayMs = {
      p50: loopDelay.percentile(50) / 1e6,
      p99: loopDelay.percentile(99) / 1e6,
      max: loopDelay.max / 1e6,
    };
    port.postMessage({ result, errors: [...errors].slice(0, 5), loopDelayMs } satisfies LoadStepAnswer);
  } catch (error) {
    port.postMessage({ error: String(error) } satisfies LoadStepAnswer);
  }
});
