import { fromHex, type KeyPair, randomBytes, toHex } from '@mixlab/crypto';
import type { AckFrame, GatewayInfo, ServerFrame } from '@mixlab/gateway-api';
import {
  DROP_RECIPIENT,
  PACKET_FORMAT_NAMES,
  type PacketFormat,
  type PacketFormatName,
  packetFormat,
  type ReplyFormat,
  type ReplySecret,
  type RouteHop,
} from '@mixlab/packet';
import { type Clock, exponentialDelay, monotonicClock, type Random, secureRandom } from '@mixlab/runtime';
import {
  type NodeDescriptor,
  pickRoute,
  type Topology,
  TopologyCache,
  TopologyVerificationError,
  verifyTopology,
} from '@mixlab/topology';
import { Agent, type Dispatcher } from 'undici';
import { rememberBounded } from './bounded-set.ts';
import { GatewayClient } from './gateway-client.ts';
import {
  encodeAcknowledgement,
  MESSAGE_OVERHEAD_BYTES,
  type Message,
  type MessageKind,
  newMessageId,
  openMessage,
  sealMessage,
} from './message.ts';

export interface SendOptions {
  /** Keep the id of an earlier attempt (retransmission), so the recipient can drop duplicates. */
  readonly messageId?: string;
  /**
   * Ask for an acknowledgement: carry a single-use reply block routed back to these
   * keys' address at this gateway. Only formats with replies (Sphinx) can.
   */
  readonly replyTo?: KeyPair;
  /** `loop` for loop cover (sent to oneself). */
  readonly kind?: MessageKind;
  /**
   * Seal this send time (ms since the epoch) into the message, so the recipient can show its
   * latency. A leak, and so opt-in: a recipient that also sees the gateway's input can match
   * the message to its submission and undo the mixing. Absent: the message says nothing of when it left.
   */
  readonly sentAt?: number;
}

export interface SendReceipt {
  readonly messageId: string;
  /** Node ids of the route, layer 1 first (known only to the sender). */
  readonly route: readonly string[];
  /** What reads the acknowledgement, when one was asked for. */
  readonly replySecret?: ReplySecret;
}

export interface ReceivedMessage extends Message {
  /** Gateway mailbox id, acknowledged once handled. */
  readonly deliveryId: string;
}

export interface ReceiveOptions {
  /** Undecryptable deliveries and gateway errors; they are acknowledged so they do not come back. */
  readonly onError?: (error: Error) => void;
  /**
   * Measurement only: tell the gateway each message's end-to-end latency with its
   * acknowledgement (mixlab_end_to_end_latency_seconds), for messages whose send time
   * `sendTimeOf` knows. Reveals latencies to the gateway.
   */
  readonly reportLatency?: boolean;
  /**
   * A message's send time, ms since the epoch, when the receiver knows it: by default the time
   * the sender revealed in it (`SendOptions.sentAt`). A process that sends and receives (the load
   * generator) looks its own send times up instead, so nothing rides in the message.
   */
  readonly sendTimeOf?: (message: Message) => number | undefined;
  /** Clock for latencies, ms since the epoch. */
  readonly now?: () => number;
  /**
   * Every delivery could be a reply (one size for all): this is asked first, with the reply id
   * the delivery would carry, and returns true when it was a reply to one of this receiver's own
   * blocks (AcknowledgedSender.handleReply); otherwise the delivery is opened as a message.
   */
  readonly onReply?: (delivered: Uint8Array, replyId: Uint8Array) => boolean;
  /** This client's own loop cover coming back goes here instead of `onMessage`. */
  readonly onLoop?: (message: Message) => void;
}

/** Message ids a receiver remembers to drop retransmitted duplicates. */
const REMEMBERED_MESSAGE_IDS = 10_000;

/** Mean acknowledgement delay when neither ackDelayMeanMs nor meanHopDelayMs is set. */
export const DEFAULT_ACK_DELAY_MEAN_MS = 1_000;

export interface Subscription {
  /** Resolves once the socket is open and the gateway pushes. */
  readonly opened: Promise<void>;
  close(): void;
}

export interface MixnetClientOptions {
  /**
   * The directory's public key (hex), pinned: the client routes only through a topology
   * this key signed, for the current time. The directory prints it at start-up.
   */
  readonly directoryKey?: string;
  /**
   * Draws routes and per-hop delays; the CSPRNG by default. Seed it only to reproduce an
   * experiment: packet key material never comes from it (that is always randomBytes).
   */
  readonly random?: Random;
  /**
   * The HTTP connections to the gateway. By default each client has its own single
   * keep-alive connection, as a user on a machine of their own would: what a tap on the
   * link sees of this client is that connection, not a pool shared with other clients.
   */
  readonly dispatcher?: Dispatcher;
  /**
   * Ask every hop to hold the packet for an exponentially distributed delay with this mean
   * (for nodes running `exponential:delay=sender`). Formats without per-hop delays ignore it.
   */
  readonly meanHopDelayMs?: number;
  /**
   * Mean of the exponentially distributed delay before a received message is acknowledged,
   * drawn with `random` for every acknowledgement, so that when a reply leaves says nothing of
   * when the message arrived. Default: meanHopDelayMs × the topology's layers (a route's mixing
   * delay) when meanHopDelayMs is set, else DEFAULT_ACK_DELAY_MEAN_MS.
   */
  readonly ackDelayMeanMs?: number;
  /** Times acknowledgement delays; monotonic by default. */
  readonly clock?: Clock;
}

/** Parses a recipient address (64 hex characters) into its public key. */
export function parseAddress(address: string): Uint8Array {
  const key = fromHex(address.trim().toLowerCase());
  if (key?.length !== 32) throw new Error(`an address is 64 hex characters (a public key), got "${address}"`);
  return key;
}

/** One keep-alive connection, held between requests about as long as the gateway keeps it (72 s). */
const ownConnection = () => new Agent({ connections: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });

/**
 * A mixnet client: wraps messages locally and submits them through the gateway,
 * which learns the first hop but never the recipient.
 */
export class MixnetClient {
  readonly gateway: GatewayClient;
  readonly #random: Random;
  readonly #topology: TopologyCache;
  #context: Promise<{ info: GatewayInfo; format: PacketFormat }> | undefined;

  readonly #hopDelay: () => number | undefined;
  readonly #clock: Clock;
  readonly #ackDelayMean: () => Promise<number>;

  constructor(gatewayUrl: string, options: MixnetClientOptions = {}) {
    this.gateway = new GatewayClient(gatewayUrl, options.dispatcher ?? ownConnection());
    const random = options.random ?? secureRandom;
    this.#random = random;
    this.#clock = options.clock ?? monotonicClock;
    const mean = options.meanHopDelayMs;
    if (mean !== undefined && !(mean > 0)) throw new RangeError(`meanHopDelayMs must be positive, got ${mean}`);
    const ackMean = options.ackDelayMeanMs;
    if (ackMean !== undefined && !(ackMean > 0))
      throw new RangeError(`ackDelayMeanMs must be positive, got ${ackMean}`);
    this.#ackDelayMean = async () => {
      if (ackMean !== undefined) return ackMean;
      if (mean === undefined) return DEFAULT_ACK_DELAY_MEAN_MS;
      return mean * (await this.topology()).layers.length;
    };
    // Loopix: the sender draws every hop's delay, so it knows its message's latency distribution.
    this.#hopDelay = () => (mean === undefined ? undefined : Math.max(1, Math.round(exponentialDelay(mean, random))));
    const { directoryKey } = options;
    this.#topology = new TopologyCache(
      async () => {
        if (!directoryKey) {
          throw new Error(
            'no pinned directory key: pass the key the directory prints at start-up (--directory-key or ' +
              'MIXLAB_DIRECTORY_KEY; with compose: docker compose exec directory cat /data/directory.pub)',
          );
        }
        return this.gateway.signedTopology();
      },
      {
        maxAgeMs: 5_000,
        refetchAfterMs: 1_000,
        // Refreshed (and verified) in the background: no send waits for it every 5 s.
        serveStaleMs: 10_000,
        // The cache's fetch fails on a refusal, so the verdict is raised here.
        verify: (signed) => {
          const verdict = verifyTopology(signed, {
            pinnedDirectoryKey: directoryKey ?? '',
            nowMs: Date.now(),
            maxSkewMs: 5_000,
          });
          if (!verdict.ok) throw new TopologyVerificationError(verdict.reason, verdict.problem);
          return verdict.document;
        },
      },
    );
  }

  /** The verified topology's route view: cached for a few seconds, and never past its epoch. */
  topology(): Promise<Topology> {
    return this.#topology.current();
  }

  /** The gateway's packet format's replies, or undefined when it has none (onion). */
  async replyFormat(): Promise<ReplyFormat | undefined> {
    return (await this.#gatewayContext()).format.replies;
  }

  /** Seals `body` to `recipient`, wraps it for a fresh random route, and submits it. */
  async send(recipient: Uint8Array, body: Uint8Array, options: SendOptions = {}): Promise<SendReceipt> {
    const { info, format } = await this.#gatewayContext();
    const topology = await this.topology();
    const route = pickRoute(topology, this.#random);
    let reply: { block: Uint8Array; secret: ReplySecret } | undefined;
    if (options.replyTo) {
      if (!format.replies) throw new Error(`the ${format.name} format has no reply blocks, so no acknowledgements`);
      const back = { gateway: info.gatewayId, recipient: options.replyTo.publicKey };
      reply = format.replies.createReplyBlock(routeHops(pickRoute(topology, this.#random), this.#hopDelay), back);
    }
    const message: Message = {
      id: options.messageId ?? newMessageId(),
      sentAt: options.sentAt,
      body,
      replyBlock: reply?.block,
      kind: options.kind,
    };
    const destination = { gateway: info.gatewayId, recipient };
    let packet: Uint8Array;
    try {
      // Padded to the packet's capacity where the format has one: every delivery the same size.
      const sealed = sealMessage(message, recipient, format.payloadCapacity?.(destination));
      packet = format.wrap(routeHops(route, this.#hopDelay), destination, sealed);
    } catch (error) {
      throw new Error(`cannot wrap the message: ${(error as Error).message}`, { cause: error });
    }
    await this.#submit((route[0] as NodeDescriptor).id, packet);
    return { messageId: message.id, route: route.map((node) => node.id), replySecret: reply?.secret };
  }

  /**
   * Drop cover (Loopix): a packet to the sink, as large as a message of `bodyBytes`,
   * over a fresh route. Only the exit node learns it was cover, and discards it.
   */
  async sendDrop(bodyBytes: number): Promise<void> {
    const { info, format } = await this.#gatewayContext();
    const route = pickRoute(await this.topology(), this.#random);
    const destination = { gateway: info.gatewayId, recipient: DROP_RECIPIENT };
    // As `send` pads a message: to the packet's capacity where the format has one.
    const payload = randomBytes(format.payloadCapacity?.(destination) ?? MESSAGE_OVERHEAD_BYTES + bodyBytes);
    const packet = format.wrap(routeHops(route, this.#hopDelay), destination, payload);
    await this.#submit((route[0] as NodeDescriptor).id, packet);
  }

  async #submit(firstHop: string, packet: Uint8Array): Promise<void> {
    const result = await this.gateway.submit({
      packets: [{ firstHop, packet: Buffer.from(packet).toString('base64') }],
    });
    if (result.accepted !== 1) {
      throw new Error(`gateway refused the packet: ${result.rejected.map((r) => r.reason).join('; ')}`);
    }
  }

  /** Answers a message's reply block with an acknowledgement of it. */
  async #acknowledge(message: Message): Promise<void> {
    const { format } = await this.#gatewayContext();
    if (!message.replyBlock || !format.replies) return;
    const { firstHop, packet } = format.replies.wrapReply(message.replyBlock, encodeAcknowledgement(message.id));
    await this.#submit(firstHop, packet);
  }

  /**
   * Pushes every message for `keys` to `onMessage` as it arrives (and those already
   * waiting), then removes it from the mailbox. A message that carries a reply block is
   * acknowledged through it, every time it arrives (the sender may not have heard the
   * last acknowledgement), after a delay drawn from an exponential distribution
   * (ackDelayMeanMs); closing the subscription drops acknowledgements still waiting.
   * A retransmitted copy reaches `onMessage` only once.
   */
  receive(
    keys: KeyPair,
    onMessage: (message: ReceivedMessage) => void | Promise<void>,
    options: ReceiveOptions = {},
  ): Subscription {
    const {
      onError = () => {},
      reportLatency = false,
      sendTimeOf = (message: Message) => message.sentAt,
      now = Date.now,
      onReply,
      onLoop,
    } = options;
    const seen = new Set<string>();
    const waiting = new Set<() => void>();
    let closed = false;
    const address = toHex(keys.publicKey);
    const socket = new WebSocket(this.gateway.mailboxSocketUrl(address));
    const ack = (id: string, sentAt: number | undefined) => {
      const frame: AckFrame =
        reportLatency && sentAt !== undefined
          ? { type: 'ack', ids: [id], latencies: [Math.max(0, (now() - sentAt) / 1000)] }
          : { type: 'ack', ids: [id] };
      socket.send(JSON.stringify(frame));
    };
    // Not at once: an acknowledgement leaving right after a delivery would tell the gateway which
    // deliveries were messages (cover is never acknowledged) and link the two.
    const acknowledgeLater = async (message: Message) => {
      const delayMs = exponentialDelay(await this.#ackDelayMean(), this.#random);
      if (closed) return;
      const cancel = this.#clock.schedule(delayMs, () => {
        waiting.delete(cancel);
        this.#acknowledge(message).catch((error) => onError(new Error(`acknowledgement not sent: ${error}`)));
      });
      waiting.add(cancel);
    };
    const opened = new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot open ${socket.url}`)), { once: true });
    });
    socket.addEventListener('message', async (event) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(event.data)) as ServerFrame;
      } catch {
        onError(new Error('gateway sent a frame that is not JSON'));
        return;
      }
      if (frame.type === 'error') {
        onError(new Error(`gateway: ${frame.reason}`));
        return;
      }
      const { id: deliveryId, payload } = frame.message;
      const delivered = Buffer.from(payload, 'base64');
      let sentAt: number | undefined;
      try {
        const { info, format } = await this.#gatewayContext();
        const replyId = format.replies?.replyId(delivered);
        if (!(replyId && onReply?.(delivered, replyId))) {
          // The sealed message fills the packet's capacity; the exit padded the rest.
          const capacity = format.payloadCapacity?.({ gateway: info.gatewayId, recipient: keys.publicKey });
          const message = openMessage(delivered.subarray(0, capacity ?? delivered.length), keys);
          if (message.kind === 'loop') {
            onLoop?.(message);
            ack(deliveryId, undefined);
            return;
          }
          if (message.replyBlock) {
            acknowledgeLater(message).catch((error) => onError(new Error(`acknowledgement not sent: ${error}`)));
          }
          if (!seen.has(message.id)) {
            sentAt = sendTimeOf(message);
            rememberBounded(seen, message.id, REMEMBERED_MESSAGE_IDS);
            await onMessage({ ...message, deliveryId });
          }
        }
      } catch (error) {
        onError(error as Error);
      }
      ack(deliveryId, sentAt);
    });
    return {
      opened,
      close: () => {
        closed = true;
        for (const cancel of waiting) cancel();
        waiting.clear();
        socket.close();
      },
    };
  }

  #gatewayContext(): Promise<{ info: GatewayInfo; format: PacketFormat }> {
    this.#context ??= this.gateway.info().then((info) => {
      if (!PACKET_FORMAT_NAMES.includes(info.packetFormat as PacketFormatName)) {
        throw new Error(`gateway uses packet format "${info.packetFormat}", which this client does not speak`);
      }
      return { info, format: packetFormat(info.packetFormat as PacketFormatName) };
    });
    // A failed look-up is retried on the next send rather than remembered.
    this.#context.catch(() => {
      this.#context = undefined;
    });
    return this.#context;
  }
}

function routeHops(route: readonly NodeDescriptor[], delayMs: () => number | undefined): RouteHop[] {
  return route.map((node) => ({ id: node.id, publicKey: parseAddress(node.publicKey), delayMs: delayMs() }));
}
