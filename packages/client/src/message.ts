/**
 * What a recipient reads, sealed end to end to its address so that neither the
 * exit node nor the gateway can read it:
 *   version (1) = 4 | kind (1) | flags (1) | message id (16) | [sent at, ms since the epoch (f64 BE)]
 *   | reply block length (u16 BE) | body length (u32 BE) | reply block | body | zero padding
 * The send time is there only when the sender asked for it (flag 0x01, SendOptions.sentAt):
 * a recipient holding it, plus a view of the sender's gateway, could match the message to its
 * submission and undo the mixing delays, so by default nothing in a message says when it left.
 * Version 3, which always carried the send time, is refused. A reply block, when present,
 * lets the recipient acknowledge the message without learning who sent it. Kind 1 marks loop
 * cover: a client's packet to itself, which only it can read, so on the wire and at the
 * gateway it is any other message. The padding
 * brings every sealed message to one size where the packet format has one (Sphinx), so
 * neither the exit, nor the gateway, nor the wire between them learns a message's length.
 */
import { type KeyPair, openSealed, randomBytes, SEAL_OVERHEAD_BYTES, seal, toHex } from '@mixlab/crypto';

const VERSION = 4;
/** Flag: a send time follows the message id. */
const FLAG_SEND_TIME = 0x01;
const ID_OFFSET = 3;
const SEND_TIME_BYTES = 8;
/** The header without a send time. */
const HEADER_BYTES = ID_OFFSET + 16 + 2 + 4;
const KINDS = ['message', 'loop'] as const;
export type MessageKind = (typeof KINDS)[number];

export interface Message {
  /** 32 hex characters, chosen by the sender; a retransmission keeps it, so recipients spot duplicates. */
  readonly id: string;
  /**
   * Send time, ms since the epoch: only when the sender chose to reveal it (for latency
   * display). It lets a recipient that also sees the sender's gateway undo the mixing.
   */
  readonly sentAt?: number | undefined;
  readonly body: Uint8Array;
  /** A single-use reply block for the acknowledgement, when the sender asked for one. */
  readonly replyBlock?: Uint8Array | undefined;
  /** `loop` for loop cover; a message otherwise. */
  readonly kind?: MessageKind;
}

export function newMessageId(): string {
  return toHex(randomBytes(16));
}

/** Bytes a message without a send time adds around its body and reply block once sealed (8 more with one). */
export const MESSAGE_OVERHEAD_BYTES = HEADER_BYTES + SEAL_OVERHEAD_BYTES;

/**
 * Seals `message` to `recipient`. With `sealedBytes`, zero padding after the body brings the
 * sealed message to exactly that size (RangeError when it does not fit).
 */
export function sealMessage(message: Message, recipient: Uint8Array, sealedBytes?: number): Uint8Array {
  const block = message.replyBlock ?? new Uint8Array(0);
  if (block.length > 0xffff) throw new RangeError('a reply block cannot exceed 65535 bytes');
  const revealed = message.sentAt !== undefined;
  const headerBytes = HEADER_BYTES + (revealed ? SEND_TIME_BYTES : 0);
  const unpadded = headerBytes + block.length + message.body.length;
  const plainBytes = sealedBytes === undefined ? unpadded : sealedBytes - SEAL_OVERHEAD_BYTES;
  if (plainBytes < unpadded) {
    throw new RangeError(
      `a message of ${message.body.length} bytes${block.length ? ` with a ${block.length}-byte reply block` : ''} ` +
        `seals to ${unpadded + SEAL_OVERHEAD_BYTES} bytes, more than the ${sealedBytes} a packet carries`,
    );
  }
  const plain = new Uint8Array(plainBytes);
  const view = new DataView(plain.buffer);
  plain[0] = VERSION;
  plain[1] = KINDS.indexOf(message.kind ?? 'message');
  plain[2] = revealed ? FLAG_SEND_TIME : 0;
  plain.set(Buffer.from(message.id, 'hex'), ID_OFFSET);
  let at = ID_OFFSET + 16;
  if (revealed) {
    view.setFloat64(at, message.sentAt as number);
    at += SEND_TIME_BYTES;
  }
  view.setUint16(at, block.length);
  view.setUint32(at + 2, message.body.length);
  plain.set(block, headerBytes);
  plain.set(message.body, headerBytes + block.length);
  return seal(plain, recipient);
}

/** Opens a sealed message; throws an Error saying why it cannot be read. */
export function openMessage(sealed: Uint8Array, keys: KeyPair): Message {
  const plain = openSealed(sealed, keys);
  if (!plain) throw new Error('message does not open with this key (not for us, or altered)');
  if (plain[0] === 3) {
    throw new Error('message has layout v3, which always carried its send time; this client reads only v4');
  }
  if (plain.length < HEADER_BYTES || plain[0] !== VERSION) throw new Error('message has an unknown layout');
  const kind = KINDS[plain[1] as number];
  if (!kind) throw new Error(`message has an unknown kind ${plain[1]}`);
  const flags = plain[2] as number;
  if ((flags & ~FLAG_SEND_TIME) !== 0) throw new Error(`message has unknown flags ${flags}`);
  const revealed = flags === FLAG_SEND_TIME;
  const headerBytes = HEADER_BYTES + (revealed ? SEND_TIME_BYTES : 0);
  if (plain.length < headerBytes) throw new Error('message is shorter than its header');
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const lengthsAt = headerBytes - 6;
  const blockLength = view.getUint16(lengthsAt);
  const bodyStart = headerBytes + blockLength;
  const bodyEnd = bodyStart + view.getUint32(lengthsAt + 2);
  if (plain.length < bodyEnd) throw new Error('message is shorter than its reply block and body');
  return {
    kind,
    id: toHex(plain.subarray(ID_OFFSET, ID_OFFSET + 16)),
    sentAt: revealed ? view.getFloat64(ID_OFFSET + 16) : undefined,
    replyBlock: blockLength > 0 ? plain.subarray(headerBytes, bodyStart) : undefined,
    body: plain.subarray(bodyStart, bodyEnd),
  };
}

/** The reply a recipient sends through a reply block: 0x01 | the acknowledged message's id (16). */
const ACK = 0x01;

export function encodeAcknowledgement(messageId: string): Uint8Array {
  const out = new Uint8Array(17);
  out[0] = ACK;
  out.set(Buffer.from(messageId, 'hex'), 1);
  return out;
}

/** The acknowledged message id, or undefined when the reply is not an acknowledgement. */
export function decodeAcknowledgement(reply: Uint8Array): string | undefined {
  return reply.length === 17 && reply[0] === ACK ? toHex(reply.subarray(1)) : undefined;
}
