import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { CRYPTO_BACKENDS, type CryptoBackendName, generateKeyPair, useCryptoBackend, x25519 } from '@mixlab/crypto';
import { packetFormat } from '../index.ts';
import { createGeometry, defaultGeometry } from './geometry.ts';
import { createSphinx, sphinx } from './sphinx.ts';
import { flipped, type Node, nodes, peelAll, rejects, route, travel } from './test-support.ts';

const utf8 = new TextEncoder();
const destination = () => ({ gateway: 'gateway-1', recipient: generateKeyPair().publicKey });

for (const backend of CRYPTO_BACKENDS) describe(`sphinx, ${backend} backend`, () => sphinxSuite(backend));

function sphinxSuite(backend: CryptoBackendName): void {
  before(() => useCryptoBackend(backend));

  it('is registered as the "sphinx" packet format with the default geometry', () => {
    assert.equal(packetFormat('sphinx'), sphinx);
    assert.equal(sphinx.name, 'sphinx');
    assert.equal(sphinx.geometry, defaultGeometry);
  });

  for (const hops of [1, 3, defaultGeometry.maxHops]) {
    it(`round-trips over ${hops} hop(s) with every link the same size`, () => {
      const path = nodes(hops);
      const to = destination();
      const message = utf8.encode(`a message over ${hops} hops`);
      const { links, last } = travel(sphinx, path, sphinx.wrap(route(path), to, message));
      assert.equal(links.length, hops);
      for (const link of links) assert.equal(link.length, defaultGeometry.packetBytes);
      assert.equal(last.kind, 'deliver');
      if (last.kind !== 'deliver') return;
      assert.deepEqual(last.payload, message);
      assert.equal(last.destination.gateway, to.gateway);
      assert.deepEqual(last.destination.recipient, to.recipient);
    });
  }

  it('gives the same bytes whether the sender merges blinding factors or multiplies by each in turn', () => {
    for (const hops of [1, 2, defaultGeometry.maxHops]) {
      const path = nodes(hops);
      const to = destination();
      const randomness = new Uint8Array(randomBytes(4096));
      const replaying = () => {
        let used = 0;
        return (length: number) => {
          used += length;
          return randomness.slice(used - length, used);
        };
      };
      const merged = createSphinx(defaultGeometry, { testVectorBytes: replaying() });
      const inTurn = createSphinx(defaultGeometry, { testVectorBytes: replaying(), mergeScalars: false });
      assert.deepEqual(merged.wrap(route(path), to, utf8.encode('x')), inTurn.wrap(route(path), to, utf8.encode('x')));
      assert.deepEqual(
        merged.replies.createReplyBlock(route(path), to),
        inTurn.replies.createReplyBlock(route(path), to),
      );
    }
  });

  it('blinds the group element and re-encrypts every part at each hop', () => {
    const path = nodes(3);
    const { links } = travel(sphinx, path, sphinx.wrap(route(path), destination(), utf8.encode('x')));
    const [a, b] = links as [Uint8Array, Uint8Array];
    assert.notDeepEqual(a.subarray(0, 32), b.subarray(0, 32));
    assert.notDeepEqual(a.subarray(defaultGeometry.payloadOffset), b.subarray(defaultGeometry.payloadOffset));
  });

  it('works with other geometries (8 hops, 4 KiB payload, full-capacity message)', () => {
    const geometry = createGeometry({ maxHops: 8, payloadBytes: 4096 });
    const format = createSphinx(geometry);
    const path = nodes(8);
    const to = destination();
    const message = new Uint8Array(geometry.messageCapacity(utf8.encode(to.gateway).length)).fill(7);
    const { links, last } = travel(format, path, format.wrap(route(path), to, message));
    for (const link of links) assert.equal(link.length, geometry.packetBytes);
    assert.equal(last.kind, 'deliver');
    if (last.kind === 'deliver') assert.deepEqual(last.payload, message);
  });

  it('returns a replay tag that is the same for a replayed packet and differs between packets', () => {
    const path = nodes(2);
    const packet = sphinx.wrap(route(path), destination(), utf8.encode('x'));
    const first = sphinx.peel(packet, (path[0] as Node).keys);
    const again = sphinx.peel(packet, (path[0] as Node).keys);
    const other = sphinx.peel(sphinx.wrap(route(path), destination(), utf8.encode('x')), (path[0] as Node).keys);
    assert.equal(first.replayTag?.length, 32);
    assert.deepEqual(first.replayTag, again.replayTag);
    assert.notDeepEqual(first.replayTag, other.replayTag);
    assert.ok(first.kind === 'forward');
    const exit = sphinx.peel(first.packet, (path[1] as Node).keys);
    assert.equal(exit.replayTag?.length, 32);
  });

  describe('the replay check (peel with a ReplayCheck)', () => {
    /** @mixlab/crypto's X25519, counting the multiplications a peel asks of it. */
    function countingX25519() {
      const calls = { multiply: 0 };
      const multiply: typeof x25519 = (scalar, point) => {
        calls.multiply++;
        return x25519(scalar, point);
      };
      return { multiply, calls };
    }
    /** A packet that records whether any byte of its payload was read (LIONESS reads them all). */
    function watched(packet: Uint8Array): { packet: Uint8Array; payloadRead: () => boolean } {
      let read = false;
      const { payloadOffset } = defaultGeometry;
      class Watched extends Uint8Array {
        override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
          if ((end ?? this.length) > payloadOffset) read = true;
          return super.subarray(begin, end);
        }
      }
      const copy = new Watched(packet.length);
      copy.set(packet);
      return { packet: copy, payloadRead: () => read };
    }
    const remembering = () => {
      const tags = new Set<string>();
      return {
        seen: (tag: Uint8Array) => {
          const key = Buffer.from(tag).toString('hex');
          if (tags.has(key)) return true;
          tags.add(key);
          return false;
        },
      };
    };

    it('stops a replay right after the MAC: one X25519 multiplication, no blinding, no payload work', () => {
      const path = nodes(2);
      const { multiply, calls } = countingX25519();
      const format = createSphinx(defaultGeometry, { multiply });
      const packet = sphinx.wrap(route(path), destination(), utf8.encode('once'));
      const check = remembering();
      const key = (path[0] as Node).keys;
      format.peel(sphinx.wrap(route(path), destination(), utf8.encode('warm')), key); // decodes the node key once
      const first = watched(packet);
      calls.multiply = 0;
      assert.equal(format.peel(first.packet, key, check).kind, 'forward');
      assert.deepEqual(calls, { multiply: 2 }, 'shared secret and blinding');
      assert.equal(first.payloadRead(), true, 'LIONESS read the payload');

      const again = watched(packet);
      calls.multiply = 0;
      rejects(() => format.peel(again.packet, key, check), 'replay', /seen before/);
      assert.deepEqual(calls, { multiply: 1 }, 'the shared secret only');
      assert.equal(again.payloadRead(), false, 'no LIONESS');
    });

    it('stops a replay at the exit before the payload, and checks only packets that pass the MAC', () => {
      const path = nodes(1);
      const packet = sphinx.wrap(route(path), destination(), utf8.encode('exit'));
      const key = (path[0] as Node).keys;
      const tags: Uint8Array[] = [];
      const check = {
        seen: (tag: Uint8Array) => {
          tags.push(tag);
          return tags.length > 1;
        },
      };
      rejects(() => sphinx.peel(flipped(packet, 40), key, check), 'undecryptable');
      assert.equal(tags.length, 0, 'an altered header never reaches the replay check');
      assert.equal(sphinx.peel(packet, key, check).kind, 'deliver');
      const again = watched(packet);
      rejects(() => sphinx.peel(again.packet, key, check), 'replay');
      assert.equal(again.payloadRead(), false);
      assert.deepEqual(tags[0], sphinx.peel(packet, key).replayTag, 'the tag checked is the one peel returns');
    });
  });

  describe('header integrity', () => {
    const g = defaultGeometry;
    let path: Node[];
    let packet: Uint8Array;
    let second: Uint8Array;
    before(() => {
      path = nodes(3);
      packet = sphinx.wrap(route(path), destination(), utf8.encode('integrity'));
      const peeled = sphinx.peel(packet, (path[0] as Node).keys);
      assert.ok(peeled.kind === 'forward');
      second = peeled.packet;
    });

    const classes = [
      { name: 'group element', from: 0, to: g.routingInfoOffset },
      { name: 'routing info', from: g.routingInfoOffset, to: g.macOffset },
      { name: 'MAC', from: g.macOffset, to: g.payloadOffset },
    ];
    for (const { name, from, to } of classes) {
      it(`rejects a bit flip in every byte of the ${name} as undecryptable`, () => {
        for (let byte = from; byte < to; byte++) {
          const bit = byte % 8;
          rejects(() => sphinx.peel(flipped(packet, byte, bit), (path[0] as Node).keys), 'undecryptable');
          if (byte % 7 === 0)
            rejects(() => sphinx.peel(flipped(second, byte, bit), (path[1] as Node).keys), 'undecryptable');
        }
      });
    }

    it('rejects the top bit of the group element, which X25519 itself ignores', () => {
      rejects(() => sphinx.peel(flipped(packet, 31, 7), (path[0] as Node).keys), 'undecryptable', /MAC/);
    });

    it('rejects a low-order group element', () => {
      const zeroed = packet.slice();
      zeroed.fill(0, 0, 32);
      rejects(() => sphinx.peel(zeroed, (path[0] as Node).keys), 'undecryptable');
    });

    it('rejects a packet peeled with the wrong node key', () => {
      rejects(() => sphinx.peel(packet, (path[1] as Node).keys), 'undecryptable', /another node key/);
      rejects(() => sphinx.peel(packet, generateKeyPair()), 'undecryptable');
    });
  });

  it('detects a payload bit flip at the exit, not before', () => {
    const path = nodes(3);
    const packet = sphinx.wrap(route(path), destination(), utf8.encode('tag me'));
    for (const byte of [
      defaultGeometry.payloadOffset,
      defaultGeometry.payloadOffset + 40,
      defaultGeometry.packetBytes - 1,
    ]) {
      let current = flipped(packet, byte);
      for (let i = 0; i < 2; i++) {
        const peeled = sphinx.peel(current, (path[i] as Node).keys);
        assert.ok(peeled.kind === 'forward', 'an intermediate hop cannot tell');
        current = peeled.packet;
      }
      rejects(() => sphinx.peel(current, (path[2] as Node).keys), 'malformed', /tagged/);
    }
  });

  it('detects a payload flipped between intermediate hops', () => {
    const path = nodes(3);
    const first = sphinx.peel(sphinx.wrap(route(path), destination(), utf8.encode('x')), (path[0] as Node).keys);
    assert.ok(first.kind === 'forward');
    const second = sphinx.peel(flipped(first.packet, defaultGeometry.packetBytes - 5, 3), (path[1] as Node).keys);
    assert.ok(second.kind === 'forward');
    rejects(() => sphinx.peel(second.packet, (path[2] as Node).keys), 'malformed', /tagged/);
  });

  it('rejects truncated and oversize packets as malformed', () => {
    const path = nodes(1);
    const packet = sphinx.wrap(route(path), destination(), utf8.encode('x'));
    const keys = (path[0] as Node).keys;
    rejects(() => sphinx.peel(packet.subarray(0, packet.length - 1), keys), 'malformed', /2621 bytes/);
    rejects(() => sphinx.peel(packet.subarray(0, 100), keys), 'malformed');
    rejects(() => sphinx.peel(new Uint8Array(0), keys), 'malformed');
    const longer = new Uint8Array(packet.length + 1);
    longer.set(packet);
    rejects(() => sphinx.peel(longer, keys), 'malformed', /2623 bytes/);
  });

  it('refuses at wrap: routes longer than maxHops, empty routes, bad ids, keys, destinations and messages', () => {
    const to = destination();
    const x = utf8.encode('x');
    assert.throws(() => sphinx.wrap(route(nodes(defaultGeometry.maxHops + 1)), to, x), /exceeds/);
    assert.throws(() => sphinx.wrap([], to, x), RangeError);
    const [node] = nodes(1) as [Node];
    assert.throws(() => sphinx.wrap([{ id: '-bad', publicKey: node.keys.publicKey }], to, x), /node id/);
    assert.throws(() => sphinx.wrap([{ id: 'a'.repeat(65), publicKey: node.keys.publicKey }], to, x), /node id/);
    assert.throws(() => sphinx.wrap([{ id: 'ok', publicKey: new Uint8Array(31) }], to, x), /32 bytes/);
    assert.throws(() => sphinx.wrap(route([node]), { ...to, gateway: '' }, x), /gateway/);
    assert.throws(() => sphinx.wrap(route([node]), { ...to, gateway: `http://${'g'.repeat(250)}` }, x), /gateway/);
    assert.throws(() => sphinx.wrap(route([node]), { ...to, recipient: new Uint8Array(16) }, x), /recipient/);
    const capacity = defaultGeometry.messageCapacity(utf8.encode(to.gateway).length);
    assert.equal(sphinx.payloadCapacity(to), capacity, 'what the format tells senders to pad to');
    assert.equal(sphinx.payloadCapacity({ ...to, gateway: `${to.gateway}-2` }), capacity - 2);
    assert.throws(() => sphinx.wrap(route([node]), to, new Uint8Array(capacity + 1)), /exceeds/);
    const full = sphinx.peel(sphinx.wrap(route([node]), to, new Uint8Array(capacity).fill(1)), node.keys);
    assert.ok(full.kind === 'deliver' && full.payload.length === capacity);
  });

  describe('per-hop delays (the sender chooses how long each hop holds the packet)', () => {
    it('gives every hop of a 3-hop route exactly its delay, the exit included', () => {
      const path = nodes(3);
      const delays = [150, 2 ** 32 - 1, 42];
      const hops = route(path).map((hop, i) => ({ ...hop, delayMs: delays[i] }));
      const to = destination();
      const results = peelAll(sphinx, path, sphinx.wrap(hops, to, utf8.encode('delayed')));
      assert.deepEqual(
        results.map((r) => r.kind),
        ['forward', 'forward', 'deliver'],
      );
      assert.deepEqual(
        results.map((r) => r.delayMs),
        delays,
      );
      const exit = results[2];
      assert.ok(exit?.kind === 'deliver');
      assert.deepEqual(exit.payload, utf8.encode('delayed'));
    });

    it('peels absent delays as 0, and mixes set and absent ones', () => {
      const path = nodes(3);
      const plain = peelAll(sphinx, path, sphinx.wrap(route(path), destination(), utf8.encode('x')));
      assert.deepEqual(
        plain.map((r) => r.delayMs),
        [0, 0, 0],
      );
      const mixed = route(path).map((hop, i) => (i === 1 ? { ...hop, delayMs: 1000 } : hop));
      assert.deepEqual(
        peelAll(sphinx, path, sphinx.wrap(mixed, destination(), utf8.encode('x'))).map((r) => r.delayMs),
        [0, 1000, 0],
      );
    });

    it('carries delays on a one-hop route and in other geometries', () => {
      const [node] = nodes(1) as [Node];
      const exit = sphinx.peel(
        sphinx.wrap([{ id: node.id, publicKey: node.keys.publicKey, delayMs: 7 }], destination(), utf8.encode('x')),
        node.keys,
      );
      assert.equal(exit.delayMs, 7);
      const format = createSphinx(createGeometry({ maxHops: 8, payloadBytes: 1024 }));
      const path = nodes(8);
      const delays = [1, 2, 3, 4, 5, 6, 7, 65536];
      const hops = route(path).map((hop, i) => ({ ...hop, delayMs: delays[i] }));
      assert.deepEqual(
        peelAll(format, path, format.wrap(hops, destination(), utf8.encode('x'))).map((r) => r.delayMs),
        delays,
      );
    });

    it('refuses at wrap a delay that is negative, over 2^32 - 1 or not an integer', () => {
      const path = nodes(3);
      for (const bad of [-1, 2 ** 32, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        for (const at of [0, 2]) {
          const hops = route(path).map((hop, i) => (i === at ? { ...hop, delayMs: bad } : hop));
          assert.throws(() => sphinx.wrap(hops, destination(), utf8.encode('x')), {
            name: 'RangeError',
            message: /delay of mix-\d\.test must be an integer 0\.\.4294967295 ms/,
          });
        }
      }
    });
  });

  it('accepts a 64-character node id and an empty message', () => {
    const path = [{ id: `A${'b'.repeat(63)}`, keys: generateKeyPair() }, ...nodes(1)];
    const { last } = travel(sphinx, path, sphinx.wrap(route(path), destination(), new Uint8Array(0)));
    assert.ok(last.kind === 'deliver' && last.payload.length === 0);
  });
}
