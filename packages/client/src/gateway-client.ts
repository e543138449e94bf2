import type { ClientReport, GatewayInfo, MailboxMessage, SubmitRequest, SubmitResponse } from '@mixlab/gateway-api';
import { fetchSignedTopology, type SignedTopology } from '@mixlab/topology';
import { type Dispatcher, request } from 'undici';

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

  submit(body: SubmitRequest): Promise<SubmitResponse> {
    return this.#json<SubmitResponse>('POST', '/v1/packets', body, [202, 400, 502]);
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

  async #json<T>(method: 'GET' | 'POST', path: string, body?: unknown, okStatuses = [200]): Promise<T> {
    const response = await request(`${this.baseUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    });
    const text = await response.body.text();
    if (!okStatuses.includes(response.statusCode)) {
      throw new Error(`${method} ${path} answered ${response.statusCode}: ${text.slice(0, 300)}`);
    }
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}
