/**
 * Packet-format throughput on one core (this thread), as ratios to baselines measured in the
 * same run: the Sphinx hop and the onion peel against the fastest X25519 this process has
 * (node:crypto with prebuilt key objects or native libsodium, whichever wins here), and both
 * against the same work on the wasm backend (libsodium WebAssembly + node:crypto X25519, the
 * path before the native backend); the sender's wrap against the wrap before this change (wasm,
 * blinding factors multiplied in turn rather than merged). Rates within a
 * group are interleaved in 50 ms slices, so load from other processes hits them alike.
 * `npm run bench` takes about 40 s; `-- --quick` about 15 s.
 */
import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import {
  type CryptoBackendName,
  cryptoBackend,
  generateKeyPair,
  randomBytes,
  useCryptoBackend,
  withCryptoBackend,
  x25519,
  x25519Base,
  x25519KeyScalar,
  x25519Point,
} from '@mixlab/crypto';
import { onion } from '../src/onion/onion.ts';
import type { PacketFormat, RouteHop } from '../src/packet-format.ts';
import { createSphinx } from '../src/sphinx/sphinx.ts';

const SECONDS = process.argv.includes('--quick') ? 2 : 8;
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

/** `op` run on backend `name`. */
function on(name: CryptoBackendName, op: Op): Op {
  return (i) => withCryptoBackend(name, () => op(i));
}

function line(label: string, perSecond: number, note = ''): void {
  const rate = Math.round(perSecond).toLocaleString('en-US').padStart(8);
  console.log(`${label.padEnd(46)} ${rate} /s ${(1e6 / perSecond).toFixed(1).padStart(8)} µs  ${note}`);
}

const ratio = (value: number) => value.toFixed(2);

await useCryptoBackend('wasm');
await useCryptoBackend('native');

const nodes = Array.from({ length: 3 }, (_, i) => ({ id: `mix-${i}`, keys: generateKeyPair() }));
const route: RouteHop[] = nodes.map((n) => ({ id: n.id, publicKey: n.keys.publicKey }));
const [first, , last] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
const destination = { gateway: 'gateway-1', recipient: generateKeyPair().publicKey };
const message = randomBytes(1024);
const POOL = 64;
const sphinx = createSphinx();

/** Distinct packets, so a loop never peels the same inputs twice in a row. */
function packets(format: PacketFormat): Uint8Array[] {
  return Array.from({ length: POOL }, () => format.wrap(route, destination, message));
}

/** One X25519 each way the process can do it without per-call imports: the bound's candidates. */
const rawScalar = randomBytes(32);
const rawPoint = x25519Base(randomBytes(32));
const keyObjects = {
  privateKey: createPrivateKey({ key: Buffer.from(rawScalar), format: 'raw-private', asymmetricKeyType: 'x25519' }),
  publicKey: createPublicKey({ key: Buffer.from(rawPoint), format: 'raw-public', asymmetricKeyType: 'x25519' }),
};
const x25519Ops: Op[] = [() => diffieHellman(keyObjects), on('native', () => x25519(rawScalar, rawPoint))];

/** Reports the bound and returns the faster X25519 rate (the bound's unit). */
function bound([nodeRate, nativeRate]: number[]): number {
  const fastest = Math.max(nodeRate as number, nativeRate as number);
  line('1×X25519, node:crypto, prebuilt key objects', nodeRate as number);
  line(
    '1×X25519, native libsodium',
    nativeRate as number,
    `${ratio((nativeRate as number) / (nodeRate as number))}× node:crypto`,
  );
  return fastest;
}

/** The two X25519 of a Sphinx hop, as the hop does them on the native backend. */
const alphas = Array.from({ length: POOL }, () => x25519Base(randomBytes(32)));
const blinds = Array.from({ length: POOL }, () => randomBytes(32));
const twoX25519: Op = on('native', (i) => {
  const point = x25519Point(alphas[i % POOL] as Uint8Array);
  x25519(x25519KeyScalar(first.keys.privateKey), point);
  return x25519(blinds[i % POOL] as Uint8Array, point);
});

const load = loadavg()
  .map((value) => value.toFixed(2))
  .join(' ');
console.log(`mixlab packet bench: ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, load average ${load}`);
console.log(`one thread, ${SECONDS} s per group`);
console.log(`backend chosen at start: ${cryptoBackend()}; baselines run on the wasm backend\n`);

// Group 1: the hop against 2× the fastest X25519, and against the same hop on wasm.
const hopPool = packets(sphinx);
const hopOp = (name: CryptoBackendName): Op =>
  on(name, (i) => sphinx.peel(hopPool[i % POOL] as Uint8Array, first.keys));
const [nodeOne, nativeOne, pair, nativeHop, wasmHop] = interleaved([
  ...x25519Ops,
  twoX25519,
  hopOp('native'),
  hopOp('wasm'),
]) as [number, number, number, number, number];
const hopBound = bound([nodeOne, nativeOne]) / 2;
line('2×X25519 as a hop does them, native', pair);
line(
  'Sphinx hop (peel + forward), native',
  nativeHop,
  `${ratio(nativeHop / hopBound)} of 1/(2×fastest X25519) (goal ≥ 0.7); ${ratio(nativeHop / wasmHop)}× wasm hop`,
);
line('Sphinx hop (peel + forward), wasm', wasmHop, `${ratio(wasmHop / hopBound)} of 1/(2×fastest X25519)`);
console.log(
  `${''.padEnd(46)} rest of the native hop (KDF, MAC, streams, LIONESS): ${(1e6 / nativeHop - 1e6 / pair).toFixed(1)} µs\n`,
);

// Group 2: the onion peel (one sealed-box open) against 1× the fastest X25519; the Sphinx exit.
const onionPool = packets(onion);
const exitPool = packets(sphinx).map((packet) => {
  let current = packet;
  for (const n of nodes.slice(0, 2)) {
    const peeled = sphinx.peel(current, n.keys);
    if (peeled.kind === 'forward') current = peeled.packet;
  }
  return current;
});
const onionOp = (name: CryptoBackendName): Op =>
  on(name, (i) => onion.peel(onionPool[i % POOL] as Uint8Array, first.keys));
const [nodeOne2, nativeOne2, nativePeel, wasmPeel, nativeExit] = interleaved([
  ...x25519Ops,
  onionOp('native'),
  onionOp('wasm'),
  on('native', (i) => sphinx.peel(exitPool[i % POOL] as Uint8Array, last.keys)),
]) as [number, number, number, number, number];
const peelBound = bound([nodeOne2, nativeOne2]);
line(
  'onion peel (outer of 3 layers), native',
  nativePeel,
  `${ratio(nativePeel / peelBound)} of 1/(1×fastest X25519) (goal ≥ 0.8); ${ratio(nativePeel / wasmPeel)}× wasm peel`,
);
line('onion peel (outer of 3 layers), wasm', wasmPeel, `${ratio(wasmPeel / peelBound)} of 1/(1×fastest X25519)`);
line('Sphinx exit (peel + deliver), native', nativeExit, `${ratio(nativeExit / peelBound)} of 1/(1×fastest X25519)`);
console.log('');

// Group 3: the sender, 3 hops, 1 KiB, against the wrap before the native backend and merged
// blinding factors (wasm, one multiplication per scalar in turn): the same bytes, the old cost.
const inTurn = createSphinx(undefined, { mergeScalars: false });
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
const wrapOp = (name: CryptoBackendName, format = sphinx): Op =>
  on(name, () => format.wrap(route, destination, message));
const blockOp = (name: CryptoBackendName, format = sphinx): Op =>
  on(name, () => format.replies.createReplyBlock(route, home));
const [
  nativeWrap,
  nativeWrapInTurn,
  wasmWrap,
  nativeBlock,
  wasmBlock,
  nativeWrapReply,
  nativeOpenReply,
  nativeOnionWrap,
  wasmOnionWrap,
] = interleaved([
  wrapOp('native'),
  wrapOp('native', inTurn),
  wrapOp('wasm', inTurn),
  blockOp('native'),
  blockOp('wasm', inTurn),
  on('native', (i) => replies.wrapReply((blocks[i % POOL] as (typeof blocks)[0]).block, message)),
  on('native', (i) =>
    replies.openReply((blocks[i % POOL] as (typeof blocks)[0]).secret, delivered[i % POOL] as Uint8Array),
  ),
  on('native', () => onion.wrap(route, destination, message)),
  on('wasm', () => onion.wrap(route, destination, message)),
]) as number[] as [number, number, number, number, number, number, number, number, number];
line('Sphinx wrap, native', nativeWrap, `${ratio(nativeWrap / wasmWrap)}× the wrap before (goal ≥ 3)`);
line(
  'Sphinx wrap, native, scalars in turn',
  nativeWrapInTurn,
  `${ratio(nativeWrapInTurn / wasmWrap)}× the wrap before`,
);
line('Sphinx wrap, wasm, scalars in turn (before)', wasmWrap);
line('Sphinx createReplyBlock, native', nativeBlock, `${ratio(nativeBlock / wasmBlock)}× the one before`);
line('Sphinx createReplyBlock, wasm, in turn (before)', wasmBlock);
line('Sphinx wrapReply, native', nativeWrapReply, `${ratio(nativeWrapReply / nativeWrap)}× native wrap`);
line('Sphinx openReply, native', nativeOpenReply, `${ratio(nativeOpenReply / nativeWrap)}× native wrap`);
line('onion wrap, native', nativeOnionWrap, `${ratio(nativeOnionWrap / wasmOnionWrap)}× wasm onion wrap`);
line('onion wrap, wasm', wasmOnionWrap);
