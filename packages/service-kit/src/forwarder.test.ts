import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeFrames } from '@mixlab/packet';
import Fastify from 'fastify';
import {
  Forwarder,
  type ForwarderDeps,
  type ForwardOutcome,
  HOP_UNKNOWN,
  type HopKind,
  hopFound,
  type Outgoing,
  QueueFullError,
  type ResolveHop,
} from './forwarder.ts';
import { FrameSender } from './frame-sender.ts';
import { acceptOctetStream } from './http.ts';

const frame = (byte: number) => new Uint8Array([byte, byte, byte]);
const packet = (hop: string, byte: number): Outgoing => ({ kind: 'node', hop, frame: frame(byte) });
const delivery = (hop: string, byte: number): Outgoing => ({ kind: 'destination', hop, frame: frame(byte) });

/** Base URLs the directory knows, by kind. */
const DIRECTORY: Record<HopKind, Record<string, string>> = {
  node: { 'mix-2': 'http://mix-2:8080', 'mix-3': 'http://mix-3:8080', 'mix-1': 'http://mix-1:8080' },
  destination: { gw: 'http://gw:8080', 'mix-1': 'http://mix-1:8080' },
};
const fromDirectory: ResolveHop = async (kind, id) => {
  const url = DIRECTORY[kind][id];
  return url === undefined ? HOP_UNKNOWN : hopFound(url);
};

interface Harness {
  readonly forwarder: Forwarder;
  readonly sends: { url: string; bytes: number[] }[];
  readonly lookUps: string[];
  readonly counted: { outcome: ForwardOutcome; kind: HopKind; items: number }[];
  readonly warnings: { details: object; message: string }[];
}

function harness(options: { resolve?: ResolveHop; failSendTo?: string } = {}): Harness {
  const sends: Harness['sends'] = [];
  const lookUps: string[] = [];
  const counted: Harness['counted'] = [];
  const warnings: Harness['warnings'] = [];
  const resolve = options.resolve ?? fromDirectory;
  const deps: ForwarderDeps = {
    resolve: (kind, id) => {
      lookUps.push(`${kind} ${id}`);
      return resolve(kind, id);
    },
    send: async (url, frames) => {
      sends.push({ url, bytes: frames.map((f) => f[0] as number) });
      if (url === options.failSendTo) throw new Error(`${url} answered 503: busy`);
    },
    count: (outcome, kind, items) => counted.push({ outcome, kind, items }),
    logger: { warn: (details, message) => warnings.push({ details, message }) },
  };
  return { forwarder: new Forwarder(deps), sends, lookUps, counted, warnings };
}

const byUrl = <T extends { url: string }>(list: T[]) => [...list].sort((a, b) => a.url.localeCompare(b.url));

describe('Forwarder', () => {
  it('sends one request per target URL, the given order kept within each, and reports every item sent', async () => {
    const h = harness();
    const report = await h.forwarder.forward([
      packet('mix-2', 1),
      packet('mix-3', 2),
      delivery('gw', 3),
      packet('mix-2', 4),
      delivery('gw', 5),
      packet('mix-2', 6),
    ]);
    assert.deepEqual(byUrl(h.sends), [
      { url: 'http://gw:8080/v1/deliveries', bytes: [3, 5] },
      { url: 'http://mix-2:8080/v1/packets', bytes: [1, 4, 6] },
      { url: 'http://mix-3:8080/v1/packets', bytes: [2] },
    ]);
    assert.deepEqual(report.outcomes, ['sent', 'sent', 'sent', 'sent', 'sent', 'sent']);
    assert.deepEqual(
      byUrl(report.groups).map(({ url, kind, items, outcome }) => ({ url, kind, items, outcome })),
      [
        { url: 'http://gw:8080/v1/deliveries', kind: 'destination', items: [2, 4], outcome: 'sent' },
        { url: 'http://mix-2:8080/v1/packets', kind: 'node', items: [0, 3, 5], outcome: 'sent' },
        { url: 'http://mix-3:8080/v1/packets', kind: 'node', items: [1], outcome: 'sent' },
      ],
    );
    assert.deepEqual(
      h.counted.sort((a, b) => a.kind.localeCompare(b.kind) || a.items - b.items),
      [
        { outcome: 'sent', kind: 'destination', items: 2 },
        { outcome: 'sent', kind: 'node', items: 1 },
        { outcome: 'sent', kind: 'node', items: 3 },
      ],
    );
    assert.deepEqual(h.warnings, []);
  });

  it('looks each distinct hop up once per call; a node and a destination of the same id are two hops', async () => {
    const h = harness();
    await h.forwarder.forward([
      packet('mix-2', 1),
      packet('mix-2', 2),
      delivery('mix-1', 3),
      packet('mix-1', 4),
      delivery('mix-1', 5),
      packet('mix-2', 6),
    ]);
    assert.deepEqual(h.lookUps, ['node mix-2', 'destination mix-1', 'node mix-1']);
    assert.deepEqual(byUrl(h.sends), [
      { url: 'http://mix-1:8080/v1/deliveries', bytes: [3, 5] },
      { url: 'http://mix-1:8080/v1/packets', bytes: [4] },
      { url: 'http://mix-2:8080/v1/packets', bytes: [1, 2, 6] },
    ]);
    // A second call looks up again: the directory may have changed meanwhile.
    await h.forwarder.forward([packet('mix-2', 7)]);
    assert.deepEqual(h.lookUps, ['node mix-2', 'destination mix-1', 'node mix-1', 'node mix-2']);
  });

  it('asks for every hop before waiting for any answer', async () => {
    const pending: ((resolution: ReturnType<typeof hopFound>) => void)[] = [];
    const h = harness({ resolve: () => new Promise((resolve) => pending.push(resolve)) });
    const forwarding = h.forwarder.forward([packet('mix-2', 1), packet('mix-3', 2)]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(h.lookUps, ['node mix-2', 'node mix-3']);
    pending[1]?.(hopFound('http://mix-3:8080'));
    pending[0]?.(hopFound('http://mix-2:8080'));
    assert.deepEqual((await forwarding).outcomes, ['sent', 'sent']);
  });

  it('merges hops that resolve to the same URL into one request, in the given order', async () => {
    const h = harness({ resolve: async () => hopFound('http://shared:8080') });
    const report = await h.forwarder.forward([packet('a', 1), packet('b', 2), packet('a', 3)]);
    assert.deepEqual(h.sends, [{ url: 'http://shared:8080/v1/packets', bytes: [1, 2, 3] }]);
    assert.deepEqual(
      report.groups.map((group) => group.items),
      [[0, 1, 2]],
    );
    assert.deepEqual(h.counted, [{ outcome: 'sent', kind: 'node', items: 3 }]);
  });

  it('drops the items of a hop the directory does not know, logged and counted as unknown, and sends the rest', async () => {
    const h = harness();
    const report = await h.forwarder.forward([
      packet('mix-2', 1),
      packet('nobody', 2),
      delivery('no-gw', 3),
      packet('nobody', 4),
    ]);
    assert.deepEqual(report.outcomes, ['sent', 'unknown', 'unknown', 'unknown']);
    assert.deepEqual(h.sends, [{ url: 'http://mix-2:8080/v1/packets', bytes: [1] }]);
    assert.deepEqual(h.warnings, [
      { details: { nextHop: 'nobody' }, message: 'next hop unknown to the directory; packet dropped' },
      { details: { gateway: 'no-gw' }, message: 'gateway unknown to the directory; packet dropped' },
      { details: { nextHop: 'nobody' }, message: 'next hop unknown to the directory; packet dropped' },
    ]);
    assert.deepEqual(
      h.counted.filter((c) => c.outcome !== 'sent'),
      [
        { outcome: 'unknown', kind: 'node', items: 2 },
        { outcome: 'unknown', kind: 'destination', items: 1 },
      ],
    );
  });

  it('drops the items of a hop whose look-up threw as unreachable, not unknown, and logs why', async () => {
    const h = harness({
      resolve: async (kind, id) => {
        if (id === 'mix-3') throw new Error('connect ECONNREFUSED directory:8080');
        return fromDirectory(kind, id);
      },
    });
    const report = await h.forwarder.forward([packet('mix-3', 1), packet('mix-2', 2), packet('mix-3', 3)]);
    assert.deepEqual(report.outcomes, ['unreachable', 'sent', 'unreachable']);
    assert.deepEqual(h.sends, [{ url: 'http://mix-2:8080/v1/packets', bytes: [2] }]);
    const unreachable = {
      details: { nextHop: 'mix-3', reason: 'Error: connect ECONNREFUSED directory:8080' },
      message: 'directory unreachable, next hop not looked up; packet dropped',
    };
    assert.deepEqual(h.warnings, [unreachable, unreachable]);
    assert.ok(h.warnings.every((warning) => !warning.message.includes('unknown')));
    assert.deepEqual(h.counted, [
      { outcome: 'unreachable', kind: 'node', items: 2 },
      { outcome: 'sent', kind: 'node', items: 1 },
    ]);
  });

  it('reports every item of a failed send as failed, with the reason, while other targets succeed', async () => {
    const h = harness({ failSendTo: 'http://mix-2:8080/v1/packets' });
    const report = await h.forwarder.forward([packet('mix-2', 1), delivery('gw', 2), packet('mix-2', 3)]);
    assert.deepEqual(report.outcomes, ['failed', 'sent', 'failed']);
    const failed = report.groups.find((group) => group.outcome === 'failed');
    assert.deepEqual(failed && { url: failed.url, items: failed.items, reason: failed.reason }, {
      url: 'http://mix-2:8080/v1/packets',
      items: [0, 2],
      reason: 'Error: http://mix-2:8080/v1/packets answered 503: busy',
    });
    assert.deepEqual(h.warnings, [
      {
        details: {
          url: 'http://mix-2:8080/v1/packets',
          packets: 2,
          reason: 'Error: http://mix-2:8080/v1/packets answered 503: busy',
        },
        message: 'forward failed',
      },
    ]);
    assert.deepEqual(
      h.counted.sort((a, b) => a.outcome.localeCompare(b.outcome)),
      [
        { outcome: 'failed', kind: 'node', items: 2 },
        { outcome: 'sent', kind: 'destination', items: 1 },
      ],
    );
  });

  it("logs to the call's logger when one is given", async () => {
    const h = harness();
    const own: string[] = [];
    await h.forwarder.forward([packet('nobody', 1)], { warn: (_details, message) => own.push(message) });
    assert.deepEqual(own, ['next hop unknown to the directory; packet dropped']);
    assert.deepEqual(h.warnings, []);
  });

  it('names hops in log lines as told', async () => {
    const warnings: string[] = [];
    const forwarder = new Forwarder({
      resolve: fromDirectory,
      send: async () => {},
      count: () => {},
      logger: { warn: (_details, message) => warnings.push(message) },
      hopNames: { node: 'layer-1 first hop', destination: 'gateway' },
    });
    await forwarder.forward([packet('mix-9', 1)]);
    assert.deepEqual(warnings, ['layer-1 first hop unknown to the directory; packet dropped']);
  });

  it('does nothing for no items', async () => {
    const h = harness();
    assert.deepEqual(await h.forwarder.forward([]), { outcomes: [], groups: [] });
    assert.deepEqual([h.sends, h.lookUps, h.counted], [[], [], []]);
  });

  it('sends over real HTTP with FrameSender: each target receives its frames in order', async () => {
    const received: { path: string; frames: number[][] }[] = [];
    const app = Fastify();
    acceptOctetStream(app, 1024);
    for (const path of ['/v1/packets', '/v1/deliveries']) {
      app.post<{ Body: Buffer }>(path, async (request, reply) => {
        received.push({ path, frames: decodeFrames(request.body, 10).map((f) => [...f]) });
        return reply.code(202).send({});
      });
    }
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const sender = new FrameSender({ connections: 2, attempts: 1, timeoutMs: 5_000 });
    try {
      const h = harness();
      const forwarder = new Forwarder({
        resolve: async (_kind, id) => (id === 'down' ? hopFound('http://127.0.0.1:1') : hopFound(base)),
        send: (url, frames) => sender.send(url, frames),
        count: () => {},
        logger: { warn: (details, message) => h.warnings.push({ details, message }) },
      });
      const report = await forwarder.forward([
        packet('mix-2', 1),
        delivery('gw', 2),
        packet('down', 3),
        packet('mix-2', 4),
      ]);
      assert.deepEqual(report.outcomes, ['sent', 'sent', 'failed', 'sent']);
      assert.deepEqual(
        received.sort((a, b) => a.path.localeCompare(b.path)),
        [
          { path: '/v1/deliveries', frames: [[2, 2, 2]] },
          {
            path: '/v1/packets',
            frames: [
              [1, 1, 1],
              [4, 4, 4],
            ],
          },
        ],
      );
      assert.equal(h.warnings.length, 1);
      assert.equal(h.warnings[0]?.message, 'forward failed');
    } finally {
      await sender.close();
      await app.close();
    }
  });

  it('FrameSender refuses frames past maxPendingFrames per URL at once; the Forwarder counts them queue_full', async () => {
    const app = Fastify();
    acceptOctetStream(app, 1024);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived = 0;
    app.post('/v1/packets', async (_request, reply) => {
      arrived++;
      await held;
      return reply.code(202).send({});
    });
    app.post('/v1/deliveries', async (_request, reply) => reply.code(202).send({}));
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const sender = new FrameSender({ connections: 4, attempts: 1, timeoutMs: 5_000, maxPendingFrames: 3 });
    const url = `${base}/v1/packets`;
    try {
      const first = sender.send(url, [frame(1), frame(2)]);
      const second = sender.send(url, [frame(3)]);
      await assert.rejects(sender.send(url, [frame(4)]), QueueFullError);
      await sender.send(`${base}/v1/deliveries`, [frame(5), frame(6), frame(7), frame(8)]); // another queue, idle
      const counted: { outcome: ForwardOutcome; items: number }[] = [];
      const warnings: string[] = [];
      const forwarder = new Forwarder({
        resolve: async () => hopFound(base),
        send: (target, frames) => sender.send(target, frames),
        count: (outcome, _kind, items) => counted.push({ outcome, items }),
        logger: { warn: (_details, message) => warnings.push(message) },
      });
      const report = await forwarder.forward([packet('mix-2', 9), packet('mix-2', 10)]);
      assert.deepEqual(report.outcomes, ['queue_full', 'queue_full']);
      assert.deepEqual(counted, [{ outcome: 'queue_full', items: 2 }]);
      assert.deepEqual(warnings, ['queue full; packets dropped']);
      while (arrived < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      release();
      await Promise.all([first, second]);
      await sender.send(url, [frame(11), frame(12), frame(13), frame(14)]); // idle again: even more than the bound
      assert.equal(arrived, 3, 'the refused frames never reached the target');
    } finally {
      await sender.close();
      await app.close();
    }
  });
});
