import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';

/**
 * Every error a mixlab service answers, with its HTTP status: one table for the directory,
 * the mix node and the client gateway, so the same situation gets the same status and code
 * everywhere. The body is always
 *
 *   { "error": "<code>", "message": "<what went wrong and what to do>", ...details }
 *
 * where details are the fields clients read: `reason` and `problems` (directory
 * registrations of nodes and gateways), `accepted` and `rejected` (per-packet verdicts of a gateway submission).
 *
 * | code                   | status | when                                                          |
 * |------------------------|--------|---------------------------------------------------------------|
 * | invalid_request        | 400    | body, params or frames that do not parse or fit the schema    |
 * | descriptor_rejected    | 400    | directory: unsigned, malformed, forged or stale descriptor    |
 * | packets_rejected       | 400    | gateway: every submitted packet refused (see `rejected`)      |
 * | session_required       | 401    | gateway: a mailbox or report request without a bearer session |
 * | session_expired        | 401    | gateway: the session is unknown or over; open a new one       |
 * | wrong_mailbox          | 403    | gateway: the session is for another address                   |
 * | not_enrolled           | 403    | directory: the identity key is not enrolled for this id       |
 * | malformed              | 401    | a service's request that is not a link box (link-box.ts)      |
 * | forged                 | 401    | a link box that does not open with its sender's key           |
 * | stale                  | 401    | a link box dated outside the freshness window                 |
 * | replayed               | 401    | a link box already received                                   |
 * | unknown_sender         | 403    | a link box from an id without identity key in the topology    |
 * | wrong_layer            | 403    | a link box from a node or gateway that may not send here      |
 * | wrong_receiver         | 403    | a link box sealed for another service                         |
 * | not_found              | 404    | no such route                                                 |
 * | descriptor_conflict    | 409    | directory: the id belongs to another key, or a replay         |
 * | body_too_large         | 413    | body over the service's limit                                 |
 * | unsupported_media_type | 415    | a content type the route does not take                        |
 * | rate_limited           | 429    | gateway: the client's packets are over its rate (Retry-After) |
 * | internal_error         | 500    | a bug: logged with its stack, never a reaction to input       |
 * | upstream_failed        | 502    | gateway: the layer-1 nodes refused or were unreachable        |
 * | directory_unreachable  | 503    | the directory could not be asked; retry shortly               |
 * | shutting_down          | 503    | the service is stopping and takes no new work; go elsewhere   |
 * | storage_failed         | 503    | gateway: messages could not be committed to disk; none kept   |
 * | overloaded             | 503    | gateway: its bound on work in flight is reached (Retry-After) |
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  descriptor_rejected: 400,
  packets_rejected: 400,
  session_required: 401,
  session_expired: 401,
  wrong_mailbox: 403,
  not_enrolled: 403,
  malformed: 401,
  forged: 401,
  stale: 401,
  replayed: 401,
  unknown_sender: 403,
  wrong_layer: 403,
  wrong_receiver: 403,
  not_found: 404,
  descriptor_conflict: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  upstream_failed: 502,
  directory_unreachable: 503,
  shutting_down: 503,
  storage_failed: 503,
  overloaded: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly error: ErrorCode;
  readonly message: string;
  readonly [detail: string]: unknown;
}

/** Answers `code` with its status from ERROR_STATUS and the shared body. */
export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): FastifyReply {
  return reply.code(ERROR_STATUS[code]).send({ error: code, message, ...details } satisfies ErrorBody);
}

/**
 * Answers a refusal worth repeating later: `code` as sendError does, with a Retry-After
 * header in whole seconds (at least 1, as the header has no finer unit).
 */
export function sendRetryLater(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  retryAfterSeconds: number,
  details: Record<string, unknown> = {},
): FastifyReply {
  reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  return sendError(reply, code, message, details);
}

const CODE_OF_STATUS: Readonly<Record<number, ErrorCode>> = {
  404: 'not_found',
  413: 'body_too_large',
  415: 'unsupported_media_type',
};

/**
 * The code and message for an error fastify raised (validation, JSON syntax, body limit,
 * content type) or a handler threw. Anything without a 4xx status is internal_error.
 */
export function classifyError(error: FastifyError): { code: ErrorCode; message: string } {
  const status = error.statusCode ?? 500;
  if (error.validation) return { code: 'invalid_request', message: error.message };
  if (status >= 500 || status < 400) {
    return { code: 'internal_error', message: 'the service failed on this request (a bug: see its log)' };
  }
  const code = CODE_OF_STATUS[status] ?? 'invalid_request';
  if (code === 'unsupported_media_type') {
    return { code, message: `${error.message}: send application/json, or application/octet-stream frames` };
  }
  return { code, message: error.message };
}

/** Told of a request refused with `code` before its handler ran, so that services can count it. */
export type RefusalListener = (code: ErrorCode) => void;

/**
 * Makes every error `app` answers take the shared shape: fastify's own (validation,
 * 404, 413, 415, JSON syntax), a thrown error (500, logged), and requests that arrive
 * while the app closes (503 shutting_down, instead of fastify's own 503 body).
 * `onRefused` hears of every 4xx among them but 404 (routes with an error handler of
 * their own answer their refusals themselves). Needs `return503OnClosing: false`
 * (createServiceApp sets it).
 */
export function installErrorHandlers(app: FastifyInstance, onRefused?: RefusalListener): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) return sendError(reply, 'shutting_down', 'this service is shutting down; send to another instance');
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { code, message } = classifyError(error);
    if (code === 'internal_error') request.log.error({ err: error }, 'request failed');
    else onRefused?.(code);
    return sendError(reply, code, message);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}: see the service's README`),
  );
}
