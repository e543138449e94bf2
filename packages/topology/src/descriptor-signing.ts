/**
 * Signed node descriptors: what a mix node registers with the directory. The node's
 * long-term Ed25519 identity key signs its id, layer, url, the X25519 mixing keys it
 * publishes for the current and next epochs, the time it signed them and, when it says so,
 * its mixing strategy (so that clients can expect a route's delay).
 * Specification: docs/directory.md.
 */
import { fromHex, signDetached, signingPublicKeyOf, toHex, verifyDetached } from '@mixlab/crypto';
import { CanonicalWriter, isRecord, keyProblem, textProblem, u32Problem, u64Problem } from './canonical-encoding.ts';
import { descriptorProblems } from './topology.ts';
import { type Rejection, rejection } from './verdict.ts';

/** Domain separation: no other signed mixlab format starts with these bytes. */
export const DESCRIPTOR_DOMAIN = 'mixlab-descriptor-v1';
/** A descriptor carries the mixing keys of the current and the next epoch, at least one. */
export const MAX_MIXING_KEYS = 2;
export const SIGNATURE_PATTERN = '^[0-9a-f]{128}$';
const signaturePattern = new RegExp(SIGNATURE_PATTERN);
export const UNSIGNED_DESCRIPTOR_PROBLEM = "descriptor has no signature: sign it with the node's identity key";

/** An X25519 mixing public key and the epoch in which the node peels with it. */
export interface MixingKey {
  readonly epoch: number;
  /** X25519 public key, 64 lowercase hex characters. */
  readonly publicKey: string;
}

export interface UnsignedNodeDescriptor {
  readonly id: string;
  /** 1-based layer. */
  readonly layer: number;
  readonly url: string;
  /** Long-term Ed25519 public key, 64 lowercase hex characters. */
  readonly identityKey: string;
  /** 1..MAX_MIXING_KEYS keys, epochs strictly ascending. */
  readonly mixingKeys: readonly MixingKey[];
  /** When the node signed it, ms since the Unix epoch by the node's clock. */
  readonly issuedAt: number;
  /**
   * The node's mixing strategy as its canonical configuration string (formatStrategyConfig,
   * e.g. `threshold:n=3,maxWait=1s`), at most MAX_STRATEGY_BYTES; absent in older descriptors.
   */
  readonly strategy?: string;
}

/** A strategy string is short; the bound keeps a descriptor small. */
export const MAX_STRATEGY_BYTES = 200;

export interface SignedNodeDescriptor extends UnsignedNodeDescriptor {
  /** Ed25519 signature by identityKey over descriptorSigningBytes, 128 lowercase hex characters. */
  readonly signature: string;
}

export type DescriptorRejection = 'unsigned' | 'forged' | 'stale' | 'malformed';

/** What verifyDescriptor decides (a verdict, not a throw: see verdict.ts). */
export type DescriptorVerdict =
  | { readonly ok: true; readonly descriptor: SignedNodeDescriptor }
  | Rejection<DescriptorRejection>;

export interface DescriptorVerificationOptions {
  /** The verifier's clock, ms since the Unix epoch. */
  readonly nowMs: number;
  /** issuedAt is accepted when |nowMs - issuedAt| <= maxSkewMs. */
  readonly maxSkewMs: number;
  readonly layerCount: number;
  /** When given, a descriptor without a mixing key for this epoch is stale. */
  readonly epoch?: number;
}

/**
 * The bytes the identity key signs:
 *   text("mixlab-descriptor-v1") | text(id) | u32(layer) | text(url) | key(identityKey)
 *   | u32(count) | count × (u64(epoch) | key(publicKey)) | u64(issuedAt) [| text(strategy)]
 * (the strategy only when the descriptor has one, so that older descriptors sign the same bytes).
 * Throws when a field cannot be encoded (see descriptorShapeProblems).
 */
export function descriptorSigningBytes(descriptor: UnsignedNodeDescriptor): Uint8Array {
  const problems = descriptorShapeProblems(descriptor);
  if (problems.length > 0) throw new TypeError(`descriptor cannot be encoded: ${problems.join('; ')}`);
  return encodeDescriptor(descriptor);
}

/** descriptorSigningBytes for a descriptor whose shape was checked already. */
function encodeDescriptor(descriptor: UnsignedNodeDescriptor): Uint8Array {
  const writer = new CanonicalWriter()
    .text(DESCRIPTOR_DOMAIN)
    .text(descriptor.id)
    .u32(descriptor.layer)
    .text(descriptor.url)
    .key(descriptor.identityKey)
    .u32(descriptor.mixingKeys.length);
  for (const { epoch, publicKey } of descriptor.mixingKeys) writer.u64(epoch).key(publicKey);
  writer.u64(descriptor.issuedAt);
  if (descriptor.strategy !== undefined) writer.text(descriptor.strategy);
  return writer.bytes();
}

/**
 * Reasons a value is not an encodable descriptor (types, key and integer formats, the
 * mixing key list); empty when it is one. Network-level rules (id pattern, layer range,
 * url scheme) are checked by verifyDescriptor through descriptorProblems.
 */
export function descriptorShapeProblems(descriptor: unknown): string[] {
  if (!isRecord(descriptor)) return ['descriptor must be an object'];
  const problems: string[] = [];
  const check = (field: string, problem: string | undefined) => {
    if (problem) problems.push(`${field} ${problem}`);
  };
  check('id', textProblem(descriptor.id));
  check('layer', u32Problem(descriptor.layer));
  check('url', textProblem(descriptor.url));
  check('identityKey', keyProblem(descriptor.identityKey));
  check('issuedAt', u64Problem(descriptor.issuedAt));
  if (descriptor.strategy !== undefined) check('strategy', strategyProblem(descriptor.strategy));
  const keys = descriptor.mixingKeys;
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > MAX_MIXING_KEYS) {
    problems.push(`mixingKeys must be a list of 1 to ${MAX_MIXING_KEYS} keys (current and next epoch)`);
    return problems;
  }
  keys.forEach((key: unknown, index) => {
    if (typeof key !== 'object' || key === null) {
      problems.push(`mixingKeys[${index}] must be an object { epoch, publicKey }`);
      return;
    }
    const { epoch, publicKey } = key as Record<string, unknown>;
    check(`mixingKeys[${index}].epoch`, u64Problem(epoch));
    check(`mixingKeys[${index}].publicKey`, keyProblem(publicKey));
    const previous = (keys[index - 1] as { epoch?: unknown } | undefined)?.epoch;
    if (index > 0 && typeof epoch === 'number' && typeof previous === 'number' && epoch <= previous) {
      problems.push(`mixingKeys epochs must be strictly ascending, got ${previous} then ${epoch}`);
    }
  });
  return problems;
}

/** Signs a descriptor with the node's identity key; throws when the key is not the descriptor's identityKey. */
export function signDescriptor(unsigned: UnsignedNodeDescriptor, identitySecretKey: Uint8Array): SignedNodeDescriptor {
  const descriptor = copyDescriptor(unsigned);
  const bytes = descriptorSigningBytes(descriptor);
  return { ...descriptor, signature: signAs(descriptor.identityKey, bytes, identitySecretKey) };
}

/** The hex Ed25519 signature of `bytes` by the identity `identityKey`; throws when the secret key is another identity's. */
export function signAs(identityKey: string, bytes: Uint8Array, identitySecretKey: Uint8Array): string {
  const signer = toHex(signingPublicKeyOf(identitySecretKey));
  if (signer !== identityKey) {
    throw new Error(`the secret key belongs to identity ${signer}, but the descriptor names ${identityKey}`);
  }
  return toHex(signDetached(bytes, identitySecretKey));
}

/**
 * Checks a descriptor received from the network, in this order: unsigned, malformed
 * (shape), forged (signature), malformed (network rules), stale (issuedAt outside
 * nowMs ± maxSkewMs, or no key for `epoch`). On success returns a copy holding only
 * the signed fields. `cryptoReady()` must have been awaited.
 */
export function verifyDescriptor(signed: unknown, options: DescriptorVerificationOptions): DescriptorVerdict {
  if (isUnsignedDescriptor(signed)) return rejection('unsigned', UNSIGNED_DESCRIPTOR_PROBLEM);
  const shape = descriptorShapeProblems(signed);
  const signature = (signed as { signature?: unknown } | null)?.signature;
  if (typeof signature !== 'string' || !signaturePattern.test(signature)) {
    shape.push('signature must be 64 bytes as 128 lowercase hex characters');
  }
  if (shape.length > 0) return rejection('malformed', `descriptor is malformed: ${shape.join('; ')}`);
  const descriptor = copySigned(signed as SignedNodeDescriptor);

  const identity = fromHex(descriptor.identityKey) as Uint8Array;
  if (!verifyDetached(fromHex(descriptor.signature) as Uint8Array, encodeDescriptor(descriptor), identity)) {
    return rejection(
      'forged',
      `signature of node ${descriptor.id} does not verify under its identityKey ${descriptor.identityKey}: ` +
        'the descriptor was altered or signed with another key',
    );
  }

  const rules = descriptorProblems(
    { id: descriptor.id, layer: descriptor.layer, url: descriptor.url, publicKey: descriptor.identityKey },
    options.layerCount,
  );
  if (rules.length > 0)
    return rejection('malformed', `descriptor of node ${descriptor.id} is malformed: ${rules.join('; ')}`);

  const late = issuedAtProblem(`node ${descriptor.id}`, descriptor.issuedAt, options);
  if (late) return rejection('stale', late);
  if (options.epoch !== undefined && mixingKeyFor(descriptor, options.epoch) === undefined) {
    const epochs = descriptor.mixingKeys.map((key) => key.epoch).join(', ');
    return rejection(
      'stale',
      `descriptor of node ${descriptor.id} has mixing keys for epochs ${epochs} but none for the current epoch ` +
        `${options.epoch}: publish the current and next epochs' keys`,
    );
  }
  return { ok: true, descriptor };
}

/**
 * Why a descriptor of `signer` (e.g. `node mix-1`) issued at `issuedAt` is not fresh at
 * `nowMs` (outside ± maxSkewMs), or undefined when it is.
 */
export function issuedAtProblem(
  signer: string,
  issuedAt: number,
  { nowMs, maxSkewMs }: { readonly nowMs: number; readonly maxSkewMs: number },
): string | undefined {
  const ahead = issuedAt - nowMs;
  if (ahead > maxSkewMs) {
    return `descriptor of ${signer} was issued ${ahead} ms in the future (allowed skew ${maxSkewMs} ms): check its clock`;
  }
  if (-ahead > maxSkewMs) {
    return (
      `descriptor of ${signer} was issued ${-ahead} ms ago (allowed ${maxSkewMs} ms): ` +
      're-sign it with a fresh issuedAt, or check its clock'
    );
  }
  return undefined;
}

/**
 * Strictly increasing issuedAt values from a wall clock, even within one millisecond: the
 * directory refuses a descriptor not issued after the last one it kept.
 */
export function issuedAtClock(now: () => number): () => number {
  let last = Number.NEGATIVE_INFINITY;
  return () => {
    last = Math.max(Math.floor(now()), last + 1);
    return last;
  };
}

/**
 * True for an object whose signature is missing, null or empty: such a descriptor is
 * reported as 'unsigned', before any other problem it has.
 */
export function isUnsignedDescriptor(value: unknown): boolean {
  return isRecord(value) && (value.signature ?? '') === '';
}

/** What a node's and a gateway's descriptors have in common: an id bound to an identity key, and a signing time. */
export interface SignedIdentity {
  readonly id: string;
  readonly identityKey: string;
  readonly issuedAt: number;
}

/**
 * How a verified descriptor (a node's or a gateway's) relates to the one stored for the same id:
 * 'conflicting' when the identity keys differ (someone else claims the id),
 * 'replayed' when it was not issued strictly later, otherwise 'newer'.
 */
export function compareToStored(
  stored: SignedIdentity,
  incoming: SignedIdentity,
): 'newer' | 'replayed' | 'conflicting' {
  if (stored.id !== incoming.id) throw new Error(`compareToStored needs one id, got ${stored.id} and ${incoming.id}`);
  if (stored.identityKey !== incoming.identityKey) return 'conflicting';
  return incoming.issuedAt > stored.issuedAt ? 'newer' : 'replayed';
}

/** The mixing public key a descriptor publishes for `epoch`, if any. */
export function mixingKeyFor(descriptor: UnsignedNodeDescriptor, epoch: number): string | undefined {
  return descriptor.mixingKeys.find((key) => key.epoch === epoch)?.publicKey;
}

/** Why a value cannot be a node's strategy string, or undefined when it can (its grammar is @mixlab/mixing's). */
export function strategyProblem(value: unknown): string | undefined {
  const text = textProblem(value);
  if (text) return text;
  return Buffer.byteLength(value as string) <= MAX_STRATEGY_BYTES
    ? undefined
    : `must be at most ${MAX_STRATEGY_BYTES} bytes`;
}

function copyDescriptor(descriptor: UnsignedNodeDescriptor): UnsignedNodeDescriptor {
  return {
    id: descriptor.id,
    layer: descriptor.layer,
    url: descriptor.url,
    identityKey: descriptor.identityKey,
    mixingKeys: Array.isArray(descriptor.mixingKeys)
      ? descriptor.mixingKeys.map((key) => ({ epoch: key?.epoch, publicKey: key?.publicKey }))
      : descriptor.mixingKeys,
    issuedAt: descriptor.issuedAt,
    ...(descriptor.strategy === undefined ? {} : { strategy: descriptor.strategy }),
  };
}

function copySigned(descriptor: SignedNodeDescriptor): SignedNodeDescriptor {
  return { ...copyDescriptor(descriptor), signature: descriptor.signature };
}
