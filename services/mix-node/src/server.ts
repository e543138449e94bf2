import { REQUEST_REJECTION_REASONS, type RequestRejectionReason } from '@mixlab/metrics';
import { StrategyStoppedError } from '@mixlab/mixing';
import { type Delivery, decodeDelivery, decodeFrames } from '@mixlab/packet';
import {
  acceptOctetStream,
  createServiceApp,
  LINK_BOX_MAX_OVERHEAD_BYTES,
  type LinkReceiver,
  nodeDeliverySenders,
  openLinkRequest,
  packetSenders,
  registerOperationalRoutes,
  sendError,
} from '@mixlab/service-kit';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Counter, Registry } from 'prom-client';
import type { MixNode } from './mix-node.ts';

export interface MixNodeServerDeps {
  readonly node: MixNode;
  readonly registry: Registry;
  /** Requests refused whole, by reason (mixNodeMetrics' requestsRejected). */
  readonly requestsRejected: Counter<'reason'>;
  readonly maxPacketsPerRequest: number;
  readonly maxPacketBytes: number;
  readonly isReady: () => boolean;
  /** A delivery from an exit node to this node (its loop cover coming home); false when it is not one. */
  readonly acceptDelivery: (delivery: Delivery) => boolean;
  /**
   * Opens the link box of every request and checks its sender against the topology (this
   * node's layer decides who may send); absent, bodies are plain frames (route unit tests).
   */
  readonly link?: { readonly receiver: LinkReceiver; readonly layer: number };
  readonly logger?: FastifyServerOptions['logger'];
}

export function buildServer(deps: MixNodeServerDeps): FastifyInstance {
  const countRefused = (reason: RequestRejectionReason) => deps.requestsRejected.inc({ reason });
  // 413 and 415 are raised by fastify before a handler runs: counted through the app's error handler.
  const app = createServiceApp(deps.logger, {
    onRefused: (code) => {
      if ((REQUEST_REJECTION_REASONS as readonly string[]).includes(code)) countRefused(code as RequestRejectionReason);
    },
  });
  // Room for the link box around the frames: its header, ids, nonce and tag.
  const bodyLimit = deps.maxPacketsPerRequest * (deps.maxPacketBytes + 4) + LINK_BOX_MAX_OVERHEAD_BYTES;
  acceptOctetStream(app, bodyLimit);
  const { link } = deps;
  const packetRoute = (layers: number) => packetSenders(link?.layer ?? 1, layers);
  const deliveryRoute = (layers: number) => nodeDeliverySenders(link?.layer ?? 1, layers);

  // Body: frames (u32 length + packet), one or more packets per request.
  app.post<{ Body: Buffer }>('/v1/packets', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      countRefused('unsupported_media_type');
      return sendError(reply, 'unsupported_media_type', 'send packets as application/octet-stream frames');
    }
    const frames = await openLinkRequest(link?.receiver, packetRoute, request.body, reply);
    if (!frames) return reply;
    let packets: Uint8Array[];
    try {
      packets = decodeFrames(frames, deps.maxPacketsPerRequest);
    } catch (error) {
      const reason = `body is not a sequence of frames: ${(error as Error).message}`;
      countRefused('invalid_request');
      deps.node.countMalformedRequest(reason);
      return sendError(reply, 'invalid_request', reason);
    }
    try {
      // Receipt only: which packets were dropped and why stays in the node's log and metrics.
      await deps.node.receive(packets);
      return reply.code(202).send({ received: packets.length });
    } catch (error) {
      // Shutdown began (the strategy is stopped): new work goes to another node, not into a 500.
      if (error instanceof StrategyStoppedError) {
        return sendError(reply, 'shutting_down', 'this node is shutting down; send to another node of its layer');
      }
      throw error;
    }
  });

  // Exit nodes deliver this node's loop cover here, as they deliver messages to a gateway.
  app.post<{ Body: Buffer }>('/v1/deliveries', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      countRefused('unsupported_media_type');
      return sendError(reply, 'unsupported_media_type', 'send deliveries as application/octet-stream frames');
    }
    const frames = await openLinkRequest(link?.receiver, deliveryRoute, request.body, reply);
    if (!frames) return reply;
    let refused = 0;
    try {
      for (const frame of decodeFrames(frames, deps.maxPacketsPerRequest)) {
        if (!deps.acceptDelivery(decodeDelivery(frame))) refused++;
      }
    } catch (error) {
      countRefused('invalid_request');
      return sendError(reply, 'invalid_request', `body is not a sequence of deliveries: ${(error as Error).message}`);
    }
    if (refused > 0) request.log.warn({ refused }, "deliveries that are not this node's loops were dropped");
    return reply.code(202).send({ refused });
  });

  registerOperationalRoutes(app, deps.registry, deps.isReady);
  return app;
}
