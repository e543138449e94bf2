import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeFrames } from '@mixlab/packet';
import Fastify, { type FastifyInstance } from 'fastify';
import { FrameSender } from './frame-sender.ts';
import { acceptOctetStream } from './http.ts';

const frame = (value: number) => new Uint8Array([value]);

describe('FrameSender', () => {
  let app: FastifyInstance;
  let base: string;
  /** Each request's frames (first byte of each), in arrival order. */
  const requests: number[][] = [];
  /** While set, requests wait for it before they are answered. */
  let hold: Promise<void> | undefined;

  before(async () => {
    app = Fastify();
    acceptOctetStream(app, 1 << 20);
    app.post<{ Body: Buffer }>('/v1/packets', async (request, reply) => {
      const frames = decodeFrames(request.body, 100).map((f) => f[0] as number);
      requests.push(frames);
      await hold;
      return reply.code(frames.includes(99) ? 400 : 202).send({});
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  it('coalesces sends that wait behind coalesceAt requests in flight into one request, in order, up to the frame cap', async () => {
    requests.length = 0;
    const sender = new FrameSender({
      connections: 4,
      attempts: 1,
      timeoutMs: 5_000,
      coalesceAt: 1,
      maxFramesPerRequest: 3,
    });
    let release = () => {};
    hold = new Promise((resolve) => {
      release = resolve;
    });
    const url = `${base}/v1/packets`;
    const first = sender.send(url, [frame(1)]);
    while (requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const waiting = [
      sender.send(url, [frame(2)]),
      sender.send(url, [frame(3), frame(4)]),
      sender.send(url, [frame(5)]),
    ];
    hold = undefined;
    release();
    await Promise.all([first, ...waiting]);
    assert.deepEqual(requests, [[1], [2, 3, 4], [5]]);
    await sender.close();
  });

  it('rejects every send that shared a request the receiver refused', async () => {
    requests.length = 0;
    const sender = new FrameSender({ connections: 4, attempts: 1, timeoutMs: 5_000, coalesceAt: 1 });
    let release = () => {};
    hold = new Promise((resolve) => {
      release = resolve;
    });
    const url = `${base}/v1/packets`;
    const first = sender.send(url, [frame(1)]);
    while (requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const bad = sender.send(url, [frame(99)]);
    const neighbour = sender.send(url, [frame(2)]);
    hold = undefined;
    release();
    await first;
    await assert.rejects(bad, /answered 400/);
    await assert.rejects(neighbour, /answered 400/);
    assert.deepEqual(requests, [[1], [99, 2]]);
    await sender.close();
  });

  it('sends each call alone when coalescing is off', async () => {
    requests.length = 0;
    const sender = new FrameSender({ connections: 1, attempts: 1, timeoutMs: 5_000 });
    await Promise.all([sender.send(`${base}/v1/packets`, [frame(1)]), sender.send(`${base}/v1/packets`, [frame(2)])]);
    assert.deepEqual(requests.sort(), [[1], [2]]);
    await sender.close();
  });
});
