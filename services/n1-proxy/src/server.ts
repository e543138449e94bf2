/**
 * The n − 1 proxy's HTTP face: the mix node's packet and delivery routes (what the node's
 * senders reach when the directory lists this proxy as the node's URL), and the attacker's
 * controls under /attack. Anything else (/health probes of the node) is the proxy's own.
 * Requests are link boxes it cannot open: it reads their size, never their content.
 */
import { acceptOctetStream, createServiceApp, registerOperationalRoutes, sendError } from '@mixlab/service-kit';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { N1Attack } from './n1-attack.ts';

export interface N1ProxyServerDeps {
  readonly attack: N1Attack;
  readonly registry: Registry;
  /** The attacker's own recipient key (hex): its packets end in that mailbox, which is how it tells them apart. */
  readonly ownRecipient: string;
  readonly maxRequestBytes: number;
  /** How many packets a request of this many bytes holds, from its size alone (sphinxPacketsIn). */
  readonly packetsIn: (bodyBytes: number) => number;
  readonly logger?: FastifyServerOptions['logger'];
}

/**
 * The packets in a request to a node, from its size: Sphinx packets are all `packetBytes`, each
 * framed by 4 bytes, and a link box adds less than one framed packet (ids, nonce, tag, time).
 */
export function sphinxPacketsIn(bodyBytes: number, packetBytes: number): number {
  return Math.floor(bodyBytes / (packetBytes + 4));
}

export function buildServer(deps: N1ProxyServerDeps): FastifyInstance {
  const app = createServiceApp(deps.logger);
  acceptOctetStream(app, deps.maxRequestBytes);

  for (const path of ['/v1/packets', '/v1/deliveries']) {
    app.post<{ Body: Buffer }>(path, async (request, reply) => {
      if (!Buffer.isBuffer(request.body)) {
        return sendError(reply, 'unsupported_media_type', 'send frames as application/octet-stream');
      }
      const packets = deps.packetsIn(request.body.length);
      // Held requests are acknowledged as the node would: the sender must not notice.
      await deps.attack.request(path, request.body, packets);
      return reply.code(202).send({ received: packets });
    });
  }

  const status = () => ({ ...deps.attack.status, ownRecipient: deps.ownRecipient });
  // No body: the threshold flush. { perRound, roundMs }: the round-based attack (pool, binomial, timed).
  app.post('/attack/start', async (request, reply) => {
    const body = request.body as { perRound?: unknown; roundMs?: unknown } | undefined;
    const plan =
      body && typeof body === 'object' && !Buffer.isBuffer(body)
        ? { perRound: Number(body.perRound), roundMs: Number(body.roundMs) }
        : undefined;
    try {
      await deps.attack.start(plan);
    } catch (error) {
      return sendError(reply, 'invalid_request', (error as Error).message);
    }
    return status();
  });
  app.post('/attack/target', async (_request, reply) => {
    try {
      deps.attack.target();
    } catch (error) {
      return sendError(reply, 'invalid_request', (error as Error).message);
    }
    return status();
  });
  app.post('/attack/stop', async () => {
    await deps.attack.stop();
    return status();
  });
  app.get('/attack', async () => status());

  registerOperationalRoutes(app, deps.registry);
  return app;
}
