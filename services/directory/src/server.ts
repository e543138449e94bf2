import type { DirectoryMetrics } from '@mixlab/metrics';
import { registerOperationalRoutes, serviceOptions } from '@mixlab/service-kit';
import { NODE_ID_PATTERN, type NodeDescriptor, PUBLIC_KEY_PATTERN } from '@mixlab/topology';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { NodeRegistry } from './node-registry.ts';

export interface DirectoryDeps {
  readonly nodes: NodeRegistry;
  readonly registry: Registry;
  readonly metrics: DirectoryMetrics;
  readonly logger?: FastifyServerOptions['logger'];
}

const descriptorSchema = {
  type: 'object',
  required: ['id', 'layer', 'url', 'publicKey'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: NODE_ID_PATTERN },
    layer: { type: 'integer' },
    url: { type: 'string', minLength: 1, maxLength: 512 },
    publicKey: { type: 'string', pattern: PUBLIC_KEY_PATTERN },
  },
} as const;

export function buildServer(deps: DirectoryDeps): FastifyInstance {
  const { nodes, metrics } = deps;
  const app = Fastify(serviceOptions(deps.logger, { bodyLimit: 4096 }));
  const updateNodeGauge = () => {
    nodes.countByLayer().forEach((count, index) => {
      metrics.nodes.set({ layer: String(index + 1) }, count);
    });
  };
  updateNodeGauge();

  app.post<{ Body: NodeDescriptor }>(
    '/v1/nodes',
    {
      schema: { body: descriptorSchema },
      // Schema failures, bodies that are not JSON and oversize bodies alike: counted, logged, explained.
      errorHandler: (error: FastifyError, request, reply) => {
        metrics.registrations.inc({ outcome: 'rejected' });
        request.log.warn({ reason: error.message }, 'registration rejected');
        return reply.code(error.statusCode ?? 400).send({ error: 'invalid descriptor', problems: [error.message] });
      },
    },
    async (request, reply) => {
      const result = nodes.register(request.body);
      if (!result.ok) {
        metrics.registrations.inc({ outcome: 'rejected' });
        request.log.warn({ id: request.body.id, problems: result.problems }, 'registration rejected');
        return reply.code(400).send({ error: 'invalid descriptor', problems: result.problems });
      }
      metrics.registrations.inc({ outcome: 'accepted' });
      updateNodeGauge();
      if (!result.replaced) request.log.info({ node: request.body }, 'node registered');
      return reply.code(result.replaced ? 200 : 201).send({ id: request.body.id, replaced: result.replaced });
    },
  );

  app.get('/v1/topology', async () => nodes.topology());

  registerOperationalRoutes(app, deps.registry);
  return app;
}
