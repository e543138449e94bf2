import { generateKeyPair, type KeyPair, openSealed, toHex } from '@mixlab/crypto';
import type {
  ClientReport,
  GatewayInfo,
  MailboxMessage,
  SessionResponse,
  SubmitRequest,
  SubmitResponse,
} from '@mixlab/gateway-api';
import { exchange } from '@mixlab/service-kit';
import { fetchSignedTopology, type SignedTopology } from '@mixlab/topology';
import { type Dispatcher, getGlobalDispatcher } from 'undici';

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

/**
 * The gateway's HTTP API, one method per route. Mailbox requests (and reports) carry a session
 * that proves the caller holds the address's private key: opened on first use (the gateway
 * seals a token to the address, only that key opens it), kept per address, and opened again
 * when the gateway says it is over.
 */
export class GatewayClient {
  readonly baseUrl: string;
  readonly #dispatcher: Dispatcher | undefined;
  /** Bearer tokens (hex) by address: a promise, so that concurrent first uses open one session; the value once known. */
  readonly #sessions = new Map<string, { readonly token: Promise<string>; value?: string }>();
  /** Reports need a session of some address: this client's own throwaway one, unless given keys. */
  #reportKeys: KeyPair | undefined;

  /** Awaited before a session token is used: MixnetClient checks the gateway's key there. */
  readonly #beforeSession: () => Promise<void>;
  /** baseUrl's origin and path, parsed once (on first use, so a bad URL fails the call as it always did). */
  #target: { readonly origin: string; readonly path: string } | undefined;

  constructor(baseUrl: string, dispatcher?: Dispatcher, beforeSession: () => Promise<void> = async () => {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#dispatcher = dispatcher;
    this.#beforeSession = beforeSession;
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

  /** The messages waiting for `keys`' address. */
  async mailbox(keys: KeyPair): Promise<MailboxMessage[]> {
    const address = toHex(keys.publicKey);
    return (
      await this.#withSession(keys, (headers) =>
        this.#json<{ messages: MailboxMessage[] }>(
          'GET',
          `/v1/mailboxes/${address}`,
          undefined,
          [200],
          undefined,
          headers,
        ),
      )
    ).messages;
  }

  async acknowledge(keys: KeyPair, ids: readonly string[]): Promise<number> {
    const address = toHex(keys.publicKey);
    const path = `/v1/mailboxes/${address}/acks`;
    return (
      await this.#withSession(keys, (headers) =>
        this.#json<{ acknowledged: number }>('POST', path, { ids }, [200], undefined, headers),
      )
    ).acknowledged;
  }

  /**
   * Measurement only: counts of this client's own traffic (see ClientReport), under the
   * session of `keys` (a key pair of this client's own when absent).
   */
  async report(report: ClientReport, keys?: KeyPair): Promise<void> {
    if (!keys) this.#reportKeys ??= generateKeyPair();
    await this.#withSession(keys ?? (this.#reportKeys as KeyPair), (headers) =>
      this.#json<unknown>('POST', '/v1/reports', report, [204], undefined, headers),
    );
  }

  /**
   * Where and how to open the WebSocket that pushes `keys`' messages: its URL and the
   * authorization header of a session (a fresh one when `renew`, e.g. after a refused upgrade:
   * a WebSocket that fails says nothing of why).
   */
  async mailboxSocket(keys: KeyPair, renew = false): Promise<{ url: string; headers: Record<string, string> }> {
    const address = toHex(keys.publicKey);
    if (renew) this.#sessions.delete(address);
    return {
      url: `${this.baseUrl.replace(/^http/, 'ws')}/v1/mailboxes/${address}/ws`,
      headers: { authorization: `Bearer ${await this.#token(keys)}` },
    };
  }

  /**
   * Opens a session for `keys`' address: the gateway answers a token sealed to the address,
   * which only its private key opens. Returns the token (hex) and when it expires (ms since the epoch).
   */
  async openSession(keys: KeyPair): Promise<{ token: string; expiresAt: number }> {
    const address = toHex(keys.publicKey);
    const { sealedToken, expiresAt } = await this.#json<SessionResponse>('POST', '/v1/sessions', { address }, [201]);
    const token = openSealed(Buffer.from(sealedToken, 'base64'), keys);
    if (!token) throw new Error(`the gateway's session token for ${address} does not open with its key`);
    return { token: toHex(token), expiresAt };
  }

  async #token(keys: KeyPair): Promise<string> {
    await this.#beforeSession();
    const address = toHex(keys.publicKey);
    let session = this.#sessions.get(address);
    if (!session) {
      const entry: { token: Promise<string>; value?: string } = {
        token: this.openSession(keys).then(({ token }) => {
          entry.value = token;
          return token;
        }),
      };
      session = entry;
      this.#sessions.set(address, entry);
      // A failed opening is tried again next time rather than remembered.
      entry.token.catch(() => {
        if (this.#sessions.get(address) === entry) this.#sessions.delete(address);
      });
    }
    return session.token;
  }

  /** `call` with the session's header; once more with a new session when the gateway says it is over. */
  async #withSession<T>(keys: KeyPair, call: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.#token(keys);
      try {
        return await call({ authorization: `Bearer ${token}` });
      } catch (error) {
        const over = error instanceof GatewayError && error.code === 'session_expired';
        if (!over || attempt > 1) throw error;
        this.#forget(toHex(keys.publicKey), token);
      }
    }
  }

  /** Drops `address`'s session if it is still `token` (a concurrent call may have renewed it already). */
  #forget(address: string, token: string): void {
    if (this.#sessions.get(address)?.value === token) this.#sessions.delete(address);
  }

  /**
   * `isVerdict` accepts an error answer that still carries the result (per-packet verdicts).
   * `headers` are this call's own: the content type joins them when there is a body.
   */
  async #json<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    okStatuses = [200],
    isVerdict?: (answer: unknown) => boolean,
    headers: Record<string, string> = {},
  ): Promise<T> {
    if (body !== undefined) headers['content-type'] = 'application/json';
    const target = this.#targetOf();
    const response = await exchange(this.#dispatcher ?? getGlobalDispatcher(), {
      origin: target.origin,
      path: target.path + path,
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
    const { status, text } = response;
    if (okStatuses.includes(status)) return (text === '' ? undefined : JSON.parse(text)) as T;
    const answer = isVerdict ? jsonOrUndefined(text) : undefined;
    if (isVerdict?.(answer)) return answer as T;
    const retryAfter = parseRetryAfter(response.headers['retry-after'], Date.now());
    throw new GatewayError(`${method} ${path}`, status, text, retryAfter);
  }

  #targetOf(): { readonly origin: string; readonly path: string } {
    if (!this.#target) {
      const url = new URL(this.baseUrl);
      this.#target = { origin: url.origin, path: url.pathname.replace(/\/+$/, '') };
    }
    return this.#target;
  }
}
