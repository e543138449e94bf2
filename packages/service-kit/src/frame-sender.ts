import { encodeFrames } from '@mixlab/packet';
import { Agent } from 'undici';
import { QueueFullError } from './forwarder.ts';
import { OCTET_STREAM } from './http.ts';

export interface FrameSenderOptions {
  /** Keep-alive connections per origin. */
  readonly connections: number;
  /** Tries per request, for network errors and 5xx answers. */
  readonly attempts: number;
  readonly timeoutMs: number;
  /**
   * The most frames waiting for or in requests to one URL (in flight, retrying, or queued
   * for a connection). A send past it is refused at once with QueueFullError, so a slow or
   * dead target costs bounded memory instead of a queue without end. Unbounded when undefined.
   */
  readonly maxPendingFrames?: number;
}

/** Frames pending per target by default: about 13 MiB of Sphinx packets, 50 s of 100 packets per second. */
export const DEFAULT_MAX_PENDING_FRAMES = 5000;

/** POSTs framed packets over a keep-alive connection pool, retrying transient failures. */
export class FrameSender {
  readonly #agent: Agent;
  readonly #options: FrameSenderOptions;
  /** Frames pending per URL, only while some are. */
  readonly #pending = new Map<string, number>();

  constructor(options: FrameSenderOptions) {
    this.#options = options;
    this.#agent = new Agent({
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /** Resolves once `url` accepted the frames; rejects when it did not, or at once with QueueFullError. */
  send(url: string, frames: Uint8Array[]): Promise<void> {
    const bound = this.#options.maxPendingFrames;
    if (bound === undefined) return this.#post(url, frames);
    const pending = this.#pending.get(url) ?? 0;
    // An idle target takes any one request, so a batch larger than the bound still goes.
    if (pending > 0 && pending + frames.length > bound) return Promise.reject(new QueueFullError(url, pending));
    this.#pending.set(url, pending + frames.length);
    return this.#post(url, frames).finally(() => {
      const left = (this.#pending.get(url) ?? frames.length) - frames.length;
      if (left > 0) this.#pending.set(url, left);
      else this.#pending.delete(url);
    });
  }

  async #post(url: string, frames: Uint8Array[]): Promise<void> {
    const body = encodeFrames(frames);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#options.attempts; attempt++) {
      try {
        const response = await this.#agent.request({
          origin: new URL(url).origin,
          path: new URL(url).pathname,
          method: 'POST',
          headers: { 'content-type': OCTET_STREAM },
          body,
        });
        const text = await response.body.text();
        if (response.statusCode < 300) return;
        lastError = new Error(`${url} answered ${response.statusCode}: ${text.slice(0, 200)}`);
        if (response.statusCode < 500) break; // the receiver refused these packets; resending will not help
      } catch (error) {
        lastError = error;
      }
      if (attempt < this.#options.attempts) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
    throw lastError;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
