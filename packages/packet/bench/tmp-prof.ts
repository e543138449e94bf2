import { cryptoReady, generateKeyPair, randomBytes } from '@mixlab/crypto';
import { createSphinx } from '../src/sphinx/sphinx.ts';

await cryptoReady();
const nodes = Array.from({ length: 3 }, (_, i) => ({ id: `mix-${i}`, keys: generateKeyPair() }));
const sphinx = createSphinx();
const dest = { gateway: 'http://gateway-1:8080', recipient: generateKeyPair().publicKey };
const msg = randomBytes(1024);
const route = nodes.map((n) => ({ id: n.id, publicKey: n.keys.publicKey }));
const t0 = performance.now();
let n = 0;
while (performance.now() - t0 < 3000) {
  sphinx.wrap(route, dest, msg);
  n++;
}
console.log((((performance.now() - t0) * 1000) / n).toFixed(0), 'us per wrap');
