/**
 * The exact size model of the onion format on the testbed's wire, from public facts only (the
 * gateway API's JSON, the onion layout, the node and gateway ids the directory publishes): a
 * message whose sealed payload has P bytes is submitted as
 *   {"packets":[{"firstHop":ID1,"packet":BASE64(P + C)}]}
 * and pushed as
 *   {"type":"message","message":{"id":HEX32,"payload":BASE64(P),"receivedAt":MS}}
 * where C, the onion's overhead, is one sealed box per hop, the next hop's id per forward layer
 * and the gateway id and recipient key in the deliver layer. Base64 rounds to 4 bytes per 3, so
 * a push's size names P up to three values, and the submission's size follows from each;
 * whether that is one shrink or two depends on C mod 3. Learning shifts from the histograms
 * guesses at this; the model knows it.
 */
import type { Roles } from '@mixlab/anonymity';

/** Bytes a sealed box adds (libsodium crypto_box_seal: an ephemeral key and a MAC). */
export const SEAL_OVERHEAD_BYTES = 48;
/** X25519 public key: the recipient in the deliver layer. */
const RECIPIENT_BYTES = 32;
/** Forward layer: kind (1) | id length (1) | next hop id. */
const FORWARD_HEADER_BYTES = 2;
/** Deliver layer: kind (1) | gateway id length (2) | gateway id | recipient (32). */
const DELIVER_HEADER_BYTES = 3;

/** The JSON around the base64 packet of a one-packet submission, without the first hop's id. */
export const SUBMISSION_FRAMING_BYTES = '{"packets":[{"firstHop":"","packet":""}]}'.length;
/** The JSON around the base64 payload of a push: a 32-hex message id and a 13-digit ms time. */
export const PUSH_FRAMING_BYTES = '{"type":"message","message":{"id":"","payload":"","receivedAt":}}'.length + 32 + 13;

/** Length of the base64 of n bytes (padded). */
export const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

/** Bytes the onion layers add to a sealed payload over the route `hopIds` (first hop first) to `gatewayId`. */
export function onionOverheadBytes(hopIds: readonly string[], gatewayId: string): number {
  const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');
  const forwards = hopIds.slice(1).reduce((sum, id) => sum + FORWARD_HEADER_BYTES + utf8(id), 0);
  return hopIds.length * SEAL_OVERHEAD_BYTES + forwards + DELIVER_HEADER_BYTES + utf8(gatewayId) + RECIPIENT_BYTES;
}

/** For a push, the submission sizes its message can have had on the wire, with their probabilities. */
export interface WireSizeModel {
  submissionSizes(push: { readonly bytes: number; readonly from?: string }): ReadonlyMap<number, number>;
}

/**
 * The onion model for a cascade of `roles.nodes`: every route (one node per layer, uniform
 * within a layer) and every payload length a push's base64 can hold (equally likely), each
 * giving one submission size. A push whose size no payload gives (not onion, or not a
 * one-packet message) has no candidates.
 */
export function onionWireModel(roles: Pick<Roles, 'nodes' | 'gateways'>): WireSizeModel {
  const layers = [...new Set(roles.nodes.map((node) => node.layer))].sort((a, b) => a - b);
  // Every route's (first hop id bytes, overhead) with its probability, per gateway.
  let routes: { ids: string[]; p: number }[] = [{ ids: [], p: 1 }];
  for (const layer of layers) {
    const nodes = roles.nodes.filter((node) => node.layer === layer);
    routes = routes.flatMap((route) =>
      nodes.map((node) => ({ ids: [...route.ids, node.name], p: route.p / nodes.length })),
    );
  }
  const shapes = new Map<string, { firstHopBytes: number; overhead: number; p: number }[]>();
  for (const gateway of roles.gateways) {
    shapes.set(
      gateway,
      routes.map(({ ids, p }) => ({
        firstHopBytes: Buffer.byteLength(ids[0] ?? '', 'utf8'),
        overhead: onionOverheadBytes(ids, gateway),
        p,
      })),
    );
  }
  const fallback = [...shapes.values()][0] ?? [];
  return {
    submissionSizes(push) {
      const sizes = new Map<number, number>();
      const encoded = push.bytes - PUSH_FRAMING_BYTES;
      if (encoded < 4 || encoded % 4 !== 0) return sizes;
      const groups = encoded / 4;
      const payloads = [3 * groups - 2, 3 * groups - 1, 3 * groups];
      for (const { firstHopBytes, overhead, p } of (push.from && shapes.get(push.from)) || fallback) {
        for (const payload of payloads) {
          const bytes = SUBMISSION_FRAMING_BYTES + firstHopBytes + base64Length(payload + overhead);
          sizes.set(bytes, (sizes.get(bytes) ?? 0) + p / payloads.length);
        }
      }
      return sizes;
    },
  };
}

/**
 * The share of pushes for which the model names a submission size that occurs in the trace:
 * near 1 when the wire runs the modelled format, near 0 otherwise (Sphinx pads every size
 * away). How an attacker checks which public format a network runs.
 */
export function wireModelFit(
  model: WireSizeModel,
  submissions: readonly { readonly bytes: number }[],
  pushes: readonly { readonly bytes: number; readonly gateway?: string }[],
): number {
  if (pushes.length === 0) return 0;
  const seen = new Set(submissions.map((submission) => submission.bytes));
  const fits = pushes.filter((push) =>
    [...model.submissionSizes({ bytes: push.bytes, from: push.gateway }).keys()].some((size) => seen.has(size)),
  );
  return fits.length / pushes.length;
}
