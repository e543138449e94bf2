/**
 * Signed gateway descriptors: what a client gateway registers with the directory, as a mix
 * node registers its own (descriptor-signing.ts). The gateway's long-term Ed25519 identity
 * key signs its id, url and the time it signed them; the directory binds the id to the key
 * and lists the key in the topology, so that exit nodes and clients know whom they talk to.
 * Specification: docs/directory.md.
 */
import { fromHex, verifyDetached } from '@mixlab/crypto';
import { CanonicalWriter, isRecord, keyProblem, textProblem, u64Problem } from './canonical-encoding.ts';
import {
  type DescriptorRejection,
  issuedAtProblem,
  isUnsignedDescriptor,
  SIGNATURE_PATTERN,
  signAs,
} from './descriptor-signing.ts';
import { type GatewayDescriptor, gatewayProblems } from './topology.ts';
import { type Rejection, rejection } from './verdict.ts';

/** Domain separation: no other signed mixlab format starts with these bytes. */
export const GATEWAY_DESCRIPTOR_DOMAIN = 'mixlab-gateway-descriptor-v1';
const signaturePattern = new RegExp(SIGNATURE_PATTERN);
export const UNSIGNED_GATEWAY_PROBLEM = "gateway descriptor has no signature: sign it with the gateway's identity key";

export interface UnsignedGatewayDescriptor extends GatewayDescriptor {
  /** When the gateway signed it, ms since the Unix epoch by the gateway's clock. */
  readonly issuedAt: number;
}

export interface SignedGatewayDescriptor extends UnsignedGatewayDescriptor {
  /** Ed25519 signature by identityKey over gatewayDescriptorSigningBytes, 128 lowercase hex characters. */
  readonly signature: string;
}

export type GatewayDescriptorVerdict =
  | { readonly ok: true; readonly descriptor: SignedGatewayDescriptor }
  | Rejection<DescriptorRejection>;

/**
 * The bytes the gateway's identity key signs:
 *   text("mixlab-gateway-descriptor-v1") | text(id) | text(url) | key(identityKey) | u64(issuedAt)
 * Throws when a field cannot be encoded.
 */
export function gatewayDescriptorSigningBytes(descriptor: UnsignedGatewayDescriptor): Uint8Array {
  const problems = gatewayShapeProblems(descriptor);
  if (problems.length > 0) throw new TypeError(`gateway descriptor cannot be encoded: ${problems.join('; ')}`);
  return encodeGateway(descriptor);
}

function encodeGateway(descriptor: UnsignedGatewayDescriptor): Uint8Array {
  return new CanonicalWriter()
    .text(GATEWAY_DESCRIPTOR_DOMAIN)
    .text(descriptor.id)
    .text(descriptor.url)
    .key(descriptor.identityKey)
    .u64(descriptor.issuedAt)
    .bytes();
}

function gatewayShapeProblems(descriptor: unknown): string[] {
  if (!isRecord(descriptor)) return ['gateway descriptor must be an object'];
  const problems: string[] = [];
  const check = (field: string, problem: string | undefined) => {
    if (problem) problems.push(`${field} ${problem}`);
  };
  check('id', textProblem(descriptor.id));
  check('url', textProblem(descriptor.url));
  check('identityKey', keyProblem(descriptor.identityKey));
  check('issuedAt', u64Problem(descriptor.issuedAt));
  return problems;
}

/** Signs a gateway descriptor; throws when the key is not the descriptor's identityKey. */
export function signGatewayDescriptor(
  unsigned: UnsignedGatewayDescriptor,
  identitySecretKey: Uint8Array,
): SignedGatewayDescriptor {
  const descriptor = copyGateway(unsigned);
  const bytes = gatewayDescriptorSigningBytes(descriptor);
  return { ...descriptor, signature: signAs(descriptor.identityKey, bytes, identitySecretKey) };
}

/**
 * Checks a gateway descriptor received from the network, in the order verifyDescriptor
 * does: unsigned, malformed (shape), forged (signature), malformed (id and url rules),
 * stale (issuedAt outside nowMs ± maxSkewMs). On success returns a copy holding only the
 * signed fields. `cryptoReady()` must have been awaited.
 */
export function verifyGatewayDescriptor(
  signed: unknown,
  options: { readonly nowMs: number; readonly maxSkewMs: number },
): GatewayDescriptorVerdict {
  if (isUnsignedDescriptor(signed)) return rejection('unsigned', UNSIGNED_GATEWAY_PROBLEM);
  const shape = gatewayShapeProblems(signed);
  const signature = (signed as { signature?: unknown } | null)?.signature;
  if (typeof signature !== 'string' || !signaturePattern.test(signature)) {
    shape.push('signature must be 64 bytes as 128 lowercase hex characters');
  }
  if (shape.length > 0) return rejection('malformed', `gateway descriptor is malformed: ${shape.join('; ')}`);
  const descriptor = { ...copyGateway(signed as SignedGatewayDescriptor), signature: signature as string };
  const identity = fromHex(descriptor.identityKey) as Uint8Array;
  if (!verifyDetached(fromHex(descriptor.signature) as Uint8Array, encodeGateway(descriptor), identity)) {
    return rejection(
      'forged',
      `signature of gateway ${descriptor.id} does not verify under its identityKey ${descriptor.identityKey}: ` +
        'the descriptor was altered or signed with another key',
    );
  }
  const rules = gatewayProblems(descriptor);
  if (rules.length > 0)
    return rejection('malformed', `descriptor of gateway ${descriptor.id} is malformed: ${rules.join('; ')}`);
  const late = issuedAtProblem(`gateway ${descriptor.id}`, descriptor.issuedAt, options);
  if (late) return rejection('stale', late);
  return { ok: true, descriptor };
}

/** The topology's entry for a gateway: its signed fields without the signing time and signature. */
export function listedGateway({ id, url, identityKey }: GatewayDescriptor): GatewayDescriptor {
  return { id, url, identityKey };
}

function copyGateway(descriptor: UnsignedGatewayDescriptor): UnsignedGatewayDescriptor {
  return { ...listedGateway(descriptor), issuedAt: descriptor.issuedAt };
}
