/**
 * Sphinx test vectors: fixed keys and fixed randomness in, every packet on every link out.
 * `node packages/packet/src/sphinx/vectors.ts` rewrites packages/packet/test-vectors/sphinx.json;
 * vectors.test.ts recomputes the file byte for byte.
 */
import { writeFileSync } from 'node:fs';
import { blake2b, chacha20Xor, cryptoReady, fromHex, toHex, x25519, x25519Base } from '@mixlab/crypto';
import type { PacketFormat, RouteHop } from '../packet-format.ts';
import { createGeometry, type GeometryParameters, MAX_DELAY_MS } from './geometry.ts';
import { createSphinx, deriveHopKeys } from './sphinx.ts';

export const VECTORS_PATH = new URL('../../test-vectors/sphinx.json', import.meta.url);

/** One hop of a case's route; `delayMs` (absent = 0) goes in its routing slot. */
export interface VectorRouteHop {
  readonly id: string;
  readonly privateKey: string;
  readonly publicKey: string;
  readonly delayMs?: number;
}

export interface VectorCase {
  readonly name: string;
  readonly geometry: Required<GeometryParameters>;
  readonly route: readonly VectorRouteHop[];
  readonly destination: { readonly gateway: string; readonly recipient: string };
  readonly message: string;
  /** The bytes wrap draws (testVectorBytes), in order: ephemeral scalar (32), then routing padding. */
  readonly randomness: string;
  readonly packet: string;
  readonly hops: readonly VectorHop[];
}

export interface VectorHop {
  readonly sharedSecret: string;
  readonly headerMacKey: string;
  readonly routingKey: string;
  readonly blindingFactor: string;
  readonly payloadKey: string;
  readonly replayTag: string;
  /** The delay this hop read from its routing slot (peel's `delayMs`). */
  readonly delayMs: number;
  /** forward: the packet sent to the next hop; deliver: what the exit hands over. */
  readonly nextHop?: string;
  readonly packet?: string;
  readonly gateway?: string;
  readonly recipient?: string;
  readonly payload?: string;
}

export interface VectorFile {
  readonly description: string;
  readonly cases: readonly VectorCase[];
}

const utf8 = new TextEncoder();

export function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (!bytes) throw new Error(`not hex: ${text.slice(0, 16)}`);
  return bytes;
}

/** Deterministic bytes for the inputs: ChaCha20 key stream under BLAKE2b-256(label). */
export function seeded(label: string, length: number): Uint8Array {
  return chacha20Xor(new Uint8Array(length), blake2b(32, utf8.encode(label)));
}

/** The route of a case: node i is `mix-<i+1>` with a key seeded from i, and delay `delays[i]` when given. */
export function vectorRoute(hops: number, delays: readonly number[] = []): VectorCase['route'] {
  return Array.from({ length: hops }, (_, i) => {
    const privateKey = seeded(`mixlab sphinx vector node ${i}`, 32);
    const delayMs = delays[i];
    return {
      id: `mix-${i + 1}`,
      privateKey: toHex(privateKey),
      publicKey: toHex(x25519Base(privateKey)),
      ...(delayMs === undefined ? {} : { delayMs }),
    };
  });
}

/** A vector route as wrap takes it. */
function routeHops(route: VectorCase['route']): RouteHop[] {
  return route.map((hop) => ({
    id: hop.id,
    publicKey: hex(hop.publicKey),
    ...(hop.delayMs === undefined ? {} : { delayMs: hop.delayMs }),
  }));
}

/**
 * What a case (forward or reply) runs on: a Sphinx format of its geometry drawing from its
 * randomness, its route and its destination. `drewAll(what)` throws unless `what` drew every byte.
 */
export function caseSetup(input: Pick<VectorCase, 'geometry' | 'route' | 'destination' | 'randomness'>) {
  const randomness = hex(input.randomness);
  let used = 0;
  const testVectorBytes = (length: number) => {
    if (used + length > randomness.length) throw new Error('vector randomness exhausted');
    used += length;
    return randomness.slice(used - length, used);
  };
  return {
    format: createSphinx(createGeometry(input.geometry), { testVectorBytes }),
    route: routeHops(input.route),
    destination: { gateway: input.destination.gateway, recipient: hex(input.destination.recipient) },
    drewAll(what: string): void {
      if (used !== randomness.length) throw new Error(`${what} used ${used} of ${randomness.length} random bytes`);
    },
  };
}

/** Peels `packet` along `route` with the hops' private keys, recording every step. */
export function peelAlong(format: PacketFormat, route: VectorCase['route'], packet: Uint8Array): VectorHop[] {
  const hops: VectorHop[] = [];
  let current = packet;
  for (const hop of route) {
    const privateKey = hex(hop.privateKey);
    const alpha = current.subarray(0, 32);
    const sharedSecret = x25519(privateKey, alpha);
    const keys = deriveHopKeys(alpha, sharedSecret);
    const peeled = format.peel(current, { privateKey, publicKey: hex(hop.publicKey) });
    if (peeled.delayMs === undefined) throw new Error('a Sphinx peel always returns delayMs');
    const common = {
      sharedSecret: toHex(sharedSecret),
      headerMacKey: toHex(keys.headerMac),
      routingKey: toHex(keys.routing),
      blindingFactor: toHex(keys.blinding),
      payloadKey: toHex(keys.payload),
      replayTag: toHex(keys.replayTag),
      delayMs: peeled.delayMs,
    };
    if (peeled.kind === 'forward') {
      hops.push({ ...common, nextHop: peeled.nextHop, packet: toHex(peeled.packet) });
      current = peeled.packet;
    } else {
      hops.push({
        ...common,
        gateway: peeled.destination.gateway,
        recipient: toHex(peeled.destination.recipient),
        payload: toHex(peeled.payload),
      });
    }
  }
  return hops;
}

/** What building one header draws for a route of `hops`: the ephemeral scalar (32), then the routing padding. */
export function headerRandomnessBytes(geometry: Required<GeometryParameters>, hops: number): number {
  const g = createGeometry(geometry);
  return 32 + g.routingInfoBytes - hops * g.perHopRoutingInfoBytes;
}

/** The inputs of one case, derived from its name. */
function inputs(
  name: string,
  hops: number,
  geometry: Required<GeometryParameters>,
  message: string,
  delays: readonly number[] = [],
) {
  const route = vectorRoute(hops, delays);
  const recipient = x25519Base(seeded(`mixlab sphinx vector recipient ${name}`, 32));
  return {
    name,
    geometry,
    route,
    destination: { gateway: 'http://gateway-1:8080', recipient: toHex(recipient) },
    message: toHex(utf8.encode(message)),
    randomness: toHex(seeded(`mixlab sphinx vector rng ${name}`, headerRandomnessBytes(geometry, hops))),
  };
}

type VectorInputs = Omit<VectorCase, 'packet' | 'hops'>;

/** Wraps with the case's randomness and peels along its route, recording every step. */
export function computeCase(input: VectorInputs): VectorCase {
  const { format, route, destination, drewAll } = caseSetup(input);
  const packet = format.wrap(route, destination, hex(input.message));
  drewAll('wrap');
  const hops = peelAlong(format, input.route, packet);
  return { ...input, packet: toHex(packet), hops };
}

export function generateVectors(): VectorFile {
  const geometry = { maxHops: 5, payloadBytes: 2048 };
  return {
    description:
      'mixlab Sphinx v2 test vectors (docs/sphinx.md). Hex strings. randomness = what wrap draws, in order. ' +
      "route[i].delayMs (absent = 0) is the delay in hop i's routing slot; hops[i].delayMs is what hop i peeled. " +
      'Regenerate: node packages/packet/src/sphinx/vectors.ts',
    cases: [
      computeCase(inputs('one hop', 1, geometry, 'one hop')),
      computeCase(inputs('three hops', 3, geometry, 'hello over three hops', [250, 0, 1000])),
      computeCase(inputs('five hops', 5, geometry, 'hello over the longest route', [1, MAX_DELAY_MS, 0, 65536, 300])),
      computeCase(inputs('three hops, 7-hop geometry, 1 KiB payload', 3, { maxHops: 7, payloadBytes: 1024 }, 'small')),
    ],
  };
}

if (import.meta.main) {
  await cryptoReady();
  writeFileSync(VECTORS_PATH, `${JSON.stringify(generateVectors(), null, 2)}\n`);
  console.log(`wrote ${VECTORS_PATH.pathname}`);
}
