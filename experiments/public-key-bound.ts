/**
 * The machine bound a saturation run is compared with: cores / the CPU time of one message's
 * public-key work, from its sender's wrap through the three hops to its recipient's open, at the
 * fastest X25519 this process has (@mixlab/crypto's backends, measured here, in the same run).
 * Beside it, the bound of the whole per-message packet work (wrap + 2 hops + exit + open, with
 * the symmetric crypto), as issue 11 first stated it.
 */
import { newMessageId, openMessage, sealMessage } from '@mixlab/client';
import {
  CRYPTO_BACKENDS,
  cryptoBackend,
  generateKeyPair,
  randomBytes,
  useCryptoBackend,
  withCryptoBackend,
  type X25519Point,
  type X25519Scalar,
  x25519,
  x25519Base,
  x25519Point,
  x25519Scalar,
} from '@mixlab/crypto';
import { createSphinx, defaultGeometry, type Peeled, type RouteHop } from '@mixlab/packet';

export interface PublicKeyBound {
  /** X25519 multiplications of one message: wrap (route and sealed box), every hop, the open. */
  readonly x25519PerMessage: { readonly wrap: number; readonly hops: number; readonly open: number };
  /** Microseconds per X25519 of each implementation (and libsodium's fixed-base one), and the fastest variable-base one. */
  readonly x25519Micros: Record<string, number>;
  readonly fastest: string;
  /** Public-key CPU time of one message (µs) and the bound (msg/s) on `cores`. */
  readonly publicKeyMicros: number;
  readonly cores: number;
  readonly boundPerSecond: number;
  /** Whole packet work per message (µs): wrap, hop 1, hop 2, exit, open; and its bound. */
  readonly packetMicros: { readonly wrap: number; readonly hop: number; readonly exit: number; readonly open: number };
  readonly packetBoundPerSecond: number;
  /**
   * CPU µs of one request of one packet, both sides of a link (request-cost.ts), and the bound
   * of the public-key work plus one such request per link of a message (LINKS_PER_MESSAGE).
   */
  readonly requestMicros?: number;
  readonly linksPerMessage?: number;
  readonly requestBoundPerSecond?: number;
  /** CPU µs of a bare TCP round trip of a few hundred bytes, both ends (request-cost.ts). */
  readonly roundTripMicros?: number;
}

/** One message's whole packet work (µs): the wrap, two forwarding hops, the exit and the open. */
export function packetWorkMicros({ wrap, hop, exit, open }: PublicKeyBound['packetMicros']): number {
  return wrap + 2 * hop + exit + open;
}

/** Mean µs per call of `op`, over at least `ms` milliseconds after a warm-up. */
function microsPerCall(op: (i: number) => unknown, ms = 400): number {
  for (let i = 0; i < 30; i++) op(i);
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    op(n++);
    now = performance.now();
  }
  return ((now - start) * 1000) / n;
}

/** @mixlab/crypto's X25519, counting its (variable-base) multiplications. */
function counting(): { multiply: typeof x25519; count: () => number } {
  let multiplications = 0;
  return {
    multiply: (scalar, point) => {
      multiplications++;
      return x25519(scalar, point);
    },
    count: () => multiplications,
  };
}

/**
 * The sealed box to the recipient costs two X25519 (its ephemeral key pair and the shared
 * secret) and opening it one. The Sphinx sender merges each blinding factor into one scalar, so
 * every group element of the header is one fixed-base X25519 (x25519Base): one per hop. The
 * variable-base ones are counted as the packet code runs.
 */
const SEAL_X25519 = 2;
/** Of which one (the ephemeral key pair) has the base point. */
const SEAL_BASE_X25519 = 1;
const FIXED_BASE = 'libsodium, fixed base';
const OPEN_X25519 = 1;

/** Loads every crypto backend (for timing each), then measures with the one the process had chosen. */
export async function measurePublicKeyBound(cores: number): Promise<PublicKeyBound> {
  const chosen = cryptoBackend();
  for (const backend of CRYPTO_BACKENDS) await useCryptoBackend(backend);
  await useCryptoBackend(chosen);
  return measureWithLoadedBackends(cores);
}

function measureWithLoadedBackends(cores: number): PublicKeyBound {
  const nodes = Array.from({ length: 3 }, (_, i) => ({ id: `mix-${i + 1}`, keys: generateKeyPair() }));
  const route: RouteHop[] = nodes.map((node) => ({ id: node.id, publicKey: node.keys.publicKey }));
  const recipient = generateKeyPair();
  const destination = { gateway: 'gateway-1', recipient: recipient.publicKey };

  // Count the X25519 of one message as the packet code does them.
  const HEADER_BASE_X25519 = route.length;
  const counter = counting();
  const counted = createSphinx(defaultGeometry, { multiply: counter.multiply });
  const capacity = counted.payloadCapacity(destination);
  const message = () => ({ id: newMessageId(), sentAt: Date.now(), body: new Uint8Array(32) });
  const sealed = sealMessage(message(), recipient.publicKey, capacity);
  let packet = counted.wrap(route, destination, sealed);
  const wrapCount = counter.count() + HEADER_BASE_X25519 + SEAL_X25519;
  for (const node of nodes) {
    const peeled: Peeled = counted.peel(packet, node.keys);
    if (peeled.kind === 'forward') packet = peeled.packet;
  }
  const hopCount = counter.count() - (wrapCount - HEADER_BASE_X25519 - SEAL_X25519);

  // Time one X25519 of each implementation with prepared keys, and the fixed-base one.
  const scalars = Array.from({ length: 64 }, () => randomBytes(32));
  const points = scalars.map((scalar) => x25519Base(scalar));
  const x25519Micros: Record<string, number> = {
    [FIXED_BASE]: microsPerCall((i) => x25519Base(scalars[i % 64] as Uint8Array)),
  };
  for (const backend of CRYPTO_BACKENDS) {
    x25519Micros[backend] = withCryptoBackend(backend, () => {
      const s = scalars.map((bytes) => x25519Scalar(bytes));
      const p = points.map((bytes) => x25519Point(bytes));
      return microsPerCall((i) => x25519(s[i % 64] as X25519Scalar, p[(i + 1) % 64] as X25519Point));
    });
  }
  // Fixed-base ones (the header's first element, the sealed box's ephemeral key) at the fixed-base
  // speed; every other one at the fastest variable-base implementation.
  const [fastest, fastestMicros] = CRYPTO_BACKENDS.map(
    (backend) => [backend, x25519Micros[backend] as number] as const,
  ).sort((a, b) => a[1] - b[1])[0] as [string, number];
  const perMessage = { wrap: wrapCount, hops: hopCount, open: OPEN_X25519 };
  const fixedBase = HEADER_BASE_X25519 + SEAL_BASE_X25519;
  const publicKeyMicros =
    fixedBase * (x25519Micros[FIXED_BASE] as number) +
    (perMessage.wrap + perMessage.hops + perMessage.open - fixedBase) * fastestMicros;

  // The whole packet work, as the cascade's code does it (its default X25519).
  const sphinx = createSphinx();
  const wrapped = Array.from({ length: 16 }, () =>
    sphinx.wrap(route, destination, sealMessage(message(), recipient.publicKey, capacity)),
  );
  const afterHop = (packets: Uint8Array[], hop: number) =>
    packets.map((p) => {
      const peeled = sphinx.peel(p, (nodes[hop] as (typeof nodes)[number]).keys);
      if (peeled.kind !== 'forward') throw new Error('expected a forward hop');
      return peeled.packet;
    });
  const atHop2 = afterHop(wrapped, 0);
  const atExit = afterHop(atHop2, 1);
  const packetMicros = {
    wrap: microsPerCall(() => sphinx.wrap(route, destination, sealMessage(message(), recipient.publicKey, capacity))),
    hop: microsPerCall((i) => sphinx.peel(wrapped[i % 16] as Uint8Array, (nodes[0] as (typeof nodes)[number]).keys)),
    exit: microsPerCall((i) => sphinx.peel(atExit[i % 16] as Uint8Array, (nodes[2] as (typeof nodes)[number]).keys)),
    open: microsPerCall(() => openMessage(sealed, recipient)),
  };
  const packetTotal = packetWorkMicros(packetMicros);
  return {
    x25519PerMessage: perMessage,
    x25519Micros,
    fastest,
    publicKeyMicros,
    cores,
    boundPerSecond: (cores * 1e6) / publicKeyMicros,
    packetMicros,
    packetBoundPerSecond: (cores * 1e6) / packetTotal,
  };
}
