import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair, seal } from '@mixlab/crypto';
import {
  decodeAcknowledgement,
  encodeAcknowledgement,
  MESSAGE_OVERHEAD_BYTES,
  newMessageId,
  openMessage,
  sealMessage,
} from './message.ts';

describe('message', () => {
  let keys: KeyPair;
  before(async () => {
    await cryptoReady();
    keys = generateKeyPair();
  });

  it('round-trips id, send time and body, without a reply block', () => {
    const message = { id: newMessageId(), sentAt: 1_795_000_000_123.5, body: new TextEncoder().encode('hi') };
    const sealed = sealMessage(message, keys.publicKey);
    assert.equal(sealed.length, MESSAGE_OVERHEAD_BYTES + 2);
    const opened = openMessage(sealed, keys);
    assert.equal(opened.id, message.id);
    assert.equal(opened.sentAt, message.sentAt);
    assert.deepEqual(opened.body, message.body);
    assert.equal(opened.replyBlock, undefined);
    assert.equal(opened.kind, 'message');
  });

  it('marks loop cover, which only the recipient (the sender itself) can see', () => {
    const loop = { id: newMessageId(), sentAt: 5, body: new Uint8Array(8), kind: 'loop' as const };
    const sealed = sealMessage(loop, keys.publicKey);
    assert.equal(sealed.length, MESSAGE_OVERHEAD_BYTES + 8, 'the same size as a message of that body');
    assert.equal(openMessage(sealed, keys).kind, 'loop');
  });

  it('carries a reply block beside the body', () => {
    const replyBlock = Uint8Array.from({ length: 747 }, (_, i) => i % 251);
    const body = new Uint8Array([1, 2, 3]);
    const opened = openMessage(sealMessage({ id: newMessageId(), sentAt: 0, body, replyBlock }, keys.publicKey), keys);
    assert.deepEqual(opened.replyBlock, replyBlock);
    assert.deepEqual(opened.body, body);
  });

  it('pads to a given sealed size, so that messages of every length look alike', () => {
    const replyBlock = new Uint8Array(747).fill(7);
    const sizes = [0, 1, 500, 1100].map((length) => {
      const body = Uint8Array.from({ length }, (_, i) => (i * 13) % 256);
      const sealed = sealMessage({ id: newMessageId(), sentAt: 0, body, replyBlock }, keys.publicKey, 1_991);
      const opened = openMessage(sealed, keys);
      assert.deepEqual(opened.body, body, 'the body, without the padding');
      assert.deepEqual(opened.replyBlock, replyBlock);
      return sealed.length;
    });
    assert.deepEqual(sizes, [1_991, 1_991, 1_991, 1_991]);
  });

  it('refuses to pad a message that does not fit, saying how large it is', () => {
    const body = new Uint8Array(1_991 - MESSAGE_OVERHEAD_BYTES + 1);
    assert.throws(() => sealMessage({ id: newMessageId(), sentAt: 0, body }, keys.publicKey, 1_991), {
      name: 'RangeError',
      message: `a message of ${body.length} bytes seals to 1992 bytes, more than the 1991 a packet carries`,
    });
    const fits = body.subarray(1);
    assert.equal(sealMessage({ id: newMessageId(), sentAt: 0, body: fits }, keys.publicKey, 1_991).length, 1_991);
  });

  it('refuses a body length that runs past the end', () => {
    // A sender claiming more body than it sealed gets an error, never bytes from elsewhere.
    const plain = new Uint8Array(32 + 4);
    plain[0] = 3;
    new DataView(plain.buffer).setUint32(28, 5);
    assert.throws(() => openMessage(seal(plain, keys.publicKey), keys), /shorter than its reply block and body/);
    new DataView(plain.buffer).setUint32(28, 4);
    assert.equal(openMessage(seal(plain, keys.publicKey), keys).body.length, 4);
  });

  it('cannot be opened with another key, or once altered', () => {
    const sealed = sealMessage({ id: newMessageId(), sentAt: 0, body: new Uint8Array(4) }, keys.publicKey);
    assert.throws(() => openMessage(sealed, generateKeyPair()), /does not open with this key/);
    sealed[60] = (sealed[60] as number) ^ 1;
    assert.throws(() => openMessage(sealed, keys), /does not open with this key/);
  });

  it('encodes an acknowledgement as 0x01 and the message id, and reads nothing else as one', () => {
    const id = newMessageId();
    const ack = encodeAcknowledgement(id);
    assert.equal(ack.length, 17);
    assert.equal(ack[0], 1);
    assert.equal(decodeAcknowledgement(ack), id);
    assert.equal(decodeAcknowledgement(ack.subarray(0, 16)), undefined);
    assert.equal(decodeAcknowledgement(Uint8Array.of(2, ...ack.subarray(1))), undefined);
  });
});
