/**
 * The load generator of the cascade benches: `count` worker threads, each with its share of the
 * simulated clients (load-worker.ts), so that the load generator spreads over cores instead of
 * saturating one event loop before the cascade does.
 */
import { Worker } from 'node:worker_threads';
import { latencyStats } from '@mixlab/load';
import type { LoadStep, LoadStepAnswer } from './load-worker.ts';

export class LoadWorkers {
  readonly #workers: Worker[];
  readonly #clients: number;

  constructor(count: number, clients: number) {
    this.#workers = Array.from({ length: count }, () => new Worker(new URL('./load-worker.ts', import.meta.url)));
    this.#clients = clients;
  }

  /** Runs one step on every worker; merges what they measured. */
  async run(step: Omit<LoadStep, 'clients' | 'seed' | 'ratePerClient'>, offered: number, seed: number) {
    const clients = this.#clients;
    const shares = this.#workers.map(
      (_, i) => Math.floor(clients / this.#workers.length) + (i < clients % this.#workers.length ? 1 : 0),
    );
    const answers = await Promise.all(
      this.#workers.map(
        (worker, i) =>
          new Promise<LoadStepAnswer>((resolve, reject) => {
            worker.once('error', reject);
            worker.once('message', (answer: LoadStepAnswer) => {
              worker.off('error', reject);
              resolve(answer);
            });
            worker.postMessage({
              ...step,
              clients: shares[i] as number,
              ratePerClient: offered / clients,
              seed: seed * 100 + i,
            } satisfies LoadStep);
          }),
      ),
    );
    const failed = answers.find((answer) => 'error' in answer);
    if (failed && 'error' in failed) throw new Error(failed.error);
    const results = answers.flatMap((answer) => ('result' in answer ? [answer] : []));
    const latencies = results.flatMap(({ result }) => result.latenciesMs);
    const sum = (pick: (s: (typeof results)[number]['result']['summary']) => number) =>
      results.reduce((total, { result }) => total + pick(result.summary), 0);
    return {
      sent: sum((s) => s.sent),
      sendErrors: sum((s) => s.sendErrors),
      delivered: sum((s) => s.delivered),
      lost: sum((s) => s.lost),
      throughput: sum((s) => s.throughput),
      latency: latencyStats(latencies) ?? null,
      latenciesMs: latencies,
      errors: [...new Set(results.flatMap((r) => r.errors))].slice(0, 5),
      loopDelayP99Ms: Math.max(...results.map((r) => r.loopDelayP99Ms)),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}
