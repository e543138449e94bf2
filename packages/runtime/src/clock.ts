/** Time as the testbed's logic sees it, injected so that tests can drive it exactly. */
export interface Clock {
  /** Milliseconds since the clock's origin: arbitrary for a monotonic clock, the Unix epoch for a wall clock. */
  now(): number;
  /** Runs `fn` after `delayMs` (never sooner); returns a function that cancels it. */
  schedule(delayMs: number, fn: () => void): () => void;
}

/** setTimeout's longest delay; a longer one is clamped to 1 ms, i.e. fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * setTimeout without its clamp: a delay longer than MAX_TIMEOUT_MS runs as a chain of
 * timeouts that together last the whole delay (each may fire late, none early).
 */
function scheduleTimeout(delayMs: number, fn: () => void): () => void {
  let left = Math.max(0, delayMs);
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    if (left > MAX_TIMEOUT_MS) {
      left -= MAX_TIMEOUT_MS;
      timer = setTimeout(arm, MAX_TIMEOUT_MS);
    } else {
      timer = setTimeout(fn, left);
    }
  };
  arm();
  return () => clearTimeout(timer);
}

/** Monotonic time (performance.now): for intervals, timers and latencies within one process. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  schedule: scheduleTimeout,
};

/** Wall-clock time (Date.now, ms since the Unix epoch): for times shared with other processes. */
export const wallClock: Clock = {
  now: () => Date.now(),
  schedule: scheduleTimeout,
};

/** Resolves after `ms` on `clock`, or as soon as `signal` aborts (it never rejects). */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || !(ms > 0)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const cancel = clock.schedule(ms, done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
