import type { SigningKeyPair } from '@mixlab/crypto';
import { DIRECTORY_NODE_STATES, type DirectoryMetrics, type DirectoryRejectionReason } from '@mixlab/metrics';
import {
  classifyError,
  createServiceApp,
  type ErrorCode,
  registerOperationalRoutes,
  sendError,
} from '@mixlab/service-kit';
import {
  GATEWAY_ID_PATTERN,
  type GatewayDescriptor,
  isUnsignedDescriptor,
  MAX_MIXING_KEYS,
  MAX_STRATEGY_BYTES,
  NODE_ID_PATTERN,
  PUBLIC_KEY_PATTERN,
  SIGNATURE_PATTERN,
  UNSIGNED_DESCRIPTOR_PROBLEM,
} from '@mixlab/topology';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
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
  readonly logger?: FastifyServerOptions['logger'];
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
    strategy: { type: 'string', minLength: 1, maxLength: MAX_STRATEGY_BYTES },
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
    // Exit nodes seal deliveries to it (links); signed and enrolled once gateways sign their descriptors.
    identityKey: { type: 'string', pattern: PUBLIC_KEY_PATTERN },
  },
} as const;

/** The error code (and so the status: 400 or 409) of each rejection reason. */
const REJECTION_CODE: Readonly<Record<DirectoryRejectionReason, ErrorCode>> = {
  unsigned: 'descriptor_rejected',
  malformed: 'descriptor_rejected',
  forged: 'descriptor_rejected',
  stale: 'descriptor_rejected',
  conflicting: 'descriptor_conflict',
  replayed: 'descriptor_conflict',
};

export function buildServer(deps: DirectoryDeps): FastifyInstance {
  const { nodes, metrics } = deps;
  // Signed fields are taken as sent: a string where a number belongs is malformed, not converted.
  const app = createServiceApp(deps.logger, { bodyLimit: BODY_LIMIT, ajvOptions: { coerceTypes: false } });
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
    code = REJECTION_CODE[reason],
  ) => {
    metrics.registrations.inc({ outcome: 'rejected', reason });
    const id = (request.body as { id?: unknown } | undefined)?.id;
    request.log.warn({ id: typeof id === 'string' ? id : undefined, reason, problems }, 'registration rejected');
    const message = `${reason} descriptor: ${problems.join('; ')}`;
    return sendError(reply, code, message, { reason, problems });
  };

  app.post(
    '/v1/nodes',
    {
      schema: { body: signedDescriptorSchema },
      // Bodies that are not JSON, too large, or not shaped like a signed descriptor.
      errorHandler: (error: FastifyError, request, reply) => {
        const { code, message } = classifyError(error);
        if (code === 'internal_error') {
          request.log.error({ err: error }, 'registration failed');
          return sendError(reply, code, message);
        }
        // As verifyDescriptor does, a missing signature is reported before any other problem.
        if (error.validation && isUnsignedDescriptor(request.body)) {
          return reject(request, reply, 'unsigned', [UNSIGNED_DESCRIPTOR_PROBLEM, error.message]);
        }
        // Too large or not JSON keeps its own code (413, 415, 400); all count as malformed.
        return reject(request, reply, 'malformed', [message], error.validation ? 'descriptor_rejected' : code);
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
        const { code, message } = classifyError(error);
        if (code === 'internal_error') {
          request.log.error({ err: error }, 'gateway registration failed');
          return sendError(reply, code, message);
        }
        request.log.warn({ reason: message }, 'gateway registration rejected');
        return sendError(reply, error.validation ? 'gateway_rejected' : code, `invalid gateway: ${message}`, {
          problems: [message],
        });
      },
    },
    async (request, reply) => {
      const result = nodes.registerGateway(request.body);
      if (!result.ok) {
        request.log.warn({ id: request.body.id, problems: result.problems }, 'gateway registration rejected');
        return sendError(reply, 'gateway_rejected', `invalid gateway: ${result.problems.join('; ')}`, {
          problems: result.problems,
        });
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
