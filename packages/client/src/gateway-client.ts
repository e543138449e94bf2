import type { ClientReport, GatewayInfo, MailboxMessage, SubmitRequest, SubmitResponse } from '@mixlab/gateway-api';
import { fetchSignedTopology, type SignedTopology } from '@mixlab/topology';
import { type Dispatcher, request } from 'undici';
import { parseRetryAfter } from './retry-after.ts';

/**
 * A gateway answer that is not a success: `code` is the stable error code of the shared
 * error body (`{ error, message }`, see @mixlab/service-kit errors.ts), `message` what to do.
 */
export class GatewayError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  /** Retry-After of a 429 or 503, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(request: string, status: number, body: string, retryAfterMs?: number) {
    const { code, message } = errorOf(body);
    super(`${request} answered ${status}${code ? ` ${code}` : ''}: ${message}`);
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // not JSON: a proxy's page, say
  }
}

function errorOf(body: string): { code: string | undefined; message: string } {
  const parsed = jsonOrUndefined(body) as { error?: unknown; message?: unknown } | undefined;
  if (typeof parsed?.error === 'string' && typeof parsed.message === 'string') {
    return { code: parsed.error, message: parsed.message };
  }
  return { code: undefined, message: body.slice(0, 300) || '(empty body)' };
}

/** The gateway's HTTP API, one method per route. */
export class GatewayClient {
  readonly baseUrl: string;
  readonly #dispatcher: Dispatcher | undefined;

  constructor(baseUrl: string, dispatcher?: Dispatcher) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#dispatcher = dispatcher;
  }

  /** The directory's signed topology, as the gateway passes it on; verify it before use. */
  signedTopology(): Promise<SignedTopology> {
    return fetchSignedTopology(this.baseUrl, this.#dispatcher);
  }

  info(): Promise<GatewayInfo> {
    return this.#json<GatewayInfo>('GET', '/v1/gateway');
  }

  /** Per-packet verdicts: also when every packet was refused (400 packets_rejected, 502 upstream_failed). */
  submit(body: SubmitRequest): Promise<SubmitResponse> {
    return this.#json<SubmitResponse>('POST', '/v1/packets', body, [202], (answer) =>
      Array.isArray((answer as Partial<SubmitResponse> | undefined)?.rejected),
    );
  }

  async mailbox(address: string): Promise<MailboxMessage[]> {
    return (await this.#json<{ messages: MailboxMessage[] }>('GET', `/v1/mailboxes/${address}`)).messages;
  }

  async acknowledge(address: string, ids: readonly string[]): Promise<number> {
    return (await this.#json<{ acknowledged: number }>('POST', `/v1/mailboxes/${address}/acks`, { ids })).acknowledged;
  }

  /** Measurement only: counts of this client's own traffic (see ClientReport). */
  async report(report: ClientReport): Promise<void> {
    await this.#json<unknown>('POST', '/v1/reports', report, [204]);
  }

  /** The WebSocket URL that pushes `address`'s messages. */
  mailboxSocketUrl(address: string): string {
    return `${this.baseUrl.replace(/^http/, 'ws')}/v1/mailboxes/${address}/ws`;
  }

  /** `isVerdict` accepts an error answer that still carries the result (per-packet verdicts). */
  async #json<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    okStatuses = [200],
    isVerdict?: (answer: unknown) => boolean,
  ): Promise<T> {
    const response = await request(`${this.baseUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    });
    const text = await response.body.text();
    if (okStatuses.includes(response.statusCode)) return (text === '' ? undefined : JSON.parse(text)) as T;
    const answer = isVerdict ? jsonOrUndefined(text) : undefined;
    if (isVerdict?.(answer)) return answer as T;
    const retryAfter = parseRetryAfter(response.headers['retry-after'], Date.now());
    throw new GatewayError(`${method} ${path}`, response.statusCode, text, retryAfter);
  }
}
