import { encodeFrames } from '@mixlab/packet';
import { Agent } from 'undici';
import { OCTET_STREAM } from './http.ts';
import { endpointOf, type WireTap } from './wire-tap.ts';

export interface FrameSenderOptions {
  /** Keep-alive connections per origin. */
  readonly connections: number;
  /** Tries per request, for network errors and 5xx answers. */
  readonly attempts: number;
  readonly timeoutMs: number;
  /** Told of every request as it goes on the wire (the anonymity observer's tap). */
  readonly tap?: WireTap;
}

/** POSTs framed packets over a keep-alive connection pool, retrying transient failures. */
export class FrameSender {
  readonly #agent: Agent;
  readonly #options: FrameSenderOptions;

  constructor(options: FrameSenderOptions) {
    this.#options = options;
    this.#agent = new Agent({
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  async send(url: string, frames: Uint8Array[]): Promise<void> {
    const body = encodeFrames(frames);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#options.attempts; attempt++) {
      this.#options.tap?.sent(endpointOf(url), body.length, frames.length);
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
