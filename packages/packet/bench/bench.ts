/**
 * Packet-format throughput on one core (this thread): the Sphinx hop beside the two
 * X25519 it costs, client wrap, reply blocks (create, wrap, open), and the onion baseline.
 * Every ratio printed is between rates measured in the same group, interleaved in 50 ms
 * slices, so load from other processes hits both alike.
 * `npm run bench` takes about 45 s; `-- --quick` about 15 s.
 */
import {
  cryptoReady,
  generateKeyPair,
  randomBytes,
  type X25519Backend,
  x25519,
  x25519Backends,
  x25519Base,
} from '@mixlab/crypto';
import { onion } from '../src/onion/onion.ts';
import type { PacketFormat, RouteHop } from '../src/packet-format.ts';
import { createSphinx } from '../src/sphinx/sphinx.ts';

const SECONDS = process.argv.includes('--quick') ? 2 : 6;
const SLICE_MS = 50;

type Op = (i: number) => unknown;

/** Runs the ops in turns of SLICE_MS for `seconds` in all; returns each op's rate per second. */
function interleaved(ops: readonly Op[], seconds = SECONDS): number[] {
  for (const op of ops) for (let i = 0; i < 50; i++) op(i); // warm up
  const counts = ops.map(() => 0);
  const times = ops.map(() => 0);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    ops.forEach((op, k) => {
      const start = performance.now();
      const stop = start + SLICE_MS;
      let n = counts[k] as number;
      let now = start;
      while (now < stop) {
        op(n++);
        now = performance.now();
      }
      counts[k] = n;
      times[k] = (times[k] as number) + (now - start);
    });
  }
  return counts.map((count, k) => (count * 1000) / (times[k] as number));
}

/** `rate` as a multiple of `baseline`'s rate (above 1: faster), for a line's note. */
function vs(rate: number, baseline: number, name: string): string {
  return `${(rate / baseline).toFixed(2)}× ${name}`;
}

function line(label: string, perSecond: number, note = ''): void {
  const rate = Math.round(perSecond).toLocaleString('en-US').padStart(8);
  console.log(`${label.padEnd(48)} ${rate} /s ${(1e6 / perSecond).toFixed(1).padStart(8)} µs  ${note}`);
}

await cryptoReady();

const nodes = Array.from({ length: 3 }, (_, i) => ({ id: `mix-${i}`, keys: generateKeyPair() }));
const route: RouteHop[] = nodes.map((n) => ({ id: n.id, publicKey: n.keys.publicKey }));
const [first, , last] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
const destination = { gateway: 'gateway-1', recipient: generateKeyPair().publicKey };
const message = randomBytes(1024);
const POOL = 64;

/** Distinct packets, so a loop never peels the same inputs twice in a row. */
function packets(format: PacketFormat): Uint8Array[] {
  return Array.from({ length: POOL }, () => format.wrap(route, destination, message));
}

/** The two X25519 of a Sphinx hop, done as the hop does them: node key × alpha, then fresh b × alpha. */
function twoX25519(backend: X25519Backend): Op {
  const nodeScalar = backend.scalar(first.keys.privateKey);
  const alphas = Array.from({ length: POOL }, () => x25519Base(randomBytes(32)));
  const blinds = Array.from({ length: POOL }, () => randomBytes(32));
  return (i) => {
    const point = backend.point(alphas[i % POOL] as Uint8Array);
    backend.multiply(nodeScalar, point);
    return backend.multiply(backend.scalar(blinds[i % POOL] as Uint8Array), point);
  };
}

console.log(`mixlab packet bench: Node ${process.version}, one thread, ${SECONDS} s per group`);
console.log(`X25519 in use (@mixlab/crypto x25519): ${x25519.name}\n`);

const rawScalar = randomBytes(32);
const rawPoint = x25519Base(randomBytes(32));
const sodium = x25519Backends.libsodium;
const node = x25519Backends.node;
const nodeScalar = node.scalar(rawScalar);
const nodePoint = node.point(rawPoint);
const [sodiumOne, nodeOne] = interleaved([
  () => sodium.multiply(sodium.scalar(rawScalar), sodium.point(rawPoint)),
  () => node.multiply(nodeScalar, nodePoint),
]);
line('1×X25519, libsodium WASM', sodiumOne as number);
line(
  '1×X25519, node:crypto, prebuilt key objects',
  nodeOne as number,
  vs(nodeOne as number, sodiumOne as number, 'libsodium'),
);
console.log('');

// Both backends in one group, so the node/libsodium hop ratio has its baseline beside it.
const backends = Object.values(x25519Backends);
const rates = interleaved(
  backends.flatMap((backend) => {
    const format = createSphinx(undefined, { x25519: backend });
    const pool = packets(format);
    return [twoX25519(backend), (i: number) => format.peel(pool[i % POOL] as Uint8Array, first.keys)];
  }),
);
const sodiumHop = rates[2 * backends.indexOf(x25519Backends.libsodium) + 1] as number;
backends.forEach((backend, k) => {
  const pair = rates[2 * k] as number;
  const hop = rates[2 * k + 1] as number;
  const note = backend.name === 'libsodium' ? '' : `, ${vs(hop, sodiumHop, 'libsodium hop')}`;
  line(`2×X25519 as a hop does them, ${backend.name}`, pair);
  line(`Sphinx hop (peel + forward), ${backend.name}`, hop, `hop/2×X25519 = ${(hop / pair).toFixed(2)}${note}`);
  const symmetric = 1e6 / hop - 1e6 / pair;
  console.log(`${''.padEnd(48)} rest of the hop (KDF, MAC, streams, LIONESS): ${symmetric.toFixed(1)} µs\n`);
});

const sphinx = createSphinx();
const exitPool = packets(sphinx).map((packet) => {
  let current = packet;
  for (const n of nodes.slice(0, 2)) {
    const peeled = sphinx.peel(current, n.keys);
    if (peeled.kind === 'forward') current = peeled.packet;
  }
  return current;
});
const firstPool = packets(sphinx);
const onionPool = packets(onion);
const [sphinxHop, sphinxExit, onionPeel] = interleaved([
  (i) => sphinx.peel(firstPool[i % POOL] as Uint8Array, first.keys),
  (i) => sphinx.peel(exitPool[i % POOL] as Uint8Array, last.keys),
  (i) => onion.peel(onionPool[i % POOL] as Uint8Array, first.keys),
]);
line('onion peel (outer of 3 layers), baseline', onionPeel as number);
line(
  `Sphinx hop (peel + forward), ${x25519.name}`,
  sphinxHop as number,
  vs(sphinxHop as number, onionPeel as number, 'onion peel'),
);
line(
  `Sphinx exit (peel + deliver), ${x25519.name}`,
  sphinxExit as number,
  vs(sphinxExit as number, onionPeel as number, 'onion peel'),
);
console.log('');
const replies = sphinx.replies;
const home = { gateway: 'gateway-1', recipient: destination.recipient };
const blocks = Array.from({ length: POOL }, () => replies.createReplyBlock(route, home));
const delivered = blocks.map(({ block }) => {
  let current = replies.wrapReply(block, message).packet;
  for (const n of nodes) {
    const peeled = sphinx.peel(current, n.keys);
    if (peeled.kind === 'deliver') return peeled.payload;
    current = peeled.packet;
  }
  throw new Error('the reply was not delivered');
});
const [sphinxWrap, createBlock, wrapReply, openReply, onionWrap] = interleaved([
  () => sphinx.wrap(route, destination, message),
  () => replies.createReplyBlock(route, home),
  (i) => replies.wrapReply((blocks[i % POOL] as (typeof blocks)[0]).block, message),
  (i) => replies.openReply((blocks[i % POOL] as (typeof blocks)[0]).secret, delivered[i % POOL] as Uint8Array),
  () => onion.wrap(route, destination, message),
]);
const wrapRate = sphinxWrap as number;
line('onion wrap, 3 hops, 1 KiB message, baseline', onionWrap as number);
line(`Sphinx wrap, 3 hops, 1 KiB message, ${x25519.name}`, wrapRate, vs(wrapRate, onionWrap as number, 'onion wrap'));
line(
  `Sphinx createReplyBlock, 3 hops, ${x25519.name}`,
  createBlock as number,
  vs(createBlock as number, wrapRate, 'Sphinx wrap'),
);
line('Sphinx wrapReply, 1 KiB message', wrapReply as number, vs(wrapReply as number, wrapRate, 'Sphinx wrap'));
line('Sphinx openReply, 3 hops', openReply as number, vs(openReply as number, wrapRate, 'Sphinx wrap'));
