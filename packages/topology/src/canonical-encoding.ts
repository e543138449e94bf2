/**
 * The byte encoding that descriptors and topology documents are signed over
 * (docs/directory.md, "Canonical encoding"). Every value has exactly one encoding
 * and every field is either fixed-size or length-prefixed, so two different
 * values never produce the same bytes:
 *
 *   u8(n), u32(n)   1 / 4 bytes, big-endian, unsigned
 *   u64(n)          8 bytes, big-endian; n an integer in [0, 2^53 - 1]
 *   text(s)         u32(byte length of UTF-8(s)) | UTF-8(s); s well-formed Unicode
 *   key(h)          the 32 bytes that h (64 lowercase hex characters) spells
 */
import { PUBLIC_KEY_PATTERN } from './topology.ts';

const MAX_U32 = 0xffff_ffff;
const keyPattern = new RegExp(PUBLIC_KEY_PATTERN);
const utf8 = new TextEncoder();

/** A JSON object (not null, not an array): what a signed structure must be before its fields are checked. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a value cannot be encoded, or undefined when it can. */
export function u32Problem(value: unknown): string | undefined {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_U32
    ? undefined
    : `must be an integer from 0 to ${MAX_U32}, got ${String(value)}`;
}

export function u64Problem(value: unknown): string | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 0
    ? undefined
    : `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${String(value)}`;
}

export function textProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${typeof value}`;
  return value.isWellFormed() ? undefined : 'must be well-formed Unicode (no lone surrogates)';
}

export function keyProblem(value: unknown): string | undefined {
  return typeof value === 'string' && keyPattern.test(value)
    ? undefined
    : 'must be 32 bytes as 64 lowercase hex characters';
}

/** Appends canonical fields; callers check values with the *Problem functions first. */
export class CanonicalWriter {
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  u8(value: number): this {
    return this.#push(Uint8Array.of(value));
  }

  u32(value: number): this {
    if (u32Problem(value)) throw new RangeError(`u32 ${u32Problem(value)}`);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value);
    return this.#push(bytes);
  }

  u64(value: number): this {
    if (u64Problem(value)) throw new RangeError(`u64 ${u64Problem(value)}`);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(value));
    return this.#push(bytes);
  }

  text(value: string): this {
    if (textProblem(value)) throw new RangeError(`text ${textProblem(value)}`);
    const bytes = utf8.encode(value);
    return this.u32(bytes.length).#push(bytes);
  }

  key(hex: string): this {
    if (keyProblem(hex)) throw new RangeError(`key ${keyProblem(hex)}`);
    return this.#push(new Uint8Array(Buffer.from(hex, 'hex')));
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  #push(bytes: Uint8Array): this {
    this.#chunks.push(bytes);
    this.#length += bytes.length;
    return this;
  }
}
