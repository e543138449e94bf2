import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import { installErrorHandlers, type RefusalListener } from './errors.ts';

export const OCTET_STREAM = 'application/octet-stream';

export interface ServiceAppOptions {
  readonly bodyLimit?: number;
  /** Extra ajv options; signed bodies turn type coercion off. */
  readonly ajvOptions?: Record<string, unknown>;
  /** Serve HTTPS (TLS options for node:https, e.g. tlsServerOptions); inject() works either way. */
  readonly https?: Record<string, unknown>;
  /** Told of every request the app refuses before its handler runs (413, 415, a body that does not parse). */
  readonly onRefused?: RefusalListener;
}

/**
 * The fastify app of every mixlab service: no per-request log lines (they would drown
 * the per-packet reasons that matter), JSON schemas that reject unknown fields rather
 * than silently stripping them (fastify's default), and every error in the shared
 * shape (errors.ts), including fastify's own 503 while closing.
 */
export function createServiceApp(
  logger: FastifyServerOptions['logger'],
  options: ServiceAppOptions = {},
): FastifyInstance {
  const app = Fastify({
    logger: logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, ...options.ajvOptions } },
    return503OnClosing: false,
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    ...(options.https === undefined ? {} : { https: options.https }),
  }) as unknown as FastifyInstance;
  installErrorHandlers(app, options.onRefused);
  return app;
}

/** `/metrics` for Prometheus and `/health` for Docker health checks. */
export function registerOperationalRoutes(
  app: FastifyInstance,
  registry: Registry,
  isHealthy: () => boolean = () => true,
): void {
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  registerHealthRoute(app, isHealthy);
}

/** `/health` (and its alias `path`, e.g. `/ready`): 200 once `isHealthy`, else 503 starting. */
export function registerHealthRoute(
  app: FastifyInstance,
  isHealthy: () => boolean = () => true,
  path = '/health',
): void {
  app.get(path, { logLevel: 'warn' }, async (_request, reply) => {
    const healthy = isHealthy();
    reply.code(healthy ? 200 : 503);
    return { status: healthy ? 'ok' : 'starting' };
  });
}

/** Accepts binary bodies up to `bodyLimit` bytes as a Buffer. */
export function acceptOctetStream(app: FastifyInstance, bodyLimit: number): void {
  app.addContentTypeParser(OCTET_STREAM, { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    done(null, body);
  });
}

/**
 * Listens on all interfaces. On SIGTERM/SIGINT it stops taking requests first,
 * then runs `onClose` (drain pools, close connection pools), then exits.
 */
export async function listenUntilSignalled(
  app: FastifyInstance,
  port: number,
  onClose: () => Promise<void> | void = () => {},
): Promise<void> {
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await onClose();
    process.exit(0);
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
  await app.listen({ host: '0.0.0.0', port });
}
