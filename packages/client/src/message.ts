/**
 * What a recipient reads, sealed end to end to its address so that neither the
 * exit node nor the gateway can read it:
 *   version (1) = 1 | message id (16) | sent at, ms since the epoch (f64 BE) | body
 */
import { type KeyPair, openSealed, randomBytes, seal, toHex } from '@mixlab/crypto';

const VERSION = 1;
const HEADER_BYTES = 1 + 16 + 8;

export interface Message {
  /** 32 hex characters, chosen by the sender; lets a recipient spot duplicates. */
  readonly id: string;
  readonly sentAt: number;
  readonly body: Uint8Array;
}

export function newMessage(body: Uint8Array, sentAt: number): Message {
  return { id: toHex(randomBytes(16)), sentAt, body };
}

export function sealMessage(message: Message, recipient: Uint8Array): Uint8Array {
  const plain = new Uint8Array(HEADER_BYTES + message.body.length);
  plain[0] = VERSION;
  plain.set(Buffer.from(message.id, 'hex'), 1);
  new DataView(plain.buffer).setFloat64(17, message.sentAt);
  plain.set(message.body, HEADER_BYTES);
  return seal(plain, recipient);
}

/** Opens a sealed message; throws an Error saying why it cannot be read. */
export function openMessage(sealed: Uint8Array, keys: KeyPair): Message {
  const plain = openSealed(sealed, keys);
  if (!plain) throw new Error('message does not open with this key (not for us, or altered)');
  if (plain.length < HEADER_BYTES || plain[0] !== VERSION) throw new Error('message has an unknown layout');
  return {
    id: toHex(plain.subarray(1, 17)),
    sentAt: new DataView(plain.buffer, plain.byteOffset).getFloat64(17),
    body: plain.subarray(HEADER_BYTES),
  };
}
