import { createServiceApp, registerOperationalRoutes } from '@mixlab/service-kit';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { Observatory } from './observatory.ts';

export interface ObserverDeps {
  readonly observatory: Observatory;
  readonly registry: Registry;
  /** Healthy once the tap is bound and the topology known. */
  readonly isReady?: () => boolean;
  readonly logger?: FastifyServerOptions['logger'];
}

export function buildServer(deps: ObserverDeps): FastifyInstance {
  const app = createServiceApp(deps.logger);
  // The observer's current estimates: client slots and their connections, recent messages' sender distributions.
  app.get('/v1/estimates', async () => deps.observatory.estimates());
  registerOperationalRoutes(app, deps.registry, deps.isReady);
  return app;
}
