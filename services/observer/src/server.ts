import { formatStrategyConfig } from '@mixlab/mixing';
import { createServiceApp, registerOperationalRoutes } from '@mixlab/service-kit';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { Observatory } from './observatory.ts';
import type { TraceRecorder } from './trace-recorder.ts';

export interface ObserverDeps {
  readonly observatory: Observatory;
  readonly registry: Registry;
  /** GET /v1/trace: the raw named wire trace. */
  readonly trace?: TraceRecorder;
  /** Healthy once the tap is bound and the topology known. */
  readonly isReady?: () => boolean;
  readonly logger?: FastifyServerOptions['logger'];
}

export function buildServer(deps: ObserverDeps): FastifyInstance {
  const app = createServiceApp(deps.logger);
  // The observer's current estimates: client slots and their connections, recent messages' sender distributions.
  app.get('/v1/estimates', async () => deps.observatory.estimates());
  const { trace } = deps;
  if (trace) {
    // The wire trace (WireEvent fields only) and who is who, for the passive attacks: ?since=N&limit=M.
    app.get('/v1/trace', async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const since = Number(query.since ?? 0);
      const limit = Number(query.limit ?? 50_000);
      if (!Number.isSafeInteger(since) || since < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > 100_000) {
        return reply.code(400).send({ error: 'since must be a whole number >= 0, limit one in [1, 100000]' });
      }
      const { clients, nodes, gateways } = deps.observatory.estimates();
      const strategy = formatStrategyConfig(deps.observatory.strategy);
      return { clients, nodes, gateways, strategy, ...trace.page(since, limit) };
    });
  }
  registerOperationalRoutes(app, deps.registry, deps.isReady);
  return app;
}
