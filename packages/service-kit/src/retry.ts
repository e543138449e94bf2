/** Runs `attempt` until it succeeds, waiting `delayMs` between tries; stops when `signal` aborts. */
export async function retryUntilSuccess<T>(
  attempt: () => Promise<T>,
  options: { delayMs: number; signal?: AbortSignal; onFailure?: (error: unknown, tries: number) => void },
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      options.signal?.throwIfAborted();
      options.onFailure?.(error, tries);
      await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      options.signal?.throwIfAborted();
    }
  }
}
