import type { DirectoryMetrics } from '@mixlab/metrics';
import { registerOperationalRoutes } from '@mixlab/service-kit';
import { NODE_ID_PATTERN, type NodeDescriptor, PUBLIC_KEY_PATTERN } from '@mixlab/topology';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
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
  const app = Fastify({ logger: deps.logger ?? false, disableRequestLogging: true, bodyLimit: 4096 });
  const updateNodeGauge = () => {
    nodes.countByLayer().forEach((count, index) => {
      metrics.nodes.set({ layer: String(index + 1) }, count);
    });
  };
  updateNodeGauge();

  app.post<{ Body: NodeDescriptor }>(
    '/v1/nodes',
    { schema: { body: descriptorSchema }, attachValidation: true },
    async (request, reply) => {
      if (request.validationError) {
        metrics.registrations.inc({ outcome: 'rejected' });
        request.log.warn({ reason: request.validationError.message }, 'registration rejected');
        return reply.code(400).send({ error: 'invalid descriptor', problems: [request.validationError.message] });
      }
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
