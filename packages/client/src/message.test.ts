import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady, generateKeyPair, type KeyPair } from '@mixlab/crypto';
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
