/**
 * The signed topology document: what the directory publishes for one epoch and
 * clients verify against a pinned directory key before routing through it.
 * Specification: docs/directory.md.
 */
import { fromHex, signDetached, signingPublicKeyOf, toHex, verifyDetached } from '@mixlab/crypto';
import { CanonicalWriter, isRecord, keyProblem, textProblem, u32Problem, u64Problem } from './canonical-encoding.ts';
import { mixingKeyFor, SIGNATURE_PATTERN, strategyProblem, type UnsignedNodeDescriptor } from './descriptor-signing.ts';
import { type GatewayDescriptor, gatewayProblems, listedNodeProblems, type Topology } from './topology.ts';
import { type Rejection, rejection } from './verdict.ts';

/** Domain separation: no other signed mixlab format starts with these bytes. */
export const TOPOLOGY_DOMAIN = 'mixlab-topology-v1';
export const TOPOLOGY_VERSION = 1;
const signaturePattern = new RegExp(SIGNATURE_PATTERN);
const anyCaseKey = /^[0-9a-fA-F]{64}$/;

/** A mix node as the topology of one epoch lists it. */
export interface TopologyNode {
  readonly id: string;
  readonly layer: number;
  readonly url: string;
  /** The node's long-term Ed25519 identity key, 64 lowercase hex characters. */
  readonly identityKey: string;
  /** The node's X25519 mixing key for this document's epoch. */
  readonly publicKey: string;
  /** The node's X25519 mixing key for the next epoch, when it has published one. */
  readonly nextPublicKey?: string;
  /** The node's mixing strategy (its canonical configuration string), when its descriptor says. */
  readonly strategy?: string;
}

export interface TopologyDocument {
  readonly version: 1;
  readonly epoch: number;
  /** Valid for nowMs in [validFrom, validUntil), ms since the Unix epoch. */
  readonly validFrom: number;
  readonly validUntil: number;
  /** `layers[i]` holds the nodes of layer i + 1. */
  readonly layers: readonly (readonly TopologyNode[])[];
  readonly gateways: readonly GatewayDescriptor[];
}

export interface SignedTopology {
  readonly document: TopologyDocument;
  /** Ed25519 signature over topologySigningBytes(document), 128 lowercase hex characters. */
  readonly signature: string;
  /** The directory's Ed25519 public key, 64 lowercase hex characters. */
  readonly directoryKey: string;
}

export type TopologyRejection = 'unsigned' | 'wrong-key' | 'tampered' | 'expired' | 'not-yet-valid' | 'malformed';

export type TopologyVerdict = { readonly ok: true; readonly document: TopologyDocument } | Rejection<TopologyRejection>;

/**
 * A refused topology raised as an error, for callers that must fail (a fetch the cache
 * retries); verifyTopology itself returns a verdict (see verdict.ts). `message` says what to do.
 */
export class TopologyVerificationError extends Error {
  readonly reason: TopologyRejection;

  constructor(reason: TopologyRejection, message: string) {
    super(message);
    this.name = 'TopologyVerificationError';
    this.reason = reason;
  }
}

export interface TopologyVerificationOptions {
  /** The directory's public key as the operator published it (64 hex characters, any case). */
  readonly pinnedDirectoryKey: string;
  /** The verifier's clock, ms since the Unix epoch. */
  readonly nowMs: number;
  /** Tolerated clock difference at both ends of the validity window; default 0. */
  readonly maxSkewMs?: number;
}

/**
 * The bytes the directory signs:
 *   text("mixlab-topology-v1") | u32(version) | u64(epoch) | u64(validFrom) | u64(validUntil)
 *   | u32(layer count) | per layer: u32(node count) | per node:
 *       text(id) | u32(layer) | text(url) | key(identityKey) | key(publicKey)
 *       | u8(flags) [| key(nextPublicKey) if flags & 1] [| text(strategy) if flags & 2]
 *   (flags 0 or 1 is the encoding documents had before nodes published strategies)
 *   | u32(gateway count) | per gateway: text(id) | text(url)
 *   [| text("gateway-identity-keys") | per gateway: text(identityKey, empty when none), if any has one]
 * Throws when a field cannot be encoded (see topologyShapeProblems).
 */
export function topologySigningBytes(document: TopologyDocument): Uint8Array {
  const problems = topologyShapeProblems(document);
  if (problems.length > 0) throw new TypeError(`topology cannot be encoded: ${problems.join('; ')}`);
  return encodeTopology(document);
}

/** topologySigningBytes for a document whose shape was checked already. */
function encodeTopology(document: TopologyDocument): Uint8Array {
  const writer = new CanonicalWriter()
    .text(TOPOLOGY_DOMAIN)
    .u32(document.version)
    .u64(document.epoch)
    .u64(document.validFrom)
    .u64(document.validUntil)
    .u32(document.layers.length);
  for (const nodes of document.layers) {
    writer.u32(nodes.length);
    for (const node of nodes) {
      writer.text(node.id).u32(node.layer).text(node.url).key(node.identityKey).key(node.publicKey);
      writer.u8((node.nextPublicKey === undefined ? 0 : 1) | (node.strategy === undefined ? 0 : 2));
      if (node.nextPublicKey !== undefined) writer.key(node.nextPublicKey);
      if (node.strategy !== undefined) writer.text(node.strategy);
    }
  }
  writer.u32(document.gateways.length);
  for (const gateway of document.gateways) writer.text(gateway.id).text(gateway.url);
  // Gateways' identity keys after the list, only when one has a key: older documents keep their bytes.
  if (document.gateways.some((gateway) => gateway.identityKey !== undefined)) {
    writer.text('gateway-identity-keys');
    for (const gateway of document.gateways) writer.text(gateway.identityKey ?? '');
  }
  return writer.bytes();
}

/** Reasons a value is not an encodable version 1 document (types and formats); empty when it is one. */
export function topologyShapeProblems(value: unknown): string[] {
  if (!isRecord(value)) return ['document must be an object'];
  if (value.version !== TOPOLOGY_VERSION) {
    return [`version ${String(value.version)} is not supported: this client reads version ${TOPOLOGY_VERSION}`];
  }
  const problems: string[] = [];
  const check = (field: string, problem: string | undefined) => {
    if (problem) problems.push(`${field} ${problem}`);
  };
  check('epoch', u64Problem(value.epoch));
  check('validFrom', u64Problem(value.validFrom));
  check('validUntil', u64Problem(value.validUntil));
  if (!Array.isArray(value.layers)) problems.push('layers must be a list of lists of nodes');
  else {
    value.layers.forEach((nodes: unknown, i) => {
      if (!Array.isArray(nodes)) {
        problems.push(`layers[${i}] must be a list of nodes`);
        return;
      }
      nodes.forEach((node: unknown, j) => {
        const at = `layers[${i}][${j}]`;
        if (!isRecord(node)) {
          problems.push(`${at} must be an object`);
          return;
        }
        check(`${at}.id`, textProblem(node.id));
        check(`${at}.layer`, u32Problem(node.layer));
        check(`${at}.url`, textProblem(node.url));
        check(`${at}.identityKey`, keyProblem(node.identityKey));
        check(`${at}.publicKey`, keyProblem(node.publicKey));
        if (node.nextPublicKey !== undefined) check(`${at}.nextPublicKey`, keyProblem(node.nextPublicKey));
        if (node.strategy !== undefined) check(`${at}.strategy`, strategyProblem(node.strategy));
      });
    });
  }
  if (!Array.isArray(value.gateways)) problems.push('gateways must be a list');
  else {
    value.gateways.forEach((gateway: unknown, i) => {
      if (!isRecord(gateway)) {
        problems.push(`gateways[${i}] must be an object`);
        return;
      }
      check(`gateways[${i}].id`, textProblem(gateway.id));
      check(`gateways[${i}].url`, textProblem(gateway.url));
      if (gateway.identityKey !== undefined) check(`gateways[${i}].identityKey`, keyProblem(gateway.identityKey));
    });
  }
  return problems;
}

/**
 * Reasons an encodable document cannot serve as a network: an empty window, no layer,
 * invalid or misplaced nodes, duplicate ids, invalid gateways. Empty layers are allowed
 * (nodes may still be starting); route selection refuses them.
 */
export function topologyDocumentProblems(document: TopologyDocument): string[] {
  const problems: string[] = [];
  if (document.validFrom >= document.validUntil) {
    problems.push(`validFrom ${document.validFrom} must be before validUntil ${document.validUntil}`);
  }
  if (document.layers.length === 0) problems.push('there must be at least one layer');
  const seen = new Set<string>();
  document.layers.forEach((nodes, index) => {
    for (const node of nodes) {
      problems.push(...listedNodeProblems(node, index, document.layers.length));
      if (seen.has(node.id)) problems.push(`node ${node.id} is listed more than once`);
      seen.add(node.id);
    }
  });
  const gateways = new Set<string>();
  for (const gateway of document.gateways) {
    for (const problem of gatewayProblems(gateway)) problems.push(`gateway ${gateway.id}: ${problem}`);
    if (gateways.has(gateway.id)) problems.push(`gateway ${gateway.id} is listed more than once`);
    gateways.add(gateway.id);
  }
  return problems;
}

/** Signs a document with the directory's key; throws, listing the problems, rather than sign a broken one. */
export function signTopology(document: TopologyDocument, directorySecretKey: Uint8Array): SignedTopology {
  const shape = topologyShapeProblems(document);
  const problems = shape.length > 0 ? shape : topologyDocumentProblems(document);
  if (problems.length > 0) throw new Error(`refusing to sign a malformed topology: ${problems.join('; ')}`);
  const copy = copyDocument(document);
  return {
    document: copy,
    signature: toHex(signDetached(encodeTopology(copy), directorySecretKey)),
    directoryKey: toHex(signingPublicKeyOf(directorySecretKey)),
  };
}

/**
 * Checks a signed topology received from the directory, in this order: unsigned,
 * malformed (envelope), wrong-key, malformed (document shape), tampered (signature),
 * malformed (network rules), not-yet-valid / expired (nowMs outside
 * [validFrom - maxSkewMs, validUntil + maxSkewMs)). Returns a copy holding only the
 * signed fields, or a rejection saying why (see verdict.ts). Throws only for a malformed
 * pinned key, the caller's own mistake. `cryptoReady()` must have been awaited.
 */
export function verifyTopology(signed: unknown, options: TopologyVerificationOptions): TopologyVerdict {
  if (!anyCaseKey.test(options.pinnedDirectoryKey)) {
    throw new TypeError(
      'pinnedDirectoryKey must be 64 hex characters: set it to the key the directory prints at start-up',
    );
  }
  const pinned = options.pinnedDirectoryKey.toLowerCase();
  const skew = options.maxSkewMs ?? 0;
  if (!isRecord(signed))
    return rejection('malformed', 'the directory answered something that is not a topology object');
  if ((signed.signature ?? '') === '') {
    return rejection(
      'unsigned',
      'the topology carries no signature: the directory does not sign (an older version?) or something ' +
        'between it and you removed the signature; refusing to route through it',
    );
  }
  const envelope: string[] = [];
  if (typeof signed.signature !== 'string' || !signaturePattern.test(signed.signature)) {
    envelope.push('signature must be 64 bytes as 128 lowercase hex characters');
  }
  if (keyProblem(signed.directoryKey)) envelope.push(`directoryKey ${keyProblem(signed.directoryKey)}`);
  if (envelope.length > 0) return rejection('malformed', `the signed topology is malformed: ${envelope.join('; ')}`);
  if (signed.directoryKey !== pinned) {
    return rejection(
      'wrong-key',
      `the topology is signed by directory key ${signed.directoryKey}, not the pinned ${pinned}: ` +
        'you reached another directory, or the pinned key is out of date (compare it with the key the directory prints at start-up)',
    );
  }
  const shape = topologyShapeProblems(signed.document);
  if (shape.length > 0) return rejection('malformed', `the topology document is malformed: ${shape.join('; ')}`);
  const document = copyDocument(signed.document as TopologyDocument);
  const signature = fromHex(signed.signature as string) as Uint8Array;
  if (!verifyDetached(signature, encodeTopology(document), fromHex(pinned) as Uint8Array)) {
    return rejection(
      'tampered',
      `the signature does not match the topology for epoch ${document.epoch}: the document was altered after the ` +
        'directory signed it; refusing to route through it',
    );
  }
  const problems = topologyDocumentProblems(document);
  if (problems.length > 0) {
    return rejection('malformed', `the directory signed an unusable topology (report it): ${problems.join('; ')}`);
  }
  if (options.nowMs < document.validFrom - skew) {
    return rejection(
      'not-yet-valid',
      `the topology for epoch ${document.epoch} is valid from ${when(document.validFrom)}, but it is ` +
        `${when(options.nowMs)} here: this clock is behind or the directory's is ahead (allowed skew ${skew} ms)`,
    );
  }
  if (options.nowMs >= document.validUntil + skew) {
    return rejection(
      'expired',
      `the topology for epoch ${document.epoch} expired at ${when(document.validUntil)}, and it is ` +
        `${when(options.nowMs)} here: fetch a fresh one; if it stays expired, the directory has stopped publishing ` +
        `epochs or this clock is ahead (allowed skew ${skew} ms)`,
    );
  }
  return { ok: true, document };
}

/**
 * The route-selection view of a document: every node with the mixing key of the
 * document's epoch ('current'), or of the next epoch ('next', leaving out nodes that
 * have not published one yet).
 */
export function toTopology(document: TopologyDocument, which: 'current' | 'next' = 'current'): Topology {
  return {
    layers: document.layers.map((nodes) =>
      nodes.flatMap((node) => {
        const publicKey = which === 'current' ? node.publicKey : node.nextPublicKey;
        if (publicKey === undefined) return [];
        const { id, layer, url, strategy } = node;
        return [strategy === undefined ? { id, layer, url, publicKey } : { id, layer, url, publicKey, strategy }];
      }),
    ),
    gateways: document.gateways.map(({ id, url, identityKey }) =>
      identityKey === undefined ? { id, url } : { id, url, identityKey },
    ),
  };
}

/** The topology entry of a registered node for `epoch`; undefined when it has no key for that epoch. */
export function topologyNodeFor(descriptor: UnsignedNodeDescriptor, epoch: number): TopologyNode | undefined {
  const publicKey = mixingKeyFor(descriptor, epoch);
  if (publicKey === undefined) return undefined;
  const nextPublicKey = mixingKeyFor(descriptor, epoch + 1);
  const { id, layer, url, identityKey, strategy } = descriptor;
  return listedNode({ id, layer, url, identityKey, publicKey, nextPublicKey, strategy });
}

function when(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : `${date.toISOString()} (${ms} ms)`;
}

function copyDocument(document: TopologyDocument): TopologyDocument {
  return {
    version: document.version,
    epoch: document.epoch,
    validFrom: document.validFrom,
    validUntil: document.validUntil,
    layers: document.layers.map((nodes) => nodes.map(listedNode)),
    gateways: document.gateways.map(({ id, url, identityKey }) =>
      identityKey === undefined ? { id, url } : { id, url, identityKey },
    ),
  };
}

/** A node entry holding only the signed fields, the optional ones only when present. */
function listedNode(node: TopologyNode): TopologyNode {
  const { id, layer, url, identityKey, publicKey, nextPublicKey, strategy } = node;
  return {
    id,
    layer,
    url,
    identityKey,
    publicKey,
    ...(nextPublicKey === undefined ? {} : { nextPublicKey }),
    ...(strategy === undefined ? {} : { strategy }),
  };
}
