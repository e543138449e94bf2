/**
 * What one request of one packet costs between two services, measured in the same run as the
 * public-key bound: a service app (createServiceApp, octet-stream body, the answer mix nodes
 * give) and a keep-alive undici Agent in this one process, so the CPU time per request counts
 * both sides of the link (parsing, routing, writing, reading), without the link box, the tap or
 * the packet work. A message crosses five such links at one packet per request (client to
 * gateway, gateway to layer 1, layer 1 to 2, 2 to 3, exit to gateway), the client's over TLS.
 */
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { sphinx } from '@mixlab/packet';
import { acceptOctetStream, createServiceApp, exchange, OCTET_STREAM } from '@mixlab/service-kit';
import { Agent } from 'undici';

/** Links a message crosses in the cascade, each a request of its own when nothing coalesces. */
export const LINKS_PER_MESSAGE = 5;

/** The median of three rounds, after one of warm-up: the first second runs about twice as slow, until both ends are compiled. */
async function warmMedian(round: () => Promise<number>): Promise<number> {
  await round();
  const rounds = [await round(), await round(), await round()].sort((a, b) => a - b);
  return rounds[1] as number;
}

/** CPU µs (both sides) per request of one Sphinx packet: the median of three rounds of `ms`, after one of warm-up. */
export async function measureRequestMicros(ms = 1000): Promise<number> {
  const app = createServiceApp(false);
  acceptOctetStream(app, 1 << 20);
  app.post('/v1/packets', async (_request, reply) => reply.code(202).send({ received: 1 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const agent = new Agent({ connections: 1 });
  const body = new Uint8Array(sphinx.geometry.packetBytes);
  // As FrameSender and the client send: dispatched straight on the agent.
  const post = () =>
    exchange(agent, {
      origin: `http://127.0.0.1:${port}`,
      path: '/v1/packets',
      method: 'POST',
      headers: { 'content-type': OCTET_STREAM },
      body,
    });
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
    return await warmMedian(round);
  } finally {
    await agent.close();
    await app.close();
  }
}

/** Bytes each way of a bare round trip: about a small answer's size (an HTTP verdict, a WebSocket acknowledgement). */
export const ROUND_TRIP_BYTES = 200;

/**
 * CPU µs (both ends, the kernel's TCP work included: on loopback it runs in this process) of one
 * bare round trip of ROUND_TRIP_BYTES each way over TCP, with no HTTP, TLS or framing: what any
 * transport pays per exchange on a connection of its own, which no batching shares (a client's
 * submission and its answer, a delivery and its acknowledgement). Both ends share this process's
 * event loop, so it is a floor: between two processes each message also wakes the other one (on
 * the 2-core VM of the bench, about 75 µs a round trip with one connection, 28 µs with 32 busy
 * ones). The median of three rounds of `ms`, `connections` echoing at once.
 */
export async function measureRoundTripMicros(ms = 1000, connections = 32): Promise<number> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => socket.write(data));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, '127.0.0.1', () => resolve(socket)).setNoDelay(true);
          socket.once('error', reject);
        }),
    ),
  );
  const message = Buffer.alloc(ROUND_TRIP_BYTES, 1);
  const round = async () => {
    const cpu = process.cpuUsage();
    const until = performance.now() + ms;
    let trips = 0;
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((done) => {
            let received = 0;
            const onData = (data: Buffer) => {
              received += data.length;
              while (received >= ROUND_TRIP_BYTES) {
                received -= ROUND_TRIP_BYTES;
                trips++;
                if (performance.now() >= until) {
                  socket.off('data', onData);
                  return done();
                }
                socket.write(message);
              }
            };
            socket.on('data', onData);
            socket.write(message);
          }),
      ),
    );
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / trips;
  };
  try {
    return await warmMedian(round);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}
