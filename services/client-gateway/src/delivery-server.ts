/**
 * The gateway's delivery listener: a second, plain-HTTP port (DELIVERY_PORT, not published by
 * compose) where exit nodes hand over messages, each request a link box from a node of the exit
 * layer (link-box.ts), and where Prometheus and Docker read /metrics, /health and /ready. The
 * client port has none of these: nobody outside the compose network reaches them.
 */
import { toHex } from '@mixlab/crypto';
import type { GatewayMetrics } from '@mixlab/metrics';
import { decodeDelivery, decodeFrames } from '@mixlab/packet';
import {
  acceptOctetStream,
  createServiceApp,
  gatewayDeliverySenders,
  LINK_BOX_MAX_OVERHEAD_BYTES,
  type LinkReceiver,
  openLinkRequest,
  registerHealthRoute,
  registerOperationalRoutes,
  sendError,
} from '@mixlab/service-kit';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { Mailboxes, StoreResult } from './mailboxes.ts';

export interface DeliveryServerDeps {
  readonly mailboxes: Mailboxes;
  readonly registry: Registry;
  readonly metrics: GatewayMetrics;
  readonly maxPacketBytes: number;
  readonly maxPacketsPerRequest: number;
  /** Opens each request's link box and checks its sender is an exit node; absent, plain frames (route unit tests). */
  readonly link?: LinkReceiver;
  /** Ready once registered in the directory, so exit nodes can find it. */
  readonly isReady?: () => boolean;
  readonly logger?: FastifyServerOptions['logger'];
}

export function buildDeliveryServer(deps: DeliveryServerDeps): FastifyInstance {
  const { mailboxes, metrics } = deps;
  const app = createServiceApp(deps.logger);
  // Frames of recipient (32) | payload, inside a link box (its header, ids, nonce and tag).
  acceptOctetStream(app, deps.maxPacketsPerRequest * (deps.maxPacketBytes + 36) + LINK_BOX_MAX_OVERHEAD_BYTES);

  // Exit nodes hand over messages: frames of recipient (32) | sealed payload.
  app.post<{ Body: Buffer }>('/v1/deliveries', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      return sendError(reply, 'unsupported_media_type', 'send deliveries as application/octet-stream frames');
    }
    const body = await openLinkRequest(deps.link, gatewayDeliverySenders, request.body, reply);
    if (!body) return reply;
    let frames: Uint8Array[];
    try {
      frames = decodeFrames(body, deps.maxPacketsPerRequest);
    } catch (error) {
      metrics.messagesDelivered.inc({ outcome: 'rejected' });
      request.log.warn({ reason: (error as Error).message }, 'delivery body dropped');
      return sendError(reply, 'invalid_request', `body is not a sequence of frames: ${(error as Error).message}`);
    }
    const refused: { index: number; reason: string }[] = [];
    const refuse = (index: number, reason: string, outcome: 'rejected' | 'mailbox_full') => {
      metrics.messagesDelivered.inc({ outcome });
      request.log.warn({ index, reason }, 'delivery refused');
      refused.push({ index, reason });
    };
    const messages: { index: number; address: string; payload: Uint8Array }[] = [];
    frames.forEach((frame, index) => {
      try {
        const { recipient, payload } = decodeDelivery(frame);
        messages.push({ index, address: toHex(recipient), payload });
      } catch (error) {
        refuse(index, (error as Error).message, 'rejected');
      }
    });
    // The exit hears "stored" only once the commit holding them (with other requests of this turn) is on disk.
    let results: StoreResult[];
    try {
      results = await mailboxes.storeAll(messages);
    } catch (error) {
      request.log.error({ err: error, messages: messages.length }, 'deliveries could not be stored');
      return sendError(
        reply,
        'storage_failed',
        'the messages could not be stored (none of this request was kept); retry',
      );
    }
    let stored = 0;
    results.forEach((result, i) => {
      if ('stored' in result) stored++;
      else refuse((messages[i] as { index: number }).index, result.refused, 'mailbox_full');
    });
    // One label look-up per request, not per message.
    if (stored > 0) metrics.messagesDelivered.inc({ outcome: 'stored' }, stored);
    refused.sort((a, b) => a.index - b.index);
    metrics.mailboxMessages.set(mailboxes.size);
    metrics.stage.observe({ stage: 'gateway_delivery' }, reply.elapsedTime / 1000);
    return reply.code(202).send({ stored: frames.length - refused.length, refused });
  });

  registerOperationalRoutes(app, deps.registry, deps.isReady);
  registerHealthRoute(app, deps.isReady, '/ready');
  return app;
}
