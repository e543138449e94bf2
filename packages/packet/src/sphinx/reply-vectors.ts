/**
 * Sphinx reply test vectors: fixed keys and randomness in; the reply block, the sender's secret,
 * the replier's packet, every packet on every link, the delivered payload and the opened
 * message out. `node packages/packet/src/sphinx/reply-vectors.ts` rewrites
 * packages/packet/test-vectors/sphinx-reply.json; reply-vectors.test.ts recomputes it byte for byte.
 */
import { writeFileSync } from 'node:fs';
import { cryptoReady, toHex, x25519Base } from '@mixlab/crypto';
import type { GeometryParameters } from './geometry.ts';
import {
  caseSetup,
  headerRandomnessBytes,
  hex,
  peelAlong,
  seeded,
  type VectorCase,
  type VectorHop,
  vectorRoute,
} from './vectors.ts';

export const REPLY_VECTORS_PATH = new URL('../../test-vectors/sphinx-reply.json', import.meta.url);

export interface ReplyVectorCase {
  readonly name: string;
  readonly geometry: Required<GeometryParameters>;
  /**
   * The reply route: the replier hands the packet to route[0]; route[n-1] delivers it.
   * route[i].delayMs (absent = 0), chosen by the block's creator, is in hop i's routing slot.
   */
  readonly route: VectorCase['route'];
  /** The sender's own gateway id and address: where the reply is delivered. */
  readonly destination: { readonly gateway: string; readonly recipient: string };
  /** What the replier sends back. */
  readonly message: string;
  /** What createReplyBlock draws, in order: reply id (16), replier key (128), ephemeral scalar (32), padding. */
  readonly randomness: string;
  readonly block: string;
  readonly secret: { readonly id: string; readonly keys: string };
  /** wrapReply's output (it draws no randomness). */
  readonly firstHop: string;
  readonly packet: string;
  /** As in sphinx.json; the last hop's `payload` is the delivered reply id | payload. */
  readonly hops: readonly VectorHop[];
  /** replyId(delivered) and openReply(secret, delivered). */
  readonly replyId: string;
  readonly opened: string;
}

export interface ReplyVectorFile {
  readonly description: string;
  readonly cases: readonly ReplyVectorCase[];
}

const utf8 = new TextEncoder();

type ReplyVectorInputs = Pick<
  ReplyVectorCase,
  'name' | 'geometry' | 'route' | 'destination' | 'message' | 'randomness'
>;

function inputs(
  name: string,
  hops: number,
  geometry: Required<GeometryParameters>,
  message: string,
  delays: readonly number[] = [],
): ReplyVectorInputs {
  const recipient = x25519Base(seeded(`mixlab sphinx reply vector sender ${name}`, 32));
  return {
    name,
    geometry,
    route: vectorRoute(hops, delays),
    destination: { gateway: 'gateway-1', recipient: toHex(recipient) },
    message: toHex(utf8.encode(message)),
    randomness: toHex(
      seeded(`mixlab sphinx reply vector rng ${name}`, 16 + 128 + headerRandomnessBytes(geometry, hops)),
    ),
  };
}

/** Builds the block with the case's randomness, wraps the reply, peels it along the route and opens it. */
export function computeReplyCase(input: ReplyVectorInputs): ReplyVectorCase {
  const { format, route, destination, drewAll } = caseSetup(input);
  const { block, secret } = format.replies.createReplyBlock(route, destination);
  drewAll('createReplyBlock');
  const { firstHop, packet } = format.replies.wrapReply(block, hex(input.message));
  const hops = peelAlong(format, input.route, packet);
  const delivered = hex((hops[hops.length - 1] as VectorHop).payload ?? '');
  const replyId = format.replies.replyId(delivered);
  if (!replyId) throw new Error('the delivered payload is not a reply');
  return {
    ...input,
    block: toHex(block),
    secret: { id: toHex(secret.id), keys: toHex(secret.keys) },
    firstHop,
    packet: toHex(packet),
    hops,
    replyId: toHex(replyId),
    opened: toHex(format.replies.openReply(secret, delivered)),
  };
}

export function generateReplyVectors(): ReplyVectorFile {
  const geometry = { maxHops: 5, payloadBytes: 2048 };
  return {
    description:
      'mixlab Sphinx v2 reply (SURB) test vectors (docs/sphinx.md, "Replies"). Hex strings. ' +
      'randomness = what createReplyBlock draws, in order. route[i].delayMs (absent = 0) is the delay in ' +
      "hop i's routing slot; hops[i].delayMs is what hop i peeled. " +
      'Regenerate: node packages/packet/src/sphinx/reply-vectors.ts',
    cases: [
      computeReplyCase(inputs('reply, one hop', 1, geometry, 'ack', [500])),
      computeReplyCase(inputs('reply, three hops', 3, geometry, 'a reply over three hops', [100, 2000, 30])),
      computeReplyCase(inputs('reply, five hops', 5, geometry, 'a reply over the longest route')),
    ],
  };
}

if (import.meta.main) {
  await cryptoReady();
  writeFileSync(REPLY_VECTORS_PATH, `${JSON.stringify(generateReplyVectors(), null, 2)}\n`);
  console.log(`wrote ${REPLY_VECTORS_PATH.pathname}`);
}
