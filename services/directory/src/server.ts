import type { DirectoryMetrics } from '@mixlab/metrics';
import { registerOperationalRoutes, serviceOptions } from '@mixlab/service-kit';
import {
  GATEWAY_ID_PATTERN,
  type GatewayDescriptor,
  NODE_ID_PATTERN,
  type NodeDescriptor,
  PUBLIC_KEY_PATTERN,
} from '@mixlab/topology';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { NodeRegistry, RegistrationResult } from './node-registry.ts';

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

const gatewaySchema = {
  type: 'object',
  required: ['id', 'url'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: GATEWAY_ID_PATTERN },
    url: { type: 'string', minLength: 1, maxLength: 512 },
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

  // Nodes and gateways register alike: validated, counted, logged, re-registration replaces.
  const registration = <T extends { id: string }>(
    path: string,
    schema: object,
    register: (descriptor: T) => RegistrationResult,
  ) =>
    app.post<{ Body: T }>(
      path,
      {
        schema: { body: schema },
        // Schema failures, bodies that are not JSON and oversize bodies alike: counted, logged, explained.
        errorHandler: (error: FastifyError, request, reply) => {
          metrics.registrations.inc({ outcome: 'rejected' });
          request.log.warn({ path, reason: error.message }, 'registration rejected');
          return reply.code(error.statusCode ?? 400).send({ error: 'invalid descriptor', problems: [error.message] });
        },
      },
      async (request, reply) => {
        const descriptor = request.body as T;
        const result = register(descriptor);
        if (!result.ok) {
          metrics.registrations.inc({ outcome: 'rejected' });
          request.log.warn({ id: descriptor.id, problems: result.problems }, 'registration rejected');
          return reply.code(400).send({ error: 'invalid descriptor', problems: result.problems });
        }
        metrics.registrations.inc({ outcome: 'accepted' });
        updateNodeGauge();
        if (!result.replaced) request.log.info({ descriptor }, 'registered');
        return reply.code(result.replaced ? 200 : 201).send({ id: descriptor.id, replaced: result.replaced });
      },
    );
  registration<NodeDescriptor>('/v1/nodes', descriptorSchema, (descriptor) => nodes.register(descriptor));
  registration<GatewayDescriptor>('/v1/gateways', gatewaySchema, (descriptor) => nodes.registerGateway(descriptor));

  app.get('/v1/topology', async () => nodes.topology());

  registerOperationalRoutes(app, deps.registry);
  return app;
}
