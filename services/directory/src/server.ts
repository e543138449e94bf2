import type { SigningKeyPair } from '@mixlab/crypto';
import { DIRECTORY_NODE_STATES, type DirectoryMetrics, type DirectoryRejectionReason } from '@mixlab/metrics';
import { registerOperationalRoutes, serviceOptions } from '@mixlab/service-kit';
import {
  GATEWAY_ID_PATTERN,
  type GatewayDescriptor,
  isUnsignedDescriptor,
  MAX_MIXING_KEYS,
  NODE_ID_PATTERN,
  PUBLIC_KEY_PATTERN,
  SIGNATURE_PATTERN,
  UNSIGNED_DESCRIPTOR_PROBLEM,
} from '@mixlab/topology';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { NodeRegistry } from './node-registry.ts';
import { TopologyPublisher } from './topology-publisher.ts';

export interface DirectoryDeps {
  /** Holds the clock, the epoch schedule, the liveness timeout and the allowed skew. */
  readonly nodes: NodeRegistry;
  /** The directory key: signs every topology; clients pin its public half. */
  readonly directoryKey: SigningKeyPair;
  readonly registry: Registry;
  readonly metrics: DirectoryMetrics;
  readonly logger?: Parameters<typeof serviceOptions>[0];
  /** How often the liveness gauge is re-evaluated besides on every topology request; default 5000 ms. */
  readonly livenessCheckMs?: number;
  /** Signs and caches topologies; injected in tests to observe the cache. */
  readonly publisher?: TopologyPublisher;
}

const BODY_LIMIT = 4096;

/** The JSON shape of a SignedNodeDescriptor; verifyDescriptor checks the rest. */
const signedDescriptorSchema = {
  type: 'object',
  required: ['id', 'layer', 'url', 'identityKey', 'mixingKeys', 'issuedAt', 'signature'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: NODE_ID_PATTERN },
    layer: { type: 'integer' },
    url: { type: 'string', minLength: 1, maxLength: 512 },
    identityKey: { type: 'string', pattern: PUBLIC_KEY_PATTERN },
    mixingKeys: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_MIXING_KEYS,
      items: {
        type: 'object',
        required: ['epoch', 'publicKey'],
        additionalProperties: false,
        properties: {
          epoch: { type: 'integer', minimum: 0 },
          publicKey: { type: 'string', pattern: PUBLIC_KEY_PATTERN },
        },
      },
    },
    issuedAt: { type: 'integer', minimum: 0 },
    signature: { type: 'string', pattern: SIGNATURE_PATTERN },
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

const REJECTION_STATUS: Readonly<Record<DirectoryRejectionReason, number>> = {
  unsigned: 400,
  malformed: 400,
  forged: 400,
  stale: 400,
  conflicting: 409,
  replayed: 409,
};

export function buildServer(deps: DirectoryDeps): FastifyInstance {
  const { nodes, metrics } = deps;
  const base = serviceOptions(deps.logger, { bodyLimit: BODY_LIMIT });
  // Signed fields are taken as sent: a string where a number belongs is malformed, not converted.
  const app = Fastify({ ...base, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } });
  const publisher = deps.publisher ?? new TopologyPublisher(deps.directoryKey.secretKey);
  const dead = new Set<string>();

  /** Sets the node gauge and the epoch gauge for `nowMs`; logs nodes that fell silent. */
  const evaluateLiveness = (nowMs: number) => {
    nodes.liveness(nowMs).forEach((counts, index) => {
      for (const state of DIRECTORY_NODE_STATES) metrics.nodes.set({ layer: String(index + 1), state }, counts[state]);
    });
    metrics.epoch.set(nodes.epoch());
    for (const node of nodes.registered()) {
      const { id } = node.descriptor;
      if (nodes.isAlive(node, nowMs) || dead.has(id)) continue;
      dead.add(id);
      app.log.warn(
        {
          id,
          layer: node.descriptor.layer,
          silentMs: nowMs - node.lastSeenMs,
          livenessTimeoutMs: nodes.livenessTimeoutMs,
        },
        'node silent for longer than the liveness timeout: it leaves the topology until it registers again',
      );
    }
  };
  evaluateLiveness(nodes.now());
  const timer = setInterval(() => evaluateLiveness(nodes.now()), deps.livenessCheckMs ?? 5_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  const reject = (
    request: FastifyRequest,
    reply: FastifyReply,
    reason: DirectoryRejectionReason,
    problems: string[],
    status = REJECTION_STATUS[reason],
  ) => {
    metrics.registrations.inc({ outcome: 'rejected', reason });
    const id = (request.body as { id?: unknown } | undefined)?.id;
    request.log.warn({ id: typeof id === 'string' ? id : undefined, reason, problems }, 'registration rejected');
    return reply.code(status).send({ error: `${reason} descriptor`, reason, problems });
  };

  app.post(
    '/v1/nodes',
    {
      schema: { body: signedDescriptorSchema },
      // Bodies that are not JSON, too large, or not shaped like a signed descriptor.
      errorHandler: (error: FastifyError, request, reply) => {
        const status = error.statusCode ?? 500;
        if (!error.validation && status >= 500) {
          request.log.error({ err: error }, 'registration failed');
          return reply.code(500).send({ error: 'internal error', reason: 'internal', problems: [error.message] });
        }
        // As verifyDescriptor does, a missing signature is reported before any other problem.
        return error.validation && isUnsignedDescriptor(request.body)
          ? reject(request, reply, 'unsigned', [UNSIGNED_DESCRIPTOR_PROBLEM, error.message], 400)
          : reject(request, reply, 'malformed', [error.message], status);
      },
    },
    async (request, reply) => {
      const before = (request.body as { id: string }).id;
      const previous = nodes.node(before);
      const wasAlive = previous !== undefined && nodes.isAlive(previous);
      const result = nodes.register(request.body);
      if (!result.ok) return reject(request, reply, result.reason, [result.problem]);
      metrics.registrations.inc({ outcome: 'accepted', reason: 'ok' });
      const { descriptor, replaced, changed, epoch } = result;
      const details = {
        id: descriptor.id,
        layer: descriptor.layer,
        url: descriptor.url,
        identityKey: descriptor.identityKey,
        mixingKeyEpochs: descriptor.mixingKeys.map((key) => key.epoch),
        epoch,
      };
      if (!replaced) request.log.info(details, 'node registered');
      else if (!wasAlive) request.log.info(details, 'node heard from again: it rejoins the topology');
      else if (changed) request.log.info(details, 'node descriptor updated');
      else request.log.debug({ id: descriptor.id, issuedAt: descriptor.issuedAt }, 'heartbeat');
      dead.delete(descriptor.id);
      evaluateLiveness(nodes.now());
      return reply.code(replaced ? 200 : 201).send({ id: descriptor.id, replaced, epoch });
    },
  );

  app.post<{ Body: GatewayDescriptor }>(
    '/v1/gateways',
    {
      schema: { body: gatewaySchema },
      errorHandler: (error: FastifyError, request, reply) => {
        const status = error.statusCode ?? 500;
        if (!error.validation && status >= 500) {
          request.log.error({ err: error }, 'gateway registration failed');
          return reply.code(500).send({ error: 'internal error', problems: [error.message] });
        }
        request.log.warn({ reason: error.message }, 'gateway registration rejected');
        return reply.code(status).send({ error: 'invalid gateway', problems: [error.message] });
      },
    },
    async (request, reply) => {
      const result = nodes.registerGateway(request.body);
      if (!result.ok) {
        request.log.warn({ id: request.body.id, problems: result.problems }, 'gateway registration rejected');
        return reply.code(400).send({ error: 'invalid gateway', problems: result.problems });
      }
      if (!result.replaced) request.log.info({ gateway: request.body }, 'gateway registered');
      return reply.code(result.replaced ? 200 : 201).send({ id: request.body.id, replaced: result.replaced });
    },
  );

  // The signed topology of the current epoch, signed again only when it changed.
  app.get('/v1/topology', async (_request, reply) => {
    const nowMs = nodes.now();
    evaluateLiveness(nowMs);
    const { json } = publisher.publish(nodes.document(nowMs));
    return reply.type('application/json; charset=utf-8').send(json);
  });

  registerOperationalRoutes(app, deps.registry);
  return app;
}
