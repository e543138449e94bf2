/** Helpers the Sphinx tests share: routes of fresh nodes, carrying a packet along one, bit flips. */
import assert from 'node:assert/strict';
import { generateKeyPair, type KeyPair } from '@mixlab/crypto';
import { PacketError, type PacketErrorReason, type Peeled, type RouteHop } from '../packet-format.ts';
import type { SphinxFormat } from './sphinx.ts';

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
