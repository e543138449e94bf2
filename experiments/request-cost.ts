/**
 * What one request of one packet costs between two services, measured in the same run as the
 * public-key bound: a service app (createServiceApp, octet-stream body, the answer mix nodes
 * give) and a keep-alive undici Agent in this one process, so the CPU time per request counts
 * both sides of the link (parsing, routing, writing, reading), without the link box, the tap or
 * the packet work. A message crosses five such links at one packet per request (client to
 * gateway, gateway to layer 1, layer 1 to 2, 2 to 3, exit to gateway), the client's over TLS.
 */
import { sphinx } from '@mixlab/packet';
import { acceptOctetStream, createServiceApp } from '@mixlab/service-kit';
import { Agent } from 'undici';

/** Links a message crosses in the cascade, each a request of its own when nothing coalesces. */
export const LINKS_PER_MESSAGE = 5;

/**
 * CPU µs (both sides) per request of one Sphinx packet: the median of three rounds of `ms`, after
 * a round of warm-up (the first second runs about twice as slow, until both ends are compiled).
 */
export async function measureRequestMicros(ms = 1000): Promise<number> {
  const app = createServiceApp(false);
  acceptOctetStream(app, 1 << 20);
  app.post('/v1/packets', async (_request, reply) => reply.code(202).send({ received: 1 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const agent = new Agent({ connections: 1 });
  const body = new Uint8Array(sphinx.geometry.packetBytes);
  const post = async () => {
    const response = await agent.request({
      origin: `http://127.0.0.1:${port}`,
      path: '/v1/packets',
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    await response.body.text();
  };
  const round = async () => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    let requests = 0;
    while (performance.now() - start < ms) {
      await post();
      requests++;
    }
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / requests;
  };
  try {
    await round();
    const rounds = [await round(), await round(), await round()].sort((a, b) => a - b);
    return rounds[1] as number;
  } finally {
    await agent.close();
    await app.close();
  }
}
