import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { CRYPTO_BACKENDS, type CryptoBackendName, toHex, useCryptoBackend } from '@mixlab/crypto';
import { createGeometry } from './geometry.ts';
import { lionessDecrypt, lionessEncrypt } from './lioness.ts';
import {
  computeReplyCase,
  generateReplyVectors,
  REPLY_VECTORS_PATH,
  type ReplyVectorCase,
  type ReplyVectorFile,
} from './reply-vectors.ts';
import { vectorSlots } from './test-support.ts';
import { hex } from './vectors.ts';

const file = JSON.parse(readFileSync(REPLY_VECTORS_PATH, 'utf8')) as ReplyVectorFile;

for (const backend of CRYPTO_BACKENDS) {
  describe(`sphinx reply test vectors (test-vectors/sphinx-reply.json), ${backend} backend`, () => replySuite(backend));
}

function replySuite(backend: CryptoBackendName): void {
  before(() => useCryptoBackend(backend));

  it('has the cases it promises: 1, 3 and 5 hops, delays on some', () => {
    assert.deepEqual(
      file.cases.map((c) => c.route.length),
      [1, 3, 5],
    );
    assert.ok(file.cases.some((c) => c.route.some((hop) => (hop.delayMs ?? 0) > 0)));
    assert.ok(file.cases.some((c) => c.route.every((hop) => hop.delayMs === undefined)));
  });

  for (const vector of file.cases) {
    it(`recomputes "${vector.name}" byte for byte from its keys and randomness`, () => {
      const { name, geometry, route, destination, message, randomness } = vector;
      const computed = computeReplyCase({ name, geometry, route, destination, message, randomness });
      assert.equal(computed.block, vector.block, 'reply block');
      assert.deepEqual(computed.secret, vector.secret, 'secret');
      assert.equal(computed.firstHop, vector.firstHop);
      assert.equal(computed.packet, vector.packet, 'first-hop packet');
      assert.equal(computed.hops.length, vector.hops.length);
      computed.hops.forEach((hop, i) => {
        assert.deepEqual(hop, vector.hops[i], `hop ${i}`);
      });
      assert.equal(computed.replyId, vector.replyId);
      assert.equal(computed.replyId, vector.secret.id);
      assert.equal(computed.opened, vector.message);
      assert.equal(vector.opened, vector.message);
    });
  }

  for (const vector of file.cases) {
    it(`follows the documented layouts in "${vector.name}" (block, slots with delays, slot 0x03, reply payload)`, () => {
      checkLayouts(vector);
    });
  }

  it('matches what the generator writes (inputs included)', () => {
    assert.deepEqual(generateReplyVectors(), file);
  });
}

/** Reads the vector's bytes by the layouts in docs/sphinx.md alone, with the primitives, not with createSphinx. */
function checkLayouts(vector: ReplyVectorCase): void {
  const g = createGeometry(vector.geometry);
  const n = vector.route.length;
  const block = hex(vector.block);
  const keys = hex(vector.secret.keys);
  const packet = hex(vector.packet);
  assert.equal(block.length, 1 + 64 + g.headerBytes + 128);
  // block = first-hop id length | id (64, zero padded) | header | replier key
  const first = vector.route[0]?.id ?? '';
  assert.equal(block[0], first.length);
  assert.equal(new TextDecoder().decode(block.subarray(1, 1 + first.length)), first);
  assert.ok(block.subarray(1 + first.length, 65).every((b) => b === 0));
  assert.deepEqual(block.subarray(65, 65 + g.headerBytes), packet.subarray(0, g.headerBytes));
  // secret keys = replier key | hop payload keys in route order
  assert.equal(keys.length, (n + 1) * 128);
  assert.deepEqual(keys.subarray(0, 128), block.subarray(65 + g.headerBytes));
  vector.hops.forEach((hop, i) => {
    assert.equal(toHex(keys.subarray((i + 1) * 128, (i + 2) * 128)), hop.payloadKey);
  });
  // every hop's slot (P = 102): flag | delay | body, forward bodies checked there
  const slots = vectorSlots(vector);
  // the exit's slot: flag 3 | delay | gateway length | gateway (30) | recipient (32) | reply id (16) | 0^18
  const exit = vector.hops[n - 1];
  assert.ok(exit);
  const slot = slots[n - 1] as Uint8Array;
  const gateway = new TextEncoder().encode(vector.destination.gateway);
  assert.equal(slot[0], 0x03);
  assert.equal(slot[5], gateway.length);
  assert.deepEqual(slot.subarray(6, 6 + gateway.length), gateway);
  assert.ok(slot.subarray(6 + gateway.length, 36).every((b) => b === 0));
  assert.equal(toHex(slot.subarray(36, 68)), vector.destination.recipient);
  assert.equal(toHex(slot.subarray(68, 84)), vector.secret.id);
  assert.ok(slot.subarray(84).every((b) => b === 0));
  assert.equal(exit.gateway, vector.destination.gateway);
  // delivered = reply id | payload; undo the hops' decryptions, then the replier's encryption
  const delivered = hex(exit.payload ?? '');
  assert.equal(delivered.length, 16 + g.payloadBytes);
  assert.equal(toHex(delivered.subarray(0, 16)), vector.secret.id);
  const payload = delivered.slice(16);
  for (let i = n; i >= 1; i--) lionessEncrypt(keys.subarray(i * 128, (i + 1) * 128), payload, payload);
  lionessDecrypt(keys.subarray(0, 128), payload, payload);
  const message = hex(vector.message);
  assert.ok(
    payload.subarray(0, 16).every((b) => b === 0),
    'authenticator',
  );
  assert.equal(new DataView(payload.buffer).getUint32(16), message.length);
  assert.deepEqual(payload.subarray(20, 20 + message.length), message);
  assert.ok(payload.subarray(20 + message.length).every((b) => b === 0));
  // and the replier's packet payload is that plaintext under the replier key
  assert.deepEqual(lionessEncrypt(keys.subarray(0, 128), payload), packet.subarray(g.payloadOffset));
}
