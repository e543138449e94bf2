import websocket from '@fastify/websocket';
import {
  type AckFrame,
  ADDRESS_PATTERN,
  BASE64_PATTERN,
  type ClientReport,
  type GatewayInfo,
  MAX_ACK_IDS,
  type MailboxMessage,
  MESSAGE_ID_PATTERN,
  REPORTED_DELIVERY_EVENTS,
  REPORTED_LOOP_EVENTS,
  REPORTED_ORIGINATED_TYPES,
  type ServerFrame,
  type SubmitRequest,
  type SubmitResponse,
} from '@mixlab/gateway-api';
import type { GatewayMetrics, LoopMetrics } from '@mixlab/metrics';
import { type PacketFormatName, packetFormat } from '@mixlab/packet';
import {
  createServiceApp,
  Forwarder,
  type ForwarderDeps,
  type ForwardOutcome,
  HOP_UNKNOWN,
  hopFound,
  type Outgoing,
  peerEndpoint,
  type ResolveHop,
  registerHealthRoute,
  sendError,
  sendRetryLater,
  tlsServerOptions,
  type WireTap,
} from '@mixlab/service-kit';
import { NODE_ID_PATTERN, type TopologyCache } from '@mixlab/topology';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Mailboxes, StoredMessage } from './mailboxes.ts';
import { clientKey, type RateLimitKey, type TokenBuckets } from './rate-limit.ts';
import type { SessionRefusal, Sessions } from './sessions.ts';

export interface GatewayDeps {
  readonly mailboxes: Mailboxes;
  /** Who may read, subscribe to and acknowledge which mailbox, and send reports. */
  readonly sessions: Sessions;
  /**
   * The gateway's Ed25519 identity (libsodium format): the key of its TLS certificate, which
   * clients check against the signed topology. The app serves HTTPS with it.
   */
  readonly identity: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array };
  /** First hops are checked against its route view; clients get its signed document unchanged (they verify it). */
  readonly topology: TopologyCache;
  /** Sends to a layer-1 node, sealed to it as a link box (FrameSender with the gateway's identity). */
  readonly send: ForwarderDeps['send'];
  /** The anonymity observer's tap: told of each client submission and push, by the client's connection. */
  readonly tap?: WireTap;
  readonly info: GatewayInfo;
  readonly metrics: GatewayMetrics;
  /** Where clients' reports of their own cover traffic and loops go. */
  readonly loops: LoopMetrics;
  readonly maxPacketBytes: number;
  readonly maxPacketsPerRequest: number;
  /** Submissions forwarded to layer 1 at once; past it, 503 overloaded (unbounded when absent). */
  readonly maxSubmitsInFlight?: number;
  /**
   * One client's share of them (keyed as its rate limit; none without one), so that a flooder
   * cannot take every slot from the others. Unbounded when absent.
   */
  readonly maxSubmitsInFlightPerClient?: number;
  /** Per-client limits on submitted packets; absent: none. */
  readonly rateLimit?: { readonly key: Exclude<RateLimitKey, 'off'>; readonly buckets: TokenBuckets };
  /** Healthy once registered in the directory, so exit nodes can find it. */
  readonly isReady?: () => boolean;
  readonly logger?: FastifyServerOptions['logger'];
}

const addressParams = {
  type: 'object',
  required: ['address'],
  properties: { address: { type: 'string', pattern: ADDRESS_PATTERN } },
} as const;

const messageIds = { type: 'array', maxItems: MAX_ACK_IDS, items: { type: 'string', pattern: MESSAGE_ID_PATTERN } };
const acknowledgementSchema = {
  type: 'object',
  required: ['ids'],
  additionalProperties: false,
  properties: {
    ids: messageIds,
    latencies: { type: 'array', maxItems: MAX_ACK_IDS, items: { type: 'number', minimum: 0, maximum: 86_400 } },
  },
} as const;

const ACK_FRAME_HELP = `expected {"type":"ack","ids":[at most ${MAX_ACK_IDS} message ids],"latencies"?:[seconds]}`;
const messageId = new RegExp(MESSAGE_ID_PATTERN);

/** The WebSocket twin of acknowledgementSchema (frames do not pass through fastify's validation). */
function isAckFrame(frame: unknown): frame is AckFrame {
  if (typeof frame !== 'object' || frame === null) return false;
  const { type, ids, latencies, ...rest } = frame as Record<string, unknown>;
  const isList = (list: unknown): list is unknown[] => Array.isArray(list) && list.length <= MAX_ACK_IDS;
  return (
    type === 'ack' &&
    Object.keys(rest).length === 0 &&
    isList(ids) &&
    ids.every((id) => typeof id === 'string' && messageId.test(id)) &&
    (latencies === undefined ||
      (isList(latencies) &&
        latencies.length === ids.length &&
        latencies.every((l) => typeof l === 'number' && l >= 0 && l <= 86_400)))
  );
}

const SESSION_REFUSALS: Record<SessionRefusal, string> = {
  session_required:
    'send "authorization: Bearer <token>"; POST /v1/sessions {"address"} answers the token sealed to the address',
  session_expired: 'the session is over (or unknown); open a new one with POST /v1/sessions',
  wrong_mailbox: 'this session is for another address',
};

const FIRST_HOPS_UNCHECKED = 'the directory is unreachable, so first hops cannot be checked; retry';

/** The only next hops the gateway sends to: nodes of layer 1 (it delivers nothing itself), each with its identity key. */
function layerOneFirstHops(topology: TopologyCache): ResolveHop {
  return async (kind, id) => {
    if (kind !== 'node') return HOP_UNKNOWN;
    const node = await topology.findListed(id);
    return node?.layer === 1 ? hopFound(node.url, { id, identityKey: node.identityKey }) : HOP_UNKNOWN;
  };
}

/** mixlab_gateway_packets_submitted_total by what became of a submitted packet. */
const SUBMIT_OUTCOMES: Record<ForwardOutcome, 'forwarded' | 'rejected' | 'forward_failed' | 'overloaded'> = {
  sent: 'forwarded',
  unknown: 'rejected',
  unreachable: 'rejected',
  failed: 'forward_failed',
  queue_full: 'overloaded',
};

/** How long an overloaded gateway asks clients to wait: work in flight drains within about that. */
const OVERLOADED_RETRY_AFTER_SECONDS = 1;

/** Why a submitted packet was not passed on, by the Forwarder's outcome. */
const SUBMIT_REJECTIONS: Record<Exclude<ForwardOutcome, 'sent'>, (firstHop: string) => string> = {
  unknown: (firstHop) => `first hop ${firstHop} is not a layer-1 node of the current topology`,
  unreachable: (firstHop) => `the directory is unreachable, so first hop ${firstHop} could not be checked; retry`,
  failed: () => 'layer-1 node did not accept the packet',
  queue_full: (firstHop) => `too many packets are waiting for ${firstHop}; retry later`,
};

/** A client's connection as a tap on its link names it. */
const peerOf = (socket: { remoteAddress?: string; remotePort?: number } | undefined) =>
  peerEndpoint(socket?.remoteAddress, socket?.remotePort);

function toWire({ id, payload, receivedAt }: StoredMessage): MailboxMessage {
  // A view, not a copy: only read, for its base64.
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return { id, payload: bytes.toString('base64'), receivedAt };
}

export async function buildServer(deps: GatewayDeps): Promise<FastifyInstance> {
  const { mailboxes, metrics } = deps;
  const base64Length = Math.ceil(deps.maxPacketBytes / 3) * 4;
  const app = createServiceApp(deps.logger, {
    bodyLimit: deps.maxPacketsPerRequest * (base64Length + 256) + 1024,
    // JSON numbers only: "5" is not 5 (reports would otherwise take strings); params are strings anyway.
    ajvOptions: { coerceTypes: false },
    https: tlsServerOptions(deps.identity, deps.info.gatewayId),
  });
  // Every packet of the format is this size (Sphinx: one size; onion: at least one layer, at most the limit).
  const bounds = packetFormat(deps.info.packetFormat as PacketFormatName).packetBytes;
  const packetBytes = { min: bounds.min, max: Math.min(bounds.max, deps.maxPacketBytes) };
  const sizeRefusal = (bytes: number): string | undefined => {
    if (bytes >= packetBytes.min && bytes <= packetBytes.max) return undefined;
    return packetBytes.min === packetBytes.max
      ? `packet of ${bytes} bytes is not a ${deps.info.packetFormat} packet (${packetBytes.min} bytes)`
      : `packet of ${bytes} bytes is outside ${packetBytes.min}..${packetBytes.max} bytes for ${deps.info.packetFormat}`;
  };
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const updateMailboxGauge = () => metrics.mailboxMessages.set(mailboxes.size);
  // Over HTTP and WebSocket alike: remove the messages, record opted-in latencies.
  const acknowledge = async (address: string, ack: Omit<AckFrame, 'type'>): Promise<number> => {
    const removed = await mailboxes.acknowledge(address, ack.ids);
    metrics.messagesAcknowledged.inc(removed.length);
    // A latency counts once, with the message it belongs to: repeated acks add nothing.
    if (ack.latencies && removed.length > 0) {
      const wasRemoved = new Set(removed);
      ack.latencies.forEach((seconds, index) => {
        if (wasRemoved.has(ack.ids[index] as string)) metrics.endToEndLatency.observe(seconds);
      });
    }
    updateMailboxGauge();
    return removed.length;
  };

  app.get('/v1/gateway', async () => deps.info);

  // The caller's connection as this gateway (and a tap on the link) sees it: its address and port.
  app.get('/v1/connection', async (request) => ({ peer: peerOf(request.socket) }));

  app.get('/v1/topology', async (request, reply) => {
    try {
      return await deps.topology.signed();
    } catch (error) {
      request.log.warn({ reason: String(error) }, 'directory unreachable');
      return sendError(reply, 'directory_unreachable', 'the directory is unreachable; try again shortly');
    }
  });

  // Clients submit wrapped packets; the gateway passes each to the layer-1 node it names.
  const forwarder = new Forwarder({
    resolve: layerOneFirstHops(deps.topology),
    send: deps.send,
    count: (outcome, _kind, packets) => metrics.packetsSubmitted.inc({ outcome: SUBMIT_OUTCOMES[outcome] }, packets),
    logger: app.log,
    hopNames: { node: 'layer-1 first hop', destination: 'gateway' },
  });
  const submitSchema = {
    type: 'object',
    required: ['packets'],
    additionalProperties: false,
    properties: {
      packets: {
        type: 'array',
        minItems: 1,
        maxItems: deps.maxPacketsPerRequest,
        items: {
          type: 'object',
          required: ['firstHop', 'packet'],
          additionalProperties: false,
          properties: {
            firstHop: { type: 'string', pattern: NODE_ID_PATTERN },
            packet: { type: 'string', minLength: 4, maxLength: base64Length, pattern: BASE64_PATTERN },
          },
        },
      },
    },
  } as const;
  // Backpressure before any work: the bounds on submissions in flight (all, and the client's
  // share), then the client's rate limit, so that only admitted packets spend its tokens.
  const maxInFlight = deps.maxSubmitsInFlight ?? Number.POSITIVE_INFINITY;
  const maxInFlightPerClient = deps.maxSubmitsInFlightPerClient ?? Number.POSITIVE_INFINITY;
  let inFlight = 0;
  /** Submissions in flight per client key, only while it has some. */
  const inFlightOf = new Map<string, number>();
  app.post<{ Body: SubmitRequest }>('/v1/packets', { schema: { body: submitSchema } }, async (request, reply) => {
    // What a tap on the client's link saw arrive: its connection, the body's size, the packets in it.
    deps.tap?.received(
      peerOf(request.socket),
      Number(request.headers['content-length'] ?? 0),
      request.body.packets.length,
    );
    const packets = request.body.packets.length;
    const client = deps.rateLimit && clientKey(deps.rateLimit.key, request.ip, request.headers['x-forwarded-for']);
    const clientInFlight = client === undefined ? 0 : (inFlightOf.get(client) ?? 0);
    if (inFlight >= maxInFlight || clientInFlight >= maxInFlightPerClient) {
      metrics.packetsSubmitted.inc({ outcome: 'overloaded' }, packets);
      const message =
        inFlight >= maxInFlight
          ? `the gateway is forwarding ${inFlight} submissions already`
          : `the gateway is forwarding ${clientInFlight} submissions of this client already`;
      return sendRetryLater(reply, 'overloaded', message, OVERLOADED_RETRY_AFTER_SECONDS);
    }
    if (deps.rateLimit && client !== undefined) {
      const wait = deps.rateLimit.buckets.take(client, packets);
      if (wait > 0) {
        metrics.packetsSubmitted.inc({ outcome: 'rate_limited' }, packets);
        return sendRetryLater(reply, 'rate_limited', 'this client submits packets faster than its limit', wait);
      }
    }
    inFlight++;
    if (client !== undefined) inFlightOf.set(client, clientInFlight + 1);
    try {
      return await submit(request.body, request.log, reply);
    } finally {
      inFlight--;
      if (client !== undefined) {
        const left = (inFlightOf.get(client) ?? 1) - 1;
        if (left > 0) inFlightOf.set(client, left);
        else inFlightOf.delete(client);
      }
    }
  });

  async function submit(body: SubmitRequest, log: FastifyBaseLogger, reply: FastifyReply): Promise<FastifyReply> {
    try {
      await deps.topology.current();
    } catch (error) {
      log.warn({ reason: String(error) }, 'directory unreachable');
      return sendError(reply, 'directory_unreachable', FIRST_HOPS_UNCHECKED);
    }
    const rejected: { index: number; reason: string }[] = [];
    const outgoing: Outgoing[] = [];
    /** The submitted index of each outgoing packet. */
    const submitted: number[] = [];
    for (const [index, { firstHop, packet }] of body.packets.entries()) {
      const bytes = Buffer.from(packet, 'base64');
      const refusal = sizeRefusal(bytes.length);
      if (refusal) {
        metrics.packetsSubmitted.inc({ outcome: 'wrong_size' });
        log.warn({ index, bytes: bytes.length }, 'submitted packet refused for its size');
        rejected.push({ index, reason: refusal });
        continue;
      }
      outgoing.push({ kind: 'node', hop: firstHop, frame: bytes });
      submitted.push(index);
    }
    const { outcomes } = await forwarder.forward(outgoing, log);
    metrics.stage.observe({ stage: 'gateway_submit' }, reply.elapsedTime / 1000);
    let unreachable = false;
    let upstreamFailed = false;
    let queueFull = false;
    outcomes.forEach((outcome, i) => {
      if (outcome === 'sent') return;
      unreachable ||= outcome === 'unreachable';
      upstreamFailed ||= outcome === 'failed';
      queueFull ||= outcome === 'queue_full';
      const { hop } = outgoing[i] as Outgoing;
      rejected.push({ index: submitted[i] as number, reason: SUBMIT_REJECTIONS[outcome](hop) });
    });
    const response: SubmitResponse = {
      accepted: body.packets.length - rejected.length,
      rejected: rejected.sort((a, b) => a.index - b.index),
    };
    // 202 when anything went on; else 503 if the directory failed us or layer 1's queue is
    // full (a retry may pass), 502 if layer 1 failed, 400 if every packet was refused here.
    if (response.accepted > 0) return reply.code(202).send(response);
    if (unreachable) return sendError(reply, 'directory_unreachable', FIRST_HOPS_UNCHECKED, { ...response });
    if (queueFull) {
      const message = 'layer 1 has too many packets waiting; retry later';
      return sendRetryLater(reply, 'overloaded', message, OVERLOADED_RETRY_AFTER_SECONDS, { ...response });
    }
    return upstreamFailed
      ? sendError(reply, 'upstream_failed', 'no layer-1 node took the packets; retry shortly', { ...response })
      : sendError(reply, 'packets_rejected', 'every packet was refused: see rejected', { ...response });
  }

  // Proof of possession in one round trip: the token comes sealed to the address.
  app.post<{ Body: { address: string } }>(
    '/v1/sessions',
    {
      schema: {
        body: {
          type: 'object',
          required: ['address'],
          additionalProperties: false,
          properties: addressParams.properties,
        },
      },
    },
    async (request, reply) => {
      const { sealedToken, expiresAt, evicted } = deps.sessions.open(request.body.address);
      metrics.sessions.inc({ outcome: 'opened' });
      if (evicted) metrics.sessions.inc({ outcome: 'evicted' });
      metrics.openSessions.set(deps.sessions.size);
      return reply.code(201).send({ sealedToken: Buffer.from(sealedToken).toString('base64'), expiresAt });
    },
  );

  /** Lets a request on with a live session for `address` (any, when undefined); else answers 401/403, counted and logged. */
  const authorized = (request: FastifyRequest, reply: FastifyReply, address?: string): boolean => {
    const verdict = deps.sessions.check(request.headers.authorization, address);
    if ('address' in verdict) return true;
    metrics.sessions.inc({ outcome: verdict.refused });
    request.log.warn({ route: request.routeOptions.url, refused: verdict.refused }, 'request refused for its session');
    // A refused WebSocket upgrade leaves its connection unusable for HTTP (@fastify/websocket reads
    // nothing more on it): close it, so that a client reusing pooled connections gets no hang-up.
    if (request.headers.upgrade !== undefined) reply.header('connection', 'close');
    sendError(reply, verdict.refused, SESSION_REFUSALS[verdict.refused]);
    return false;
  };
  // Before the handler, and for the WebSocket before the upgrade: a refused socket never opens.
  const mailboxSession = {
    preHandler: async (request: FastifyRequest<{ Params: { address: string } }>, reply: FastifyReply) => {
      if (!authorized(request, reply, request.params.address)) return reply;
    },
  };

  app.get<{ Params: { address: string } }>(
    '/v1/mailboxes/:address',
    { schema: { params: addressParams }, ...mailboxSession },
    async (request) => ({ messages: mailboxes.pending(request.params.address).map(toWire) }),
  );

  app.post<{ Params: { address: string }; Body: Omit<AckFrame, 'type'> }>(
    '/v1/mailboxes/:address/acks',
    { schema: { params: addressParams, body: acknowledgementSchema }, ...mailboxSession },
    async (request, reply) => {
      const { ids, latencies } = request.body;
      if (latencies && latencies.length !== ids.length) {
        return sendError(reply, 'invalid_request', 'latencies must have one entry per id, in the same order');
      }
      return { acknowledged: await acknowledge(request.params.address, request.body) };
    },
  );

  // Push: every pending message on connect, then each new one; the client acks with {type:'ack', ids}.
  app.get<{ Params: { address: string } }>(
    '/v1/mailboxes/:address/ws',
    { websocket: true, schema: { params: addressParams }, ...mailboxSession },
    (socket, request) => {
      const { address } = request.params;
      const send = (frame: ServerFrame) => socket.send(JSON.stringify(frame));
      const sent = new Set<string>();
      const peer = peerOf(request.socket);
      const push = (message: StoredMessage) => {
        if (sent.has(message.id)) return;
        sent.add(message.id);
        const started = performance.now();
        const frame = JSON.stringify({ type: 'message', message: toWire(message) } satisfies ServerFrame);
        deps.tap?.sent(peer, Buffer.byteLength(frame), 1);
        socket.send(frame, (error?: Error) => {
          if (!error) metrics.stage.observe({ stage: 'mailbox_push' }, (performance.now() - started) / 1000);
        });
        metrics.messagesPushed.inc();
      };
      socket.on('message', (data: Buffer) => {
        let frame: AckFrame;
        try {
          frame = JSON.parse(data.toString('utf8')) as AckFrame;
        } catch {
          send({ type: 'error', reason: 'frames must be JSON: {"type":"ack","ids":[...]}' });
          return;
        }
        if (!isAckFrame(frame)) {
          send({ type: 'error', reason: ACK_FRAME_HELP });
          return;
        }
        // Committed with the other acknowledgements of this turn; nothing answers an ack frame.
        acknowledge(address, frame).catch((error: unknown) =>
          request.log.error({ err: error, ids: frame.ids.length }, 'acknowledgement could not be committed'),
        );
        for (const id of frame.ids) sent.delete(id);
      });
      const unsubscribe = mailboxes.subscribe(address, push);
      metrics.connectedClients.inc();
      socket.on('close', () => {
        unsubscribe();
        metrics.connectedClients.dec();
      });
      for (const message of mailboxes.pending(address)) push(message);
    },
  );

  const counts = (names: readonly string[]) => ({
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(names.map((name) => [name, { type: 'integer', minimum: 0, maximum: 100_000 }])),
  });
  app.post<{ Body: ClientReport }>(
    '/v1/reports',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            deliveries: counts(REPORTED_DELIVERY_EVENTS),
            originated: counts(REPORTED_ORIGINATED_TYPES),
            loops: counts(REPORTED_LOOP_EVENTS),
          },
        },
      },
    },
    async (request, reply) => {
      if (!authorized(request, reply)) return reply;
      const { deliveries = {}, originated = {}, loops = {} } = request.body;
      for (const event of REPORTED_DELIVERY_EVENTS) metrics.clientDeliveries.inc({ event }, deliveries[event] ?? 0);
      for (const type of REPORTED_ORIGINATED_TYPES) {
        const kind = type === 'message' ? 'real' : 'cover';
        deps.loops.originated.inc({ kind, type }, originated[type] ?? 0);
      }
      for (const event of REPORTED_LOOP_EVENTS) deps.loops.loops.inc({ origin: 'client', event }, loops[event] ?? 0);
      return reply.code(204).send();
    },
  );

  // For users: /health only. Metrics and deliveries are on the delivery listener (delivery-server.ts).
  registerHealthRoute(app, deps.isReady);
  return app;
}
