/**
 * What a link box costs per request: seal at the sender and open at the receiver (nonce cache
 * included), for requests of 1 and of 100 Sphinx packets, beside one X25519 (the bound of a
 * Sphinx hop is two) and one shared-key computation (what the per-peer cache saves on every
 * request), in 50 ms slices interleaved so that load from other processes hits all alike.
 */
import { loadavg } from 'node:os';
import {
  boxSharedKey,
  cryptoBackend,
  cryptoReady,
  generateSigningKeyPair,
  randomBytes,
  signPublicKeyToX25519,
  signSecretKeyToX25519,
  toHex,
  x25519,
} from '@mixlab/crypto';
import { sphinx } from '@mixlab/packet';
import { LinkIdentity, LinkNonces, openLinkBox, sealLinkBox } from '../src/link-box.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const FRAMED = sphinx.geometry.packetBytes + 4;

await cryptoReady();
const [gatewayKeys, nodeKeys] = [generateSigningKeyPair(), generateSigningKeyPair()];
const gateway = new LinkIdentity('gateway-1', gatewayKeys);
const node = new LinkIdentity('mix-1-0123456789ab', nodeKeys);
const nodeKey = toHex(nodeKeys.publicKey);
const gatewayKey = toHex(gatewayKeys.publicKey);
const nonces = new LinkNonces(30_000, 1_000_000);

/** One seal and one open of a request of `packets` packets. */
function linkRoundTrip(packets: number): () => void {
  const body = randomBytes(packets * FRAMED);
  return () => {
    const now = Date.now();
    const box = sealLinkBox({ sender: gateway, receiverId: node.id, receiverIdentityKey: nodeKey, now, body });
    const verdict = openLinkBox({ receiver: node, box, senderIdentityKey: gatewayKey, now, nonces });
    if (!verdict.ok) throw new Error(`the bench box was refused: ${verdict.message}`);
  };
}

const scalar = randomBytes(32);
const point = x25519(randomBytes(32), new Uint8Array(32).fill(9));
const nodePrivate = signSecretKeyToX25519(nodeKeys.secretKey);
const cases: [string, () => void][] = [
  ['1 X25519', () => x25519(scalar, point)],
  [
    'shared key of a new peer (Ed25519 to X25519, beforenm): once per peer',
    () => boxSharedKey(signPublicKeyToX25519(gatewayKeys.publicKey), nodePrivate),
  ],
  ['link box, 1 packet: seal + open', linkRoundTrip(1)],
  ['link box, 100 packets: seal + open', linkRoundTrip(100)],
];

const ops = cases.map(() => 0);
const ms = cases.map(() => 0);
const deadline = performance.now() + SECONDS * 1000;
while (performance.now() < deadline) {
  for (const [i, [, run]] of cases.entries()) {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < 50) {
      run();
      n++;
    }
    ops[i] = (ops[i] as number) + n;
    ms[i] = (ms[i] as number) + performance.now() - start;
  }
}
const micros = (i: number) => ((ms[i] as number) * 1000) / (ops[i] as number);
console.log(
  `link boxes (crypto backend ${cryptoBackend()}, load average ${loadavg()[0]?.toFixed(1)}, ${SECONDS} s interleaved)`,
);
for (const [i, [name]] of cases.entries()) {
  const vsX25519 = micros(i) / micros(0);
  console.log(`  ${name.padEnd(72)} ${micros(i).toFixed(1).padStart(8)} µs  ${vsX25519.toFixed(2)}× one X25519`);
}
console.log(
  `  per packet in a request of 100: ${(micros(3) / 100).toFixed(2)} µs, ` +
    `${((micros(3) / 100 / (2 * micros(0))) * 100).toFixed(1)}% of a Sphinx hop's bound (2 X25519)`,
);
