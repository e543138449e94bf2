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
      /**
       * The p99 of this thread's event-loop delay over the step (ms): what its own wraps and opens held messages
       * up. Beyond the sampling period (the histogram's values include it).
       */
      readonly loopDelayP99Ms: number;
    }
  | { readonly error: string };

/**
 * How often the event-loop delay is sampled: every 10 ms (Node's default). Every 1 ms cost a
 * thread about 25 ms of CPU a second in timer wake-ups, a tenth of what its messages cost at 400 msg/s.
 */
const LOOP_DELAY_SAMPLE_MS = 10;

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
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_SAMPLE_MS });
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
    const loopDelayP99Ms = Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_DELAY_SAMPLE_MS);
    port.postMessage({ result, errors: [...errors].slice(0, 5), loopDelayP99Ms } satisfies LoadStepAnswer);
  } catch (error) {
    port.postMessage({ error: String(error) } satisfies LoadStepAnswer);
  }
});
