import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  CRYPTO_BACKENDS,
  type CryptoBackendName,
  generateKeyPair,
  type KeyPair,
  SEAL_OVERHEAD_BYTES,
  seal,
  useCryptoBackend,
  X25519_KEY_BYTES,
} from '@mixlab/crypto';
import {
  type Destination,
  MAX_GATEWAY_ID_BYTES,
  PacketError,
  type PacketErrorReason,
  type Peeled,
  type RouteHop,
} from '../packet-format.ts';
import { MAX_NODE_ID_BYTES, onion } from './onion.ts';

const utf8 = new TextEncoder();

interface Node {
  readonly hop: RouteHop;
  readonly keys: KeyPair;
}

function makeNode(id: string): Node {
  const keys = generateKeyPair();
  return { hop: { id, publicKey: keys.publicKey }, keys };
}

function rejects(peel: () => unknown, reason: PacketErrorReason, message: RegExp): void {
  assert.throws(peel, (error: unknown) => {
    assert.ok(error instanceof PacketError, `expected a PacketError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    assert.equal(error.name, 'PacketError');
    assert.match(error.message, message);
    return true;
  });
}

function expectForward(peeled: Peeled): Extract<Peeled, { kind: 'forward' }> {
  assert.equal(peeled.kind, 'forward');
  return peeled as Extract<Peeled, { kind: 'forward' }>;
}

function expectDeliver(peeled: Peeled): Extract<Peeled, { kind: 'deliver' }> {
  assert.equal(peeled.kind, 'deliver');
  return peeled as Extract<Peeled, { kind: 'deliver' }>;
}

function concat(...parts: (Uint8Array | readonly number[])[]): Uint8Array {
  const arrays = parts.map((part) => (part instanceof Uint8Array ? part : Uint8Array.from(part)));
  const out = new Uint8Array(arrays.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of arrays) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function flipped(packet: Uint8Array, index: number): Uint8Array {
  const copy = packet.slice();
  copy[index] = (copy[index] as number) ^ 0x01;
  return copy;
}

// Sealed boxes come from the backend: the format must work on each.
for (const backend of CRYPTO_BACKENDS) describe(`onion packet format, ${backend} backend`, () => onionSuite(backend));

function onionSuite(backend: CryptoBackendName): void {
  let nodes: Node[];
  let route: RouteHop[];
  let destination: Destination;
  let payload: Uint8Array;

  before(async () => {
    await useCryptoBackend(backend);
    nodes = [makeNode('mix-1'), makeNode('mix-2.layer-2'), makeNode('mix_3')];
    route = nodes.map((node) => node.hop);
    destination = { gateway: 'gateway-1', recipient: generateKeyPair().publicKey };
    payload = utf8.encode('hello through three layers of mixes');
  });

  function node(index: number): Node {
    return nodes[index] as Node;
  }

  describe('replay check', () => {
    it('checks the sealed box ephemeral key once the layer opens, and refuses a copy as a replay', () => {
      const packet = onion.wrap(route, destination, payload);
      const tags: Uint8Array[] = [];
      const check = {
        seen: (tag: Uint8Array) => {
          tags.push(Uint8Array.from(tag));
          return tags.length > 1;
        },
      };
      rejects(() => onion.peel(packet, node(1).keys, check), 'undecryptable', /does not open/);
      rejects(() => onion.peel(flipped(packet, 60), node(0).keys, check), 'undecryptable', /does not open/);
      assert.equal(tags.length, 0, 'a packet that does not open is never remembered: junk cannot fill the memory');
      expectForward(onion.peel(packet, node(0).keys, check));
      assert.deepEqual(tags[0], packet.subarray(0, X25519_KEY_BYTES));
      rejects(() => onion.peel(packet, node(0).keys, check), 'replay', /seen before/);
    });
  });

  describe('round trip', () => {
    it('is named onion', () => {
      assert.equal(onion.name, 'onion');
    });

    it('forwards through hops 1 and 2 and delivers at hop 3', () => {
      const packet = onion.wrap(route, destination, payload);

      const first = expectForward(onion.peel(packet, node(0).keys));
      assert.equal(first.nextHop, node(1).hop.id);

      const second = expectForward(onion.peel(first.packet, node(1).keys));
      assert.equal(second.nextHop, node(2).hop.id);

      const third = expectDeliver(onion.peel(second.packet, node(2).keys));
      assert.equal(third.destination.gateway, destination.gateway);
      assert.deepEqual(third.destination.recipient, destination.recipient);
      assert.deepEqual(third.payload, payload);
    });

    it('shrinks the packet at every hop by the seal overhead and the routing bytes (the leak of this baseline)', () => {
      const packet = onion.wrap(route, destination, payload);
      const first = expectForward(onion.peel(packet, node(0).keys));
      const second = expectForward(onion.peel(first.packet, node(1).keys));

      const deliverLayer = 3 + utf8.encode(destination.gateway).length + X25519_KEY_BYTES + payload.length;
      assert.equal(second.packet.length, SEAL_OVERHEAD_BYTES + deliverLayer);
      assert.equal(first.packet.length, second.packet.length + SEAL_OVERHEAD_BYTES + 2 + node(2).hop.id.length);
      assert.equal(packet.length, first.packet.length + SEAL_OVERHEAD_BYTES + 2 + node(1).hop.id.length);
      assert.ok(packet.length > first.packet.length);
      assert.ok(first.packet.length > second.packet.length);
    });

    it('delivers directly from a single-hop route', () => {
      const packet = onion.wrap([node(0).hop], destination, payload);
      const peeled = expectDeliver(onion.peel(packet, node(0).keys));
      assert.equal(peeled.destination.gateway, destination.gateway);
      assert.deepEqual(peeled.destination.recipient, destination.recipient);
      assert.deepEqual(peeled.payload, payload);
    });

    it('ignores per-hop delays: it does not carry them, and peel reports none', () => {
      const delayed = route.map((hop, i) => ({ ...hop, delayMs: 100 * (i + 1) }));
      const plainSize = onion.wrap(route, destination, payload).length;
      const packet = onion.wrap(delayed, destination, payload);
      assert.equal(packet.length, plainSize);
      const first = expectForward(onion.peel(packet, node(0).keys));
      assert.equal(first.delayMs, undefined);
      const second = expectForward(onion.peel(first.packet, node(1).keys));
      const exit = expectDeliver(onion.peel(second.packet, node(2).keys));
      assert.equal(exit.delayMs, undefined);
      assert.deepEqual(exit.payload, payload);
    });

    it('carries an empty payload and binary payload bytes unchanged', () => {
      for (const body of [new Uint8Array(0), Uint8Array.from({ length: 2048 }, (_, i) => (i * 7) % 256)]) {
        const packet = onion.wrap(route, destination, body);
        const first = expectForward(onion.peel(packet, node(0).keys));
        const second = expectForward(onion.peel(first.packet, node(1).keys));
        const third = expectDeliver(onion.peel(second.packet, node(2).keys));
        assert.deepEqual(third.payload, body);
      }
    });

    it('names next hops whose ids are non-ASCII UTF-8 and exactly the maximum length in bytes', () => {
      const longest = makeNode('n'.repeat(MAX_NODE_ID_BYTES));
      const accented = makeNode('nœud-é');
      const packet = onion.wrap([node(0).hop, longest.hop, accented.hop], destination, payload);
      const first = expectForward(onion.peel(packet, node(0).keys));
      assert.equal(first.nextHop, longest.hop.id);
      const second = expectForward(onion.peel(first.packet, longest.keys));
      assert.equal(second.nextHop, accented.hop.id);
      assert.deepEqual(expectDeliver(onion.peel(second.packet, accented.keys)).payload, payload);
    });

    it('seals each wrap afresh, so two wraps of the same message differ', () => {
      const a = onion.wrap(route, destination, payload);
      const b = onion.wrap(route, destination, payload);
      assert.equal(a.length, b.length);
      assert.notDeepEqual(a, b);
    });
  });

  describe('tampered packets', () => {
    it('rejects a packet with a flipped byte at the first, middle or last position as undecryptable', () => {
      const packet = onion.wrap(route, destination, payload);
      for (const index of [0, 1, SEAL_OVERHEAD_BYTES - 1, SEAL_OVERHEAD_BYTES, packet.length >> 1, packet.length - 1]) {
        rejects(() => onion.peel(flipped(packet, index), node(0).keys), 'undecryptable', /does not open/);
      }
    });

    it('rejects an inner packet altered in transit at the next hop', () => {
      const packet = onion.wrap(route, destination, payload);
      const first = expectForward(onion.peel(packet, node(0).keys));
      for (const index of [0, first.packet.length >> 1, first.packet.length - 1]) {
        rejects(() => onion.peel(flipped(first.packet, index), node(1).keys), 'undecryptable', /does not open/);
      }
    });
  });

  describe('truncated packets', () => {
    it('rejects packets no longer than the seal overhead as malformed, naming their length', () => {
      const packet = onion.wrap(route, destination, payload);
      for (const length of [0, 1, SEAL_OVERHEAD_BYTES - 1, SEAL_OVERHEAD_BYTES]) {
        rejects(
          () => onion.peel(packet.subarray(0, length), node(0).keys),
          'malformed',
          new RegExp(`packet of ${length} bytes is shorter than one layer`),
        );
      }
    });

    it('rejects packets cut short after the seal overhead as undecryptable', () => {
      const packet = onion.wrap(route, destination, payload);
      for (const length of [SEAL_OVERHEAD_BYTES + 1, packet.length >> 1, packet.length - 1]) {
        rejects(() => onion.peel(packet.subarray(0, length), node(0).keys), 'undecryptable', /does not open/);
      }
    });

    it('rejects a packet with bytes appended as undecryptable', () => {
      const packet = onion.wrap(route, destination, payload);
      rejects(() => onion.peel(concat(packet, [0]), node(0).keys), 'undecryptable', /does not open/);
    });
  });

  describe('misaddressed packets', () => {
    it('rejects a packet peeled with another node key', () => {
      const packet = onion.wrap(route, destination, payload);
      rejects(() => onion.peel(packet, node(1).keys), 'undecryptable', /wrong node/);
      rejects(() => onion.peel(packet, node(2).keys), 'undecryptable', /wrong node/);
      rejects(() => onion.peel(packet, generateKeyPair()), 'undecryptable', /wrong node/);
    });

    it('rejects hop 2 packet presented at hop 1, and hop 3 packet at hop 2', () => {
      const packet = onion.wrap(route, destination, payload);
      const first = expectForward(onion.peel(packet, node(0).keys));
      const second = expectForward(onion.peel(first.packet, node(1).keys));
      rejects(() => onion.peel(first.packet, node(0).keys), 'undecryptable', /wrong node/);
      rejects(() => onion.peel(second.packet, node(1).keys), 'undecryptable', /wrong node/);
    });

    it('rejects a key pair whose public half does not belong to its private half', () => {
      const packet = onion.wrap(route, destination, payload);
      const mismatched: KeyPair = { publicKey: node(0).keys.publicKey, privateKey: node(1).keys.privateKey };
      rejects(() => onion.peel(packet, mismatched), 'undecryptable', /wrong node/);
    });
  });

  describe('layers that decrypt but are malformed', () => {
    let keys: KeyPair;
    const gateway = utf8.encode('http://gw');
    const innerPacket = new Uint8Array(SEAL_OVERHEAD_BYTES + 1);

    before(() => {
      keys = node(0).keys;
    });

    function peelLayer(layer: Uint8Array | readonly number[]): Peeled {
      return onion.peel(seal(layer instanceof Uint8Array ? layer : Uint8Array.from(layer), keys.publicKey), keys);
    }

    it('accepts the hand-built layers these cases are derived from', () => {
      const forward = expectForward(peelLayer(concat([0x01, 2], utf8.encode('n2'), innerPacket)));
      assert.equal(forward.nextHop, 'n2');
      assert.deepEqual(forward.packet, innerPacket);

      const recipient = new Uint8Array(X25519_KEY_BYTES).fill(9);
      const deliver = expectDeliver(peelLayer(concat([0x02, 0, gateway.length], gateway, recipient, [1, 2, 3])));
      assert.equal(deliver.destination.gateway, 'http://gw');
      assert.deepEqual(deliver.destination.recipient, recipient);
      assert.deepEqual(deliver.payload, Uint8Array.from([1, 2, 3]));
    });

    it('rejects an unknown layer kind, naming it', () => {
      rejects(() => peelLayer([0x07]), 'malformed', /unknown layer kind 7/);
      rejects(() => peelLayer([0x00, 1, 2, 3]), 'malformed', /unknown layer kind 0/);
      rejects(() => peelLayer([0xff]), 'malformed', /unknown layer kind 255/);
    });

    it('rejects a forward layer whose id length runs past its end', () => {
      rejects(() => peelLayer([0x01]), 'malformed', /shorter than its next-hop id/);
      rejects(() => peelLayer(concat([0x01, 10], utf8.encode('ab'))), 'malformed', /shorter than its next-hop id/);
    });

    it('rejects a forward layer with an empty next-hop id', () => {
      rejects(() => peelLayer(concat([0x01, 0], innerPacket)), 'malformed', /shorter than its next-hop id/);
    });

    it('rejects a forward layer whose next-hop id is not UTF-8', () => {
      rejects(
        () => peelLayer(concat([0x01, 2, 0xff, 0xfe], innerPacket)),
        'malformed',
        /next-hop id is not valid UTF-8/,
      );
    });

    it('rejects a forward layer that carries no inner packet, or one too short to be a layer', () => {
      rejects(() => peelLayer(concat([0x01, 2], utf8.encode('n2'))), 'malformed', /carries no inner packet/);
      rejects(
        () => peelLayer(concat([0x01, 2], utf8.encode('n2'), new Uint8Array(SEAL_OVERHEAD_BYTES))),
        'malformed',
        /carries no inner packet/,
      );
    });

    it('rejects a deliver layer too short for its gateway length', () => {
      rejects(() => peelLayer([0x02]), 'malformed', /deliver layer is truncated/);
      rejects(() => peelLayer([0x02, 0]), 'malformed', /deliver layer is truncated/);
    });

    it('rejects a deliver layer shorter than its gateway id and recipient', () => {
      const recipient = new Uint8Array(X25519_KEY_BYTES);
      rejects(
        () => peelLayer(concat([0x02, 0, gateway.length], gateway, recipient.subarray(1))),
        'malformed',
        /deliver layer is shorter than its destination/,
      );
      rejects(
        () => peelLayer(concat([0x02, 0x01, 0x00], gateway, recipient)),
        'malformed',
        /deliver layer is shorter than its destination/,
      );
    });

    it('rejects a deliver layer with an empty gateway id', () => {
      rejects(
        () => peelLayer(concat([0x02, 0, 0], new Uint8Array(X25519_KEY_BYTES), [1])),
        'malformed',
        /deliver layer is shorter than its destination/,
      );
    });

    it('rejects a deliver layer whose gateway id is not UTF-8', () => {
      rejects(
        () => peelLayer(concat([0x02, 0, 2, 0xc3, 0x28], new Uint8Array(X25519_KEY_BYTES), [1])),
        'malformed',
        /gateway id is not valid UTF-8/,
      );
    });
  });

  describe('wrap input errors', () => {
    it('refuses an empty route', () => {
      assert.throws(() => onion.wrap([], destination, payload), { name: 'RangeError', message: /at least one hop/ });
    });

    it('refuses a recipient that is not a 32-byte key', () => {
      for (const length of [0, X25519_KEY_BYTES - 1, X25519_KEY_BYTES + 1]) {
        const bad = { gateway: destination.gateway, recipient: new Uint8Array(length) };
        assert.throws(() => onion.wrap(route, bad, payload), {
          name: 'RangeError',
          message: /recipient must be a 32-byte public key/,
        });
      }
    });

    it('refuses a next-hop id over 64 bytes, counting UTF-8 bytes rather than characters, and naming the id', () => {
      for (const id of ['n'.repeat(MAX_NODE_ID_BYTES + 1), 'é'.repeat(MAX_NODE_ID_BYTES / 2 + 1)]) {
        const tooLong = [node(0).hop, { id, publicKey: node(1).hop.publicKey }, node(2).hop];
        assert.throws(
          () => onion.wrap(tooLong, destination, payload),
          (error: unknown) => {
            assert.ok(error instanceof RangeError);
            assert.match(error.message, /node id must be 1\.\.64 bytes/);
            assert.ok(error.message.includes(id), 'the message names the offending id');
            return true;
          },
        );
      }
    });

    it('refuses an empty next-hop id', () => {
      const empty = [node(0).hop, { id: '', publicKey: node(1).hop.publicKey }];
      assert.throws(() => onion.wrap(empty, destination, payload), {
        name: 'RangeError',
        message: /node id must be 1\.\.64 bytes/,
      });
    });

    it('refuses an empty gateway id or one over the maximum length', () => {
      for (const gateway of ['', 'g'.repeat(MAX_GATEWAY_ID_BYTES + 1)]) {
        assert.throws(() => onion.wrap(route, { gateway, recipient: destination.recipient }, payload), {
          name: 'RangeError',
          message: new RegExp(`gateway id must be 1\\.\\.${MAX_GATEWAY_ID_BYTES} bytes`),
        });
      }
    });
  });
}
