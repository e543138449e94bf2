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

  /**
   * Sends `[1]` with `sender` and holds its answer while `queue` sends more (which wait behind
   * it); then answers everything and returns what `queue` returned.
   */
  async function behindAHeldRequest<T>(sender: FrameSender, queue: (url: string) => T): Promise<T> {
    requests.length = 0;
    let release = () => {};
    hold = new Promise((resolve) => {
      release = resolve;
    });
    const url = `${base}/v1/packets`;
    const first = sender.send(url, [frame(1)]);
    while (requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const queued = queue(url);
    hold = undefined;
    release();
    await first;
    return queued;
  }

  it('coalesces sends that wait behind coalesceAt requests in flight into one request, in order, up to the frame cap', async () => {
    const sender = new FrameSender({
      connections: 4,
      attempts: 1,
      timeoutMs: 5_000,
      coalesceAt: 1,
      maxFramesPerRequest: 3,
    });
    const waiting = await behindAHeldRequest(sender, (url) => [
      sender.send(url, [frame(2)]),
      sender.send(url, [frame(3), frame(4)]),
      sender.send(url, [frame(5)]),
    ]);
    await Promise.all(waiting);
    assert.deepEqual(requests, [[1], [2, 3, 4], [5]]);
    await sender.close();
  });

  it('rejects every send that shared a request the receiver refused', async () => {
    const sender = new FrameSender({ connections: 4, attempts: 1, timeoutMs: 5_000, coalesceAt: 1 });
    const outcomes = await behindAHeldRequest(sender, (url) =>
      [sender.send(url, [frame(99)]), sender.send(url, [frame(2)])].map((sent) =>
        sent.then(
          () => 'sent',
          (error: Error) => error.message,
        ),
      ),
    );
    const [bad, neighbour] = await Promise.all(outcomes);
    assert.match(bad ?? '', /answered 400/);
    assert.match(neighbour ?? '', /answered 400/);
    assert.deepEqual(requests, [[1], [99, 2]]);
    await sender.close();
  });

  it('with coalesceTurn, the first send of a turn leaves at once and the rest of the turn in one request', async () => {
    requests.length = 0;
    const sender = new FrameSender({
      connections: 4,
      attempts: 1,
      timeoutMs: 5_000,
      coalesceAt: 2,
      coalesceTurn: true,
    });
    const url = `${base}/v1/packets`;
    const first = sender.send(url, [frame(1)]);
    while (requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(requests, [[1]], 'the first of the turn did not wait for the turn to end');
    await first;
    requests.length = 0;
    // Nothing in flight: without coalesceTurn these would be [2], [3, 4] and (behind two) [5].
    const sameTurn = [
      sender.send(url, [frame(2)]),
      sender.send(url, [frame(3), frame(4)]),
      sender.send(url, [frame(5)]),
    ];
    await Promise.all(sameTurn);
    // Two requests on two connections: either may arrive first.
    assert.deepEqual(
      requests.sort((a, b) => (a[0] as number) - (b[0] as number)),
      [[2], [3, 4, 5]],
    );
    await sender.close();
  });

  it('without coalesceTurn, an idle target gets each send of a turn at once, in a request of its own', async () => {
    requests.length = 0;
    const sender = new FrameSender({ connections: 4, attempts: 1, timeoutMs: 5_000, coalesceAt: 2 });
    const url = `${base}/v1/packets`;
    await Promise.all([sender.send(url, [frame(1)]), sender.send(url, [frame(2)])]);
    assert.deepEqual(requests.sort(), [[1], [2]]);
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
