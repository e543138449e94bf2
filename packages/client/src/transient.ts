/**
 * Which failures of a send are worth a retry: the gateway, the directory or a node being away
 * for a moment (restarting, overloaded) is like a lost packet; a packet the client got wrong is not.
 */
import { EmptyLayerError } from '@mixlab/topology';
import { GatewayError } from './gateway-client.ts';

/** Connection-level codes of node:net and undici: the other side was not there or went away. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** Statuses that say "not now": rate limited, upstream down, unavailable, timed out. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** A failure that a retry a little later may not meet: say why, and optionally when to retry. */
export class TransientError extends Error {
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TransientError';
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The connection-level code of `error` (or of what caused it, or of any of an AggregateError's), if any. */
export function connectionCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return code;
    if (current instanceof AggregateError) {
      const inner = current.errors.map(connectionCode).find((found) => found !== undefined);
      if (inner) return inner;
    }
    current = current.cause;
  }
  return undefined;
}

/** True when a retry later may succeed where this attempt failed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError || error instanceof EmptyLayerError) return true;
  // GatewayError, and the topology fetch's error, carry the HTTP status.
  const status = (error as { status?: unknown } | undefined)?.status;
  if (typeof status === 'number') return RETRY_STATUSES.has(status);
  return connectionCode(error) !== undefined;
}

/** How long the gateway asked us to wait (Retry-After on 429 or 503), if it did. */
export function retryAfterOf(error: unknown): number | undefined {
  if (error instanceof TransientError || error instanceof GatewayError) return error.retryAfterMs;
  return undefined;
}

/** One line for a failed attempt: the message, and the connection code when the message lacks it. */
export function failureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = connectionCode(error);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

const WHAT_CODES_MEAN: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'nothing listens there',
  ECONNRESET: 'the connection was reset',
  ETIMEDOUT: 'no answer in time',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'no route to the network',
  EAI_AGAIN: 'its host name does not resolve yet',
  UND_ERR_CONNECT_TIMEOUT: 'no answer in time',
};

/**
 * One line for a gateway that cannot be reached, with what to check; other failures (an
 * HTTP error, say) as their own message.
 */
export function unreachableReason(gatewayUrl: string, error: unknown): string {
  const code = connectionCode(error);
  if (code === undefined) return failureReason(error);
  const meaning = WHAT_CODES_MEAN[code] ?? 'the connection failed';
  return (
    `cannot reach the gateway at ${gatewayUrl} (${code}: ${meaning}): is it running ` +
    `(docker compose ps client-gateway), and is --gateway or MIXLAB_GATEWAY its published URL?`
  );
}
