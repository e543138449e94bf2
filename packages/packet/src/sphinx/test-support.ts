/**
 * Helpers the Sphinx tests share: routes of fresh nodes, carrying a packet along one, bit flips,
 * reading a test vector's routing slots.
 */
import assert from 'node:assert/strict';
import { chacha20Xor, generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { PacketError, type PacketErrorReason, type Peeled, type RouteHop } from '../packet-format.ts';
import { createGeometry } from './geometry.ts';
import type { SphinxFormat } from './sphinx.ts';
import { hex, type VectorCase } from './vectors.ts';

export interface Node {
  readonly id: string;
  readonly keys: KeyPair;
}

export function nodes(count: number): Node[] {
  return Array.from({ length: count }, (_, i) => ({ id: `mix-${i}.test`, keys: generateKeyPair() }));
}

export function route(path: readonly Node[]): RouteHop[] {
  return path.map((node) => ({ id: node.id, publicKey: node.keys.publicKey }));
}

/** Peels a packet along the path; returns every packet seen on a link and the last hop's result. */
export function travel(
  format: SphinxFormat,
  path: readonly Node[],
  packet: Uint8Array,
): { links: Uint8Array[]; last: Peeled } {
  const links = [packet];
  for (let i = 0; i < path.length; i++) {
    const peeled = format.peel(links[i] as Uint8Array, (path[i] as Node).keys);
    if (i === path.length - 1) return { links, last: peeled };
    assert.ok(peeled.kind === 'forward', `hop ${i} forwards`);
    assert.equal(peeled.nextHop, (path[i + 1] as Node).id);
    links.push(peeled.packet);
  }
  throw new Error('a path needs at least one node');
}

/** Peels along the path, returning every hop's result (unlike travel, it checks nothing). */
export function peelAll(format: SphinxFormat, path: readonly Node[], packet: Uint8Array): Peeled[] {
  const results: Peeled[] = [];
  let current = packet;
  for (const node of path) {
    const peeled = format.peel(current, node.keys);
    results.push(peeled);
    if (peeled.kind === 'forward') current = peeled.packet;
  }
  return results;
}

export function flipped(bytes: Uint8Array, byte: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[byte] = (copy[byte] as number) ^ (1 << bit);
  return copy;
}

export function rejects(fn: () => unknown, reason: PacketErrorReason, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PacketError, `expected PacketError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/**
 * Every hop's routing slot in a vector case (forward or reply), decrypted with the hop's routing
 * key and read by the layout in docs/sphinx.md, after checking what all but the exit's share:
 * flag (1) | delay (u32 BE ms, 4) as route[i] set it and hop i peeled it | body (97), where a
 * forward body is id length (1) | next id (64, zero padded) | next MAC = the next link's gamma.
 */
export function vectorSlots(vector: Pick<VectorCase, 'geometry' | 'route' | 'packet' | 'hops'>): Uint8Array[] {
  const g = createGeometry(vector.geometry);
  const n = vector.route.length;
  assert.equal(g.perHopRoutingInfoBytes, 102);
  const links = [hex(vector.packet), ...vector.hops.slice(0, n - 1).map((hop) => hex(hop.packet ?? ''))];
  const slots = vector.hops.map((hop, i) =>
    chacha20Xor((links[i] as Uint8Array).subarray(32, 32 + 102), hex(hop.routingKey)),
  );
  slots.forEach((slot, i) => {
    const delay = new DataView(slot.buffer, slot.byteOffset, slot.byteLength).getUint32(1);
    assert.equal(delay, vector.route[i]?.delayMs ?? 0, `hop ${i} delay`);
    assert.equal(vector.hops[i]?.delayMs, delay, `hop ${i} peeled delay`);
    if (i === n - 1) return;
    const next = new TextEncoder().encode(vector.route[i + 1]?.id);
    assert.equal(slot[0], 0x01);
    assert.equal(slot[5], next.length);
    assert.deepEqual(slot.subarray(6, 6 + next.length), next);
    assert.ok(slot.subarray(6 + next.length, 70).every((b) => b === 0));
    assert.deepEqual(slot.subarray(70), (links[i + 1] as Uint8Array).subarray(g.macOffset, g.payloadOffset));
  });
  return slots;
}
