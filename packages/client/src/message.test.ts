import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair, openSealed, seal } from '@mixlab/crypto';
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

  it('seals no send time by default: the plaintext is version, kind, flags, id, lengths, body', () => {
    const message = { id: newMessageId(), body: new TextEncoder().encode('hi') };
    const sealed = sealMessage(message, keys.publicKey);
    assert.equal(sealed.length, MESSAGE_OVERHEAD_BYTES + 2);
    const plain = openSealed(sealed, keys) as Uint8Array;
    const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    assert.equal(plain.length, 1 + 1 + 1 + 16 + 2 + 4 + 2, 'no room for a time anywhere');
    assert.deepEqual([plain[0], plain[1], plain[2]], [4, 0, 0], 'v4, a message, no flags');
    assert.equal(Buffer.from(plain.subarray(3, 19)).toString('hex'), message.id);
    assert.equal(view.getUint16(19), 0, 'no reply block');
    assert.equal(view.getUint32(21), 2, 'body length right after the id');
    assert.deepEqual(plain.subarray(25), message.body);
    const opened = openMessage(sealed, keys);
    assert.equal(opened.id, message.id);
    assert.equal(opened.sentAt, undefined);
    assert.deepEqual(opened.body, message.body);
    assert.equal(opened.replyBlock, undefined);
    assert.equal(opened.kind, 'message');
  });

  it('carries the send time only when the sender reveals it, flagged, right after the id', () => {
    const message = { id: newMessageId(), sentAt: 1_795_000_000_123.5, body: new TextEncoder().encode('hi') };
    const sealed = sealMessage(message, keys.publicKey);
    assert.equal(sealed.length, MESSAGE_OVERHEAD_BYTES + 8 + 2);
    const plain = openSealed(sealed, keys) as Uint8Array;
    const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
    assert.equal(plain[2], 1, 'the send-time flag');
    assert.equal(view.getFloat64(19), message.sentAt);
    assert.equal(view.getUint32(29), 2);
    const opened = openMessage(sealed, keys);
    assert.equal(opened.sentAt, message.sentAt);
    assert.deepEqual(opened.body, message.body);
  });

  it('refuses layout v3 (which always carried a send time) and unknown flags, saying so', () => {
    const v3 = new Uint8Array(32 + 2);
    v3[0] = 3;
    assert.throws(() => openMessage(seal(v3, keys.publicKey), keys), /layout v3.*reads only v4/);
    const plain = openSealed(sealMessage({ id: newMessageId(), body: new Uint8Array(2) }, keys.publicKey), keys);
    (plain as Uint8Array)[2] = 2;
    assert.throws(() => openMessage(seal(plain as Uint8Array, keys.publicKey), keys), /unknown flags 2/);
  });

  it('marks loop cover, which only the recipient (the sender itself) can see', () => {
    const loop = { id: newMessageId(), body: new Uint8Array(8), kind: 'loop' as const };
    const sealed = sealMessage(loop, keys.publicKey);
    assert.equal(sealed.length, MESSAGE_OVERHEAD_BYTES + 8, 'the same size as a message of that body');
    assert.equal(openMessage(sealed, keys).kind, 'loop');
  });

  it('carries a reply block beside the body', () => {
    const replyBlock = Uint8Array.from({ length: 747 }, (_, i) => i % 251);
    const body = new Uint8Array([1, 2, 3]);
    const opened = openMessage(sealMessage({ id: newMessageId(), body, replyBlock }, keys.publicKey), keys);
    assert.deepEqual(opened.replyBlock, replyBlock);
    assert.deepEqual(opened.body, body);
  });

  it('pads to a given sealed size, so that messages of every length look alike', () => {
    const replyBlock = new Uint8Array(747).fill(7);
    const sizes = [0, 1, 500, 1100].map((length) => {
      const body = Uint8Array.from({ length }, (_, i) => (i * 13) % 256);
      const sealed = sealMessage({ id: newMessageId(), body, replyBlock }, keys.publicKey, 1_991);
      const opened = openMessage(sealed, keys);
      assert.deepEqual(opened.body, body, 'the body, without the padding');
      assert.deepEqual(opened.replyBlock, replyBlock);
      return sealed.length;
    });
    assert.deepEqual(sizes, [1_991, 1_991, 1_991, 1_991]);
  });

  it('refuses to pad a message that does not fit, saying how large it is', () => {
    const body = new Uint8Array(1_991 - MESSAGE_OVERHEAD_BYTES + 1);
    assert.throws(() => sealMessage({ id: newMessageId(), body }, keys.publicKey, 1_991), {
      name: 'RangeError',
      message: `a message of ${body.length} bytes seals to 1992 bytes, more than the 1991 a packet carries`,
    });
    const fits = body.subarray(1);
    assert.equal(sealMessage({ id: newMessageId(), body: fits }, keys.publicKey, 1_991).length, 1_991);
  });

  it('refuses a body length that runs past the end', () => {
    // A sender claiming more body than it sealed gets an error, never bytes from elsewhere.
    const plain = new Uint8Array(25 + 4);
    plain[0] = 4;
    new DataView(plain.buffer).setUint32(21, 5);
    assert.throws(() => openMessage(seal(plain, keys.publicKey), keys), /shorter than its reply block and body/);
    new DataView(plain.buffer).setUint32(21, 4);
    assert.equal(openMessage(seal(plain, keys.publicKey), keys).body.length, 4);
  });

  it('cannot be opened with another key, or once altered', () => {
    const sealed = sealMessage({ id: newMessageId(), body: new Uint8Array(4) }, keys.publicKey);
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
