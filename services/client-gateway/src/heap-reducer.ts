/**
 * Gives back to the system what a flood made V8 commit.
 *
 * Under a flood's allocation rate V8 grows its heap (the young generation up to its limit,
 * old-space pages for what got promoted) and keeps it: shrinking it is the job of V8's memory
 * reducer, which runs only when the process looks idle, and a gateway that keeps serving
 * clients never does (`--trace-memory-reducer` prints "high alloc" every 8 s for ever). So
 * after a flood the gateway sat 27–60 MiB above its baseline until it exited
 * (docs/experiments/flood.md), all of it V8's: Buffers, malloc arenas and the bounded maps
 * were back where they started. This does what the memory reducer would: when the resident
 * memory is well above the least it was since the last collection and has stopped growing,
 * one memory-reducing full collection (the inspector's HeapProfiler.collectGarbage, through
 * an in-process session: no port is opened), at most once per `minIntervalMs`.
 */
import { Session } from 'node:inspector/promises';
import { getHeapStatistics } from 'node:v8';

export interface HeapReducerOptions {
  /** Resident memory above the floor worth a collection: this fraction of the floor, ... */
  readonly slackFraction: number;
  /** ... and at least this many bytes. */
  readonly minSlackBytes: number;
  /** Collections at most this often, ms (each stops the gateway for tens of ms). */
  readonly minIntervalMs: number;
}

export const HEAP_REDUCER_DEFAULTS: HeapReducerOptions = {
  slackFraction: 0.1,
  minSlackBytes: 8 * 2 ** 20,
  minIntervalMs: 30_000,
};

/** Growth between two samples that still counts as settled (pages the gateway touches anyway). */
const SETTLED_BYTES = 2 ** 20;

/** When to collect, from samples of the resident memory (no I/O, for tests). */
export class HeapReducerPolicy {
  readonly #options: HeapReducerOptions;
  /** The least resident memory seen since the last collection (or start). */
  #floor: number;
  #last: number;
  #collectedAt: number;

  constructor(options: HeapReducerOptions, rss: number, now: number) {
    this.#options = options;
    this.#floor = rss;
    this.#last = rss;
    // The first collection may come as soon as memory has grown: none was done before.
    this.#collectedAt = now - options.minIntervalMs;
  }

  /** One sample: true when a memory-reducing collection is due now. */
  due(rss: number, now: number): boolean {
    const settled = rss - this.#last < SETTLED_BYTES;
    this.#last = rss;
    this.#floor = Math.min(this.#floor, rss);
    const slack = Math.max(this.#options.minSlackBytes, this.#floor * this.#options.slackFraction);
    return settled && rss - this.#floor >= slack && now - this.#collectedAt >= this.#options.minIntervalMs;
  }

  /** After a collection: what it left resident is the new floor. */
  collected(rss: number, now: number): void {
    this.#floor = rss;
    this.#last = rss;
    this.#collectedAt = now;
  }
}

export interface HeapReduction {
  readonly rssBefore: number;
  readonly rssAfter: number;
  /** The heap V8 had committed, before and after. */
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly ms: number;
}

/** One memory-reducing full collection, as the inspector asks for it. */
async function collectAllGarbage(): Promise<void> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.collectGarbage');
  } finally {
    session.disconnect();
  }
}

/**
 * Samples the resident memory every `intervalMs` and collects when the policy says so;
 * `onReduced` hears each collection (for the log). Returns the function that stops it.
 */
export function startHeapReducer(
  onReduced: (reduction: HeapReduction) => void,
  onError: (error: Error) => void,
  options: HeapReducerOptions = HEAP_REDUCER_DEFAULTS,
  intervalMs = 5_000,
): () => void {
  const rss = () => process.memoryUsage.rss();
  const heap = () => getHeapStatistics().total_heap_size;
  const policy = new HeapReducerPolicy(options, rss(), performance.now());
  let collecting = false;
  const timer = setInterval(async () => {
    const rssBefore = rss();
    if (collecting || !policy.due(rssBefore, performance.now())) return;
    collecting = true;
    const heapBefore = heap();
    const started = performance.now();
    try {
      await collectAllGarbage();
      const rssAfter = rss();
      policy.collected(rssAfter, performance.now());
      onReduced({ rssBefore, rssAfter, heapBefore, heapAfter: heap(), ms: performance.now() - started });
    } catch (error) {
      // Not again before the interval: a failing inspector must not be retried every sample.
      policy.collected(rss(), performance.now());
      onError(error as Error);
    } finally {
      collecting = false;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
