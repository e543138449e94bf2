import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, fromHex, generateKeyPair, type KeyPair, SEAL_OVERHEAD_BYTES, seal } from '@mixlab/crypto';
import { createServiceRegistry, mixNodeMetrics } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import { ThresholdStrategy } from '@mixlab/mixing';
import { DROP_RECIPIENT, decodeDelivery, onion, type Peeled, type RouteHop } from '@mixlab/packet';
import { ManualClock, type Random, scriptedRandom } from '@mixlab/runtime';
import { HOP_UNKNOWN, hopFound, QueueFullError, type ResolveHop } from '@mixlab/service-kit';
import { type SignedTopology, TopologyCache } from '@mixlab/topology';
import type { Registry } from 'prom-client';
import type { KeySchedule } from './key-schedule.ts';
import { MixNode, type PooledPacket } from './mix-node.ts';
import { type MixingKeySet, MixingKeys } from './mixing-keys.ts';
import { nextHops } from './next-hop.ts';
import { InlinePeeler, type Peeler, type PeelResult } from './peeler.ts';
import { type ReplayFilterSize, type ReplayFilters, replayFilterSize } from './replay-filter.ts';
import { counts, everyHopToMix2, packetCounts, singleKeySet, TEST_REPLAY } from './test-support.ts';

const utf8 = new TextEncoder();
const text = new TextDecoder();

interface Send {
  readonly url: string;
  readonly frames: Uint8Array[];
}

interface Fixture {
  readonly node: MixNode;
  readonly registry: Registry;
  readonly clock: ManualClock;
  readonly sends: Send[];
  readonly warnings: { details: Record<string, unknown>; message: string }[];
  readonly random: Random & { readonly used: number };
}

interface FixtureOptions {
  readonly threshold?: number;
  readonly maxWaitMs?: number;
  readonly draws?: number[];
  readonly nodes?: Record<string, string>;
  /** Node look-ups only; destinations resolve to the fixture's gateways. */
  readonly resolveNode?: ResolveHop;
  /** Every look-up, instead of the fixture's tables. */
  readonly resolve?: ResolveHop;
  readonly failSendTo?: string;
  /** Sends to this URL find its queue full (FrameSender's bound). */
  readonly fullQueueAt?: string;
  readonly maxPacketBytes?: number;
  readonly deliveryPayloadBytes?: number;
}

/** A directory document listing mix-2 and the gateway gw (mix-3 is not listed). */
const SIGNED_TOPOLOGY: SignedTopology = {
  document: {
    version: 1,
    epoch: 1,
    validFrom: 0,
    validUntil: Number.MAX_SAFE_INTEGER,
    layers: [
      [],
      [{ id: 'mix-2', layer: 2, url: 'http://mix-2:8080', identityKey: 'e'.repeat(64), publicKey: 'f'.repeat(64) }],
    ],
    gateways: [{ id: 'gw', url: 'http://gw:8080', identityKey: '9'.repeat(64) }],
  },
  signature: 'ab'.repeat(64),
  directoryKey: 'cd'.repeat(32),
};

describe('MixNode', () => {
  let self: { hop: RouteHop; keys: KeyPair };
  let next: { hop: RouteHop; keys: KeyPair };
  let other: { hop: RouteHop; keys: KeyPair };
  const recipient = new Uint8Array(32).fill(7);

  before(async () => {
    await cryptoReady();
    const make = (id: string) => {
      const keys = generateKeyPair();
      return { hop: { id, publicKey: keys.publicKey }, keys };
    };
    self = make('mix-1');
    next = make('mix-2');
    other = make('mix-3');
  });

  function fixture(options: FixtureOptions = {}): Fixture {
    const registry = createServiceRegistry({ node: 'mix-1', layer: '1' });
    const clock = new ManualClock();
    const random = scriptedRandom(options.draws ?? Array.from({ length: 100 }, () => 0));
    const sends: Send[] = [];
    const warnings: Fixture['warnings'] = [];
    const nodes = options.nodes ?? { 'mix-2': 'http://mix-2:8080', 'mix-3': 'http://mix-3:8080' };
    const gateways: Record<string, string> = { gw: 'http://gw:8080', 'gw-2': 'https://gw-2.example/base' };
    const node = new MixNode({
      peeler: new InlinePeeler({
        format: 'onion',
        keys: singleKeySet(self.keys),
        replay: TEST_REPLAY,
        maxPacketBytes: options.maxPacketBytes ?? 4096,
      }),
      keys: singleKeySet(self.keys),
      clock,
      metrics: mixNodeMetrics(registry),
      logger: { warn: (details, message) => warnings.push({ details: details as Record<string, unknown>, message }) },
      createStrategy: ({ release }) =>
        new ThresholdStrategy<PooledPacket>(
          { threshold: options.threshold ?? 3, maxWaitMs: options.maxWaitMs },
          { clock, random, release },
        ),
      resolve: async (kind, id) => {
        if (options.resolve) return options.resolve(kind, id);
        if (kind === 'node' && options.resolveNode) return options.resolveNode(kind, id);
        const url = (kind === 'node' ? nodes : gateways)[id];
        return url === undefined ? HOP_UNKNOWN : hopFound(url);
      },
      send: async (url, frames) => {
        sends.push({ url, frames: [...frames] });
        if (url === options.failSendTo) throw new Error(`${url} answered 503: busy`);
        if (url === options.fullQueueAt) throw new QueueFullError(url, 5000);
      },
      deliveryPayloadBytes: options.deliveryPayloadBytes,
    });
    return { node, registry, clock, sends, warnings, random };
  }

  /** A packet for this node that it forwards to `to`, carrying `message`. */
  const forwardPacket = (message: string, to = next) =>
    onion.wrap([self.hop, to.hop], { gateway: 'gw', recipient }, utf8.encode(message));
  /** A packet for which this node is the last hop. */
  const lastHopPacket = (message: string, gateway = 'gw') =>
    onion.wrap([self.hop], { gateway, recipient }, utf8.encode(message));
  /** What the next hop reads from a frame this node forwarded. */
  const readAtNext = (frame: Uint8Array, keys = next.keys) => {
    const peeled: Peeled = onion.peel(frame, keys);
    assert.equal(peeled.kind, 'deliver');
    return text.decode(peeled.kind === 'deliver' ? peeled.payload : new Uint8Array());
  };

  describe('pooling and release', () => {
    it('pools 3 valid packets and releases them as one shuffled batch in one request to the next hop', async () => {
      // Fisher–Yates over [a, b, c] with draws 0, 0: swap(2, 0) → [c, b, a], swap(1, 0) → [b, c, a].
      const f = fixture({ draws: [0, 0] });
      assert.equal(f.node.strategy, 'threshold');
      assert.deepEqual(await f.node.receive([forwardPacket('a')]), { accepted: 1, rejected: [] });
      f.clock.advance(250);
      assert.deepEqual(await f.node.receive([forwardPacket('b')]), { accepted: 1, rejected: [] });
      assert.equal(f.node.queued, 2);
      assert.equal(await seriesValue(f.registry, 'mixlab_queue_depth', { strategy: 'threshold' }), 2);
      f.clock.advance(500);
      await f.node.settled();
      assert.equal(f.sends.length, 0, 'nothing leaves before the threshold');

      assert.deepEqual(await f.node.receive([forwardPacket('c')]), { accepted: 1, rejected: [] });
      assert.equal(f.node.queued, 0);
      await f.node.settled();

      assert.equal(f.random.used, 2);
      assert.equal(f.sends.length, 1);
      assert.equal(f.sends[0]!.url, 'http://mix-2:8080/v1/packets');
      assert.deepEqual(
        f.sends[0]!.frames.map((frame) => readAtNext(frame)),
        ['b', 'c', 'a'],
      );
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, forwarded: 3 }));
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_count', { strategy: 'threshold' }), 1);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_sum', { strategy: 'threshold' }), 3);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_bucket', { strategy: 'threshold', le: '2' }), 0);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_bucket', { strategy: 'threshold', le: '3' }), 1);
      // Arrivals at 0, 250 and 750 ms, release at 750 ms: 0.75 + 0.5 + 0 seconds.
      assert.equal(await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_count', { strategy: 'threshold' }), 3);
      assert.equal(await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_sum', { strategy: 'threshold' }), 1.25);
      assert.equal(
        await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_bucket', { strategy: 'threshold', le: '0.001' }),
        1,
      );
      assert.equal(
        await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_bucket', { strategy: 'threshold', le: '0.512' }),
        2,
      );
      assert.equal(
        await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_bucket', { strategy: 'threshold', le: '1.024' }),
        3,
      );
      assert.equal(await seriesValue(f.registry, 'mixlab_queue_depth', { strategy: 'threshold' }), 0);
      assert.deepEqual(f.warnings, []);
    });

    it('sends its own injected loop in the same batch and request as real packets, not counted as accepted', async () => {
      const f = fixture({ draws: [2, 1] }); // identity order
      // The loop as this node would have peeled it: wrapped for the next hop only.
      const loop = onion.wrap([next.hop], { gateway: 'gw', recipient }, utf8.encode('loop'));
      f.node.inject({ kind: 'forward', nextHop: 'mix-2', packet: loop });
      assert.equal(f.node.queued, 1);
      await f.node.receive([forwardPacket('a'), forwardPacket('b')]);
      await f.node.settled();
      assert.equal(f.sends.length, 1, 'one request: the loop is not sent alone');
      assert.deepEqual(
        f.sends[0]!.frames.map((frame) => readAtNext(frame)),
        ['loop', 'a', 'b'],
      );
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 2, forwarded: 3 }));
    });

    it('takes 3 packets of one request as one batch', async () => {
      const f = fixture({ draws: [2, 1] }); // identity order
      assert.deepEqual(await f.node.receive([forwardPacket('a'), forwardPacket('b'), forwardPacket('c')]), {
        accepted: 3,
        rejected: [],
      });
      await f.node.settled();
      assert.equal(f.sends.length, 1);
      assert.deepEqual(
        f.sends[0]!.frames.map((frame) => readAtNext(frame)),
        ['a', 'b', 'c'],
      );
      assert.equal(await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_sum', { strategy: 'threshold' }), 0);
    });

    it('flushes a partial batch after maxWaitMs and observes the ManualClock time as the mixing delay', async () => {
      const f = fixture({ maxWaitMs: 1000, draws: [1] });
      await f.node.receive([forwardPacket('a')]);
      f.clock.advance(400);
      await f.node.receive([forwardPacket('b')]);
      f.clock.advance(599);
      await f.node.settled();
      assert.equal(f.sends.length, 0);
      f.clock.advance(1);
      await f.node.settled();
      assert.equal(f.sends.length, 1);
      assert.deepEqual(f.sends[0]!.frames.map((frame) => readAtNext(frame)).sort(), ['a', 'b']);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_count', { strategy: 'threshold' }), 1);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_sum', { strategy: 'threshold' }), 2);
      // 1000 ms for the first, 600 ms for the second.
      assert.equal(await seriesValue(f.registry, 'mixlab_mixing_delay_seconds_sum', { strategy: 'threshold' }), 1.6);
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 2, forwarded: 2 }));
    });

    it('sends one request per next hop, keeping the batch order within each', async () => {
      const f = fixture({ threshold: 4, draws: [3, 2, 1] }); // identity order
      await f.node.receive([
        forwardPacket('a'),
        forwardPacket('b', other),
        forwardPacket('c'),
        forwardPacket('d', other),
      ]);
      await f.node.settled();
      assert.deepEqual(f.sends.map((send) => send.url).sort(), [
        'http://mix-2:8080/v1/packets',
        'http://mix-3:8080/v1/packets',
      ]);
      const toNext = f.sends.find((send) => send.url.startsWith('http://mix-2'))!;
      const toOther = f.sends.find((send) => send.url.startsWith('http://mix-3'))!;
      assert.deepEqual(
        toNext.frames.map((frame) => readAtNext(frame)),
        ['a', 'c'],
      );
      assert.deepEqual(
        toOther.frames.map((frame) => readAtNext(frame, other.keys)),
        ['b', 'd'],
      );
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 4, forwarded: 4 }));
    });

    it('releases consecutive batches separately; those one request released leave together, in release order', async () => {
      const f = fixture({ threshold: 2 });
      await f.node.receive([
        forwardPacket('a'),
        forwardPacket('b'),
        forwardPacket('c'),
        forwardPacket('d'),
        forwardPacket('e'),
      ]);
      await f.node.settled();
      assert.equal(f.sends.length, 1, 'one request to the next hop for both batches');
      assert.equal(f.sends[0]?.frames.length, 4);
      assert.deepEqual(
        new Set(f.sends[0]?.frames.slice(0, 2).map((frame) => readAtNext(frame))),
        new Set(['a', 'b']),
        'the first batch first',
      );
      assert.equal(f.node.queued, 1);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_count', { strategy: 'threshold' }), 2);
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_sum', { strategy: 'threshold' }), 4);
      assert.equal(await seriesValue(f.registry, 'mixlab_queue_depth', { strategy: 'threshold' }), 1);
    });

    it('stop drops what is pooled, returns how many, and zeroes the queue gauge', async () => {
      const f = fixture();
      await f.node.receive([forwardPacket('a'), forwardPacket('b')]);
      assert.equal(await f.node.stop(), 2);
      assert.equal(f.node.queued, 0);
      assert.equal(await seriesValue(f.registry, 'mixlab_queue_depth', { strategy: 'threshold' }), 0);
      assert.deepEqual(f.sends, []);
    });
  });

  describe('bad packets', () => {
    it('pools the good packets of a request and rejects each bad one with its index, outcome and reason', async () => {
      const f = fixture({ draws: [2, 1] });
      const random = Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) % 256);
      const good = forwardPacket('good');
      const packets = [
        forwardPacket('a'),
        random,
        good.subarray(0, SEAL_OVERHEAD_BYTES),
        forwardPacket('b'),
        onion.wrap([other.hop, next.hop], { gateway: 'gw', recipient }, utf8.encode('not for me')),
        new Uint8Array(0),
        seal(Uint8Array.from([0x09, 1, 2, 3]), self.keys.publicKey),
        good.subarray(0, good.length - 1),
        forwardPacket('c'),
      ];
      const result = await f.node.receive(packets);
      const wrongKey = 'layer does not open with this node key (wrong node or altered)';
      assert.deepEqual(result, {
        accepted: 3,
        rejected: [
          // Random bytes longer than one layer cannot be told from a packet for another node.
          { index: 1, outcome: 'undecryptable', reason: wrongKey },
          {
            index: 2,
            outcome: 'malformed',
            reason: `packet of ${SEAL_OVERHEAD_BYTES} bytes is shorter than one layer`,
          },
          { index: 4, outcome: 'undecryptable', reason: wrongKey },
          { index: 5, outcome: 'malformed', reason: 'packet of 0 bytes is shorter than one layer' },
          { index: 6, outcome: 'malformed', reason: 'unknown layer kind 9' },
          { index: 7, outcome: 'undecryptable', reason: wrongKey },
        ],
      });
      assert.deepEqual(
        f.warnings.map(({ details, message }) => [message, details.index, details.outcome]),
        [
          ['packet dropped', 1, 'undecryptable'],
          ['packet dropped', 2, 'malformed'],
          ['packet dropped', 4, 'undecryptable'],
          ['packet dropped', 5, 'malformed'],
          ['packet dropped', 6, 'malformed'],
          ['packet dropped', 7, 'undecryptable'],
        ],
      );
      await f.node.settled();
      assert.equal(f.sends.length, 1);
      assert.deepEqual(
        f.sends[0]!.frames.map((frame) => readAtNext(frame)),
        ['a', 'b', 'c'],
      );
      assert.deepEqual(
        await packetCounts(f.registry),
        counts({ accepted: 3, forwarded: 3, malformed: 3, undecryptable: 3 }),
      );
      assert.equal(await seriesValue(f.registry, 'mixlab_batch_size_sum', { strategy: 'threshold' }), 3);
    });

    it('rejects a packet over maxPacketBytes as malformed without opening it', async () => {
      const f = fixture({ maxPacketBytes: 256 });
      const big = forwardPacket('x'.repeat(300));
      const fits = forwardPacket('y');
      assert.ok(big.length > 256 && fits.length <= 256);
      assert.deepEqual(await f.node.receive([big, fits]), {
        accepted: 1,
        rejected: [{ index: 0, outcome: 'malformed', reason: `packet of ${big.length} bytes exceeds 256` }],
      });
      assert.equal(f.node.queued, 1);
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 1, malformed: 1 }));
    });

    it('accepts a packet of exactly maxPacketBytes', async () => {
      const packet = forwardPacket('z');
      const f = fixture({ maxPacketBytes: packet.length });
      assert.deepEqual(await f.node.receive([packet]), { accepted: 1, rejected: [] });
    });

    it('counts a request that is not frames as one malformed packet', async () => {
      const f = fixture();
      f.node.countMalformedRequest('truncated frame header');
      assert.deepEqual(await packetCounts(f.registry), counts({ malformed: 1 }));
      assert.deepEqual(f.warnings, [
        { details: { outcome: 'malformed', reason: 'truncated frame header' }, message: 'request dropped' },
      ]);
    });
  });

  describe('replays', () => {
    it('drops a second copy of a packet as a replay, in the same request or a later one', async () => {
      const f = fixture({ threshold: 10 });
      const packet = forwardPacket('once');
      const first = await f.node.receive([packet, packet]);
      assert.deepEqual(first, {
        accepted: 1,
        rejected: [{ index: 1, outcome: 'replay', reason: 'this packet was seen before with this key' }],
      });
      const later = await f.node.receive([Uint8Array.from(packet), forwardPacket('fresh')]);
      assert.deepEqual(
        later.rejected.map((r) => r.outcome),
        ['replay'],
      );
      assert.equal(later.accepted, 1);
      assert.equal(f.node.queued, 2);
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 2, replay: 2 }));
      assert.equal(await seriesValue(f.registry, 'mixlab_replay_cache_entries'), 2);
    });
  });

  describe('last hop', () => {
    it('sinks drop cover (addressed to DROP_RECIPIENT) after mixing it, sending nothing for it', async () => {
      const f = fixture({ threshold: 2 });
      const drop = onion.wrap([self.hop], { gateway: 'gw', recipient: DROP_RECIPIENT }, utf8.encode('cover'));
      await f.node.receive([drop, lastHopPacket('real')]);
      await f.node.settled();
      assert.deepEqual(
        f.sends.map((send) => [send.url, send.frames.length]),
        [['http://gw:8080/v1/deliveries', 1]],
      );
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 2, delivered: 1, sunk: 1 }));
    });

    it('hands last-hop packets to <gateway>/v1/deliveries as delivery frames, one request per gateway', async () => {
      const f = fixture({ draws: [2, 1] });
      await f.node.receive([lastHopPacket('for you'), forwardPacket('onward'), lastHopPacket('elsewhere', 'gw-2')]);
      await f.node.settled();
      assert.deepEqual(f.sends.map((send) => send.url).sort(), [
        'http://gw:8080/v1/deliveries',
        'http://mix-2:8080/v1/packets',
        'https://gw-2.example/base/v1/deliveries',
      ]);
      const delivered = f.sends
        .filter((send) => send.url.endsWith('/v1/deliveries'))
        .map((send) => ({
          url: send.url,
          frames: send.frames.map((frame) => {
            const delivery = decodeDelivery(frame);
            return { recipient: [...delivery.recipient], payload: text.decode(delivery.payload) };
          }),
        }))
        .sort((a, b) => a.url.localeCompare(b.url));
      assert.deepEqual(delivered, [
        { url: 'http://gw:8080/v1/deliveries', frames: [{ recipient: [...recipient], payload: 'for you' }] },
        {
          url: 'https://gw-2.example/base/v1/deliveries',
          frames: [{ recipient: [...recipient], payload: 'elsewhere' }],
        },
      ]);
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, delivered: 2, forwarded: 1 }));
    });
  });

  describe('delivery padding', () => {
    it('pads every delivery payload to deliveryPayloadBytes, whatever it carries', async () => {
      const f = fixture({ threshold: 2, deliveryPayloadBytes: 300 });
      await f.node.receive([lastHopPacket('short'), lastHopPacket('a somewhat longer message')]);
      await f.node.settled();
      const frames = f.sends[0]?.frames ?? [];
      assert.deepEqual(
        frames.map((frame) => frame.length),
        [32 + 300, 32 + 300],
      );
      const messages = ['short', 'a somewhat longer message'];
      const carried = frames.map((frame) => {
        const payload = decodeDelivery(frame).payload;
        return messages.find((message) => text.decode(payload.subarray(0, message.length)) === message);
      });
      assert.deepEqual(carried.sort(), [...messages].sort(), 'each payload starts with its message');
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 2, delivered: 2 }));
    });
  });

  describe('forward failures', () => {
    it('counts a packet whose next hop the directory does not know as forward_failed and sends the rest', async () => {
      const f = fixture({ draws: [2, 1], nodes: { 'mix-2': 'http://mix-2:8080' } });
      await f.node.receive([forwardPacket('a'), forwardPacket('lost', other), forwardPacket('c')]);
      await f.node.settled();
      assert.equal(f.sends.length, 1);
      assert.deepEqual(
        f.sends[0]!.frames.map((frame) => readAtNext(frame)),
        ['a', 'c'],
      );
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, forwarded: 2, forward_failed: 1 }));
      assert.deepEqual(f.warnings, [
        { details: { nextHop: 'mix-3' }, message: 'next hop unknown to the directory; packet dropped' },
      ]);
    });

    it('looks each next hop up once per batch, however many of its packets the batch holds', async () => {
      const asked: string[] = [];
      const f = fixture({
        resolveNode: async (_kind, id) => {
          asked.push(id);
          return hopFound(`http://${id}:8080`);
        },
      });
      await f.node.receive([forwardPacket('a'), forwardPacket('b'), forwardPacket('c', other)]);
      await f.node.settled();
      assert.deepEqual(asked.sort(), ['mix-2', 'mix-3']);
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, forwarded: 3 }));
    });

    it('counts packets whose next hop could not be looked up (directory unreachable) as forward_failed', async () => {
      const f = fixture({
        resolveNode: async () => {
          throw new Error('ECONNREFUSED');
        },
      });
      await f.node.receive([forwardPacket('a'), forwardPacket('b'), lastHopPacket('c')]);
      await f.node.settled();
      assert.deepEqual(
        f.sends.map((send) => send.url),
        ['http://gw:8080/v1/deliveries'],
      );
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, forward_failed: 2, delivered: 1 }));
    });

    it('logs a directory outage as unreachable, not unknown, and counts its packets as forward_failed', async () => {
      let directoryDown = false;
      const topology = new TopologyCache(
        async () => {
          if (directoryDown) throw new Error('connect ECONNREFUSED directory:8080');
          return SIGNED_TOPOLOGY;
        },
        { maxAgeMs: 0, refetchAfterMs: 0 },
      );
      const f = fixture({ resolve: nextHops(topology) });
      await f.node.receive([forwardPacket('a'), lastHopPacket('b'), forwardPacket('lost', other)]);
      await f.node.settled();
      assert.deepEqual(f.warnings, [
        { details: { nextHop: 'mix-3' }, message: 'next hop unknown to the directory; packet dropped' },
      ]);
      assert.deepEqual(
        await packetCounts(f.registry),
        counts({ accepted: 3, forwarded: 1, delivered: 1, forward_failed: 1 }),
      );

      directoryDown = true;
      f.warnings.length = 0;
      await f.node.receive([forwardPacket('c'), lastHopPacket('d'), forwardPacket('e')]);
      await f.node.settled();
      const reason = 'Error: connect ECONNREFUSED directory:8080';
      const unreachable = (field: string, id: string, name: string) => ({
        details: { [field]: id, reason },
        message: `directory unreachable, ${name} not looked up; packet dropped`,
      });
      assert.deepEqual(
        f.warnings.sort((a, b) => a.message.localeCompare(b.message)),
        [
          unreachable('gateway', 'gw', 'gateway'),
          unreachable('nextHop', 'mix-2', 'next hop'),
          unreachable('nextHop', 'mix-2', 'next hop'),
        ],
      );
      assert.deepEqual(
        await packetCounts(f.registry),
        counts({ accepted: 6, forwarded: 1, delivered: 1, forward_failed: 4 }),
      );
    });

    it('counts every packet of a failed send as forward_failed, and other targets still succeed', async () => {
      const f = fixture({ draws: [2, 1], failSendTo: 'http://mix-2:8080/v1/packets' });
      await f.node.receive([forwardPacket('a'), forwardPacket('b'), forwardPacket('c', other)]);
      await f.node.settled();
      assert.equal(f.sends.length, 2);
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, forward_failed: 2, forwarded: 1 }));
      assert.deepEqual(f.warnings, [
        {
          details: {
            url: 'http://mix-2:8080/v1/packets',
            packets: 2,
            reason: 'Error: http://mix-2:8080/v1/packets answered 503: busy',
          },
          message: 'forward failed',
        },
      ]);
    });

    it('counts the packets of a send refused for a full queue as queue_full, not forward_failed', async () => {
      const f = fixture({ draws: [2, 1], fullQueueAt: 'http://mix-2:8080/v1/packets' });
      await f.node.receive([forwardPacket('a'), forwardPacket('b'), forwardPacket('c', other)]);
      await f.node.settled();
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 3, queue_full: 2, forwarded: 1 }));
      assert.equal(f.warnings[0]?.message, 'queue full; packets dropped');
    });

    it('counts a failed delivery to the gateway as forward_failed', async () => {
      const f = fixture({ threshold: 1, failSendTo: 'http://gw:8080/v1/deliveries' });
      await f.node.receive([lastHopPacket('a')]);
      await f.node.settled();
      assert.deepEqual(await packetCounts(f.registry), counts({ accepted: 1, forward_failed: 1 }));
    });

    it('settled waits for a slow send', async () => {
      const clock = new ManualClock();
      let finish: () => void = () => {};
      const slow = new MixNode({
        peeler: new InlinePeeler({
          format: 'onion',
          keys: singleKeySet(self.keys),
          replay: TEST_REPLAY,
          maxPacketBytes: 4096,
        }),
        keys: singleKeySet(self.keys),
        clock,
        metrics: mixNodeMetrics(createServiceRegistry({})),
        logger: { warn: () => {} },
        createStrategy: ({ release }) =>
          new ThresholdStrategy<PooledPacket>({ threshold: 1 }, { clock, random: scriptedRandom([]), release }),
        resolve: everyHopToMix2,
        send: () =>
          new Promise<void>((resolve) => {
            finish = resolve;
          }),
      });
      await slow.receive([forwardPacket('a')]);
      let done = false;
      const settled = slow.settled().then(() => {
        done = true;
      });
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(done, false);
      finish();
      await settled;
      assert.equal(done, true);
    });
  });
});

describe('MixNode under key rotation', () => {
  // Epochs of 10 s; the previous key peels for 2 s after a boundary, the next from 1 s before
  // it. Start 2 s before epoch 6, before the window of its key.
  const schedule: KeySchedule = { epochs: { genesisMs: 0, lengthMs: 10_000 }, graceMs: 2_000, nextKeyWindowMs: 1_000 };
  const recipient = new Uint8Array(32).fill(9);
  let next: RouteHop;

  before(async () => {
    await cryptoReady();
    next = { id: 'mix-2', publicKey: generateKeyPair().publicKey };
  });

  /** A peeler whose answers wait for `open()`, to rotate keys while a request is being peeled. */
  class GatedPeeler implements Peeler {
    readonly #inner: Peeler;
    #gate = Promise.withResolvers<void>();
    constructor(inner: Peeler) {
      this.#inner = inner;
    }
    get replayFilters(): ReplayFilters {
      return this.#inner.replayFilters;
    }
    async peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
      const results = await this.#inner.peel(packets);
      await this.#gate.promise;
      return results;
    }
    setKeys(keys: MixingKeySet): void {
      this.#inner.setKeys(keys);
    }
    open(): void {
      this.#gate.resolve();
    }
    async close(): Promise<void> {}
  }

  function rotating(options: { gated?: boolean; replay?: ReplayFilterSize } = {}) {
    const wallClock = new ManualClock(58_000);
    const keys = new MixingKeys(schedule, wallClock);
    const registry = createServiceRegistry({ node: 'mix-1', layer: '1' });
    const inline = new InlinePeeler({
      format: 'onion',
      keys: keys.keySet(),
      replay: options.replay ?? TEST_REPLAY,
      maxPacketBytes: 4096,
    });
    const peeler = options.gated ? new GatedPeeler(inline) : inline;
    const clock = new ManualClock();
    const node = new MixNode({
      peeler,
      keys: keys.keySet(),
      clock,
      metrics: mixNodeMetrics(registry),
      logger: { warn: () => {} },
      createStrategy: ({ release }) =>
        new ThresholdStrategy<PooledPacket>({ threshold: 1_000 }, { clock, random: scriptedRandom([]), release }),
      resolve: everyHopToMix2,
      send: async () => {},
    });
    keys.start(() => node.setKeys(keys.keySet()));
    /** A packet built for this node's published key of `epoch`, as a client holding the topology would build it. */
    const packetFor = (epoch: number, message = 'hello') => {
      const key = keys.published().find((published) => published.epoch === epoch);
      assert.ok(key, `a key for epoch ${epoch} is published`);
      return onion.wrap(
        [{ id: 'mix-1', publicKey: fromHex(key.publicKey) as Uint8Array }, next],
        { gateway: 'gw', recipient },
        utf8.encode(message),
      );
    };
    const outcomes = async (packets: Uint8Array[]) =>
      (await node.receive(packets)).rejected.map((rejection) => rejection.outcome);
    const peeledWith = async (key: string) => seriesValue(registry, 'mixlab_packets_peeled_total', { key });
    return { wallClock, keys, registry, node, peeler, packetFor, outcomes, peeledWith };
  }

  it('peels a packet built for the previous key during the grace period, and finds it undecryptable after', async () => {
    const f = rotating();
    assert.equal(await seriesValue(f.registry, 'mixlab_mixing_key_epoch'), 5);
    const early = f.packetFor(5, 'early');
    const late = f.packetFor(5, 'late');
    f.wallClock.advance(2_000); // epoch 6 begins
    assert.equal(f.keys.current, 6);
    assert.equal(await seriesValue(f.registry, 'mixlab_mixing_key_epoch'), 6);
    f.wallClock.advance(1_999);
    assert.deepEqual(await f.outcomes([early]), [], 'in flight across the boundary: accepted');
    assert.equal(await f.peeledWith('previous'), 1);
    f.wallClock.advance(1); // grace over: the key of epoch 5 is gone
    assert.deepEqual(await f.outcomes([late]), ['undecryptable']);
    assert.deepEqual(await f.outcomes([early]), ['undecryptable'], 'nor can the first one be replayed');
    assert.deepEqual(
      [await f.peeledWith('current'), await f.peeledWith('previous'), await f.peeledWith('next')],
      [0, 1, 0],
    );
    f.keys.stop();
  });

  it('peels a packet built for the next key in the window before its epoch (a client whose clock is ahead)', async () => {
    const f = rotating();
    const ahead = f.packetFor(6);
    assert.deepEqual(await f.outcomes([ahead]), ['undecryptable'], 'before the window');
    f.wallClock.advance(1_000); // the window opens
    assert.deepEqual(await f.outcomes([ahead, f.packetFor(5)]), []);
    assert.equal(await f.peeledWith('next'), 1);
    assert.equal(await f.peeledWith('current'), 1);
    f.wallClock.advance(1_000);
    // Its tag was remembered under epoch 6, the epoch of the key that opened it.
    assert.deepEqual(await f.outcomes([ahead]), ['replay']);
    f.keys.stop();
  });

  it('a flood built for the next key before its window leaves the honest packets of that epoch alone', async () => {
    // The old fixed-size cache: 50 entries, 50 such packets beforehand, then 0 of 5 honest packets accepted.
    const f = rotating({ replay: replayFilterSize(50, 1e-6) });
    const flood = Array.from({ length: 50 }, (_, i) => f.packetFor(6, `flood ${i}`));
    assert.deepEqual(await f.outcomes(flood), Array(50).fill('undecryptable'));
    assert.equal(f.peeler.replayFilters.entries, 0, 'nothing was remembered for epoch 6');
    f.wallClock.advance(2_000); // epoch 6 begins
    const honest = Array.from({ length: 5 }, (_, i) => f.packetFor(6, `honest ${i}`));
    assert.deepEqual(await f.outcomes(honest), []);
    assert.equal(await f.peeledWith('current'), 5);
    f.keys.stop();
  });

  it("keeps one replay filter per key epoch and frees an epoch's filter when its key is dropped", async () => {
    const f = rotating();
    const oldPacket = f.packetFor(5);
    assert.deepEqual(await f.outcomes([oldPacket, oldPacket]), ['replay']);
    const oneFilter = f.peeler.replayFilters.bytes;
    assert.equal(oneFilter, (TEST_REPLAY.bits / 32 + 2) * 4, 'the bits and two header words');
    f.wallClock.advance(1_000);
    assert.equal(f.peeler.replayFilters.bytes, 2 * oneFilter, "epoch 6's filter is made when its key starts to peel");
    f.wallClock.advance(1_000);
    assert.deepEqual(await f.outcomes([f.packetFor(6)]), []);
    assert.equal(f.peeler.replayFilters.bytes, 2 * oneFilter, 'one filter per epoch');
    assert.equal(f.peeler.replayFilters.entries, 2);
    assert.deepEqual(await f.outcomes([oldPacket]), ['replay'], 'still caught during the grace period');
    f.wallClock.advance(2_000);
    assert.equal(f.peeler.replayFilters.bytes, oneFilter, "epoch 5's filter is freed with its key");
    assert.equal(f.peeler.replayFilters.entries, 1);
    assert.equal(await seriesValue(f.registry, 'mixlab_replay_cache_bytes'), oneFilter);
    assert.equal(await seriesValue(f.registry, 'mixlab_replay_cache_entries'), 1);
    assert.equal(await seriesValue(f.registry, 'mixlab_replay_cache_false_positive_rate'), 1e-6);
    f.keys.stop();
  });

  it('drops a packet whose key expired while it was being peeled, without bringing its replay filter back', async () => {
    const f = rotating({ gated: true });
    const packet = f.packetFor(5);
    f.wallClock.advance(2_000);
    const receiving = f.outcomes([packet]);
    await new Promise((resolve) => setImmediate(resolve));
    f.wallClock.advance(2_000); // the grace period ends while the packet is in the peeler
    (f.peeler as GatedPeeler).open();
    assert.deepEqual(await receiving, ['undecryptable']);
    assert.equal(f.peeler.replayFilters.bytes, (TEST_REPLAY.bits / 32 + 2) * 4, "only epoch 6's filter is held");
    f.keys.stop();
  });
});
