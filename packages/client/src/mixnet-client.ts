import { fromHex, type KeyPair, randomBytes } from '@mixlab/crypto';
import { type AckFrame, type GatewayInfo, MAX_ACK_IDS, type ServerFrame } from '@mixlab/gateway-api';
import { type DelayAssumptions, expectedDelayMs, parseStrategyConfig, type StrategyConfig } from '@mixlab/mixing';
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
import { identityCheckingAgent, PeerIdentityError } from '@mixlab/service-kit/tls-identity';
import {
  type NodeDescriptor,
  pickRoute,
  type Topology,
  TopologyCache,
  TopologyVerificationError,
  verifyTopology,
} from '@mixlab/topology';
import { type Dispatcher, WebSocket } from 'undici';
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
import { TransientError, unreachableReason } from './transient.ts';

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
  /**
   * The mean time for the message to arrive, be acknowledged and the acknowledgement to come
   * back (expectedRoundTripMs), when a reply was asked for and every node of both routes
   * published its strategy.
   */
  readonly expectedRoundTripMs?: number;
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
  /** How to ride out a gateway that goes away (a restart); `false`: never reconnect. */
  readonly reconnect?: ReconnectOptions | false;
  /** The connection lost, reopened, or given up: say so to the user. */
  readonly onConnection?: (event: ConnectionEvent) => void;
}

export interface ReconnectOptions {
  /** The wait before the first reconnection; it doubles after every failed one, up to maxDelayMs. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Failed connections in a row after which to give up (`done` rejects); unlimited by default. */
  readonly maxAttempts?: number;
}

export type ConnectionEvent =
  /** `failures`: connections failed in a row so far; the next try follows after `retryInMs`. */
  | { readonly type: 'lost'; readonly reason: string; readonly failures: number; readonly retryInMs: number }
  | { readonly type: 'reopened'; readonly failures: number }
  | { readonly type: 'gave_up'; readonly reason: string; readonly failures: number };

export const DEFAULT_RECONNECT = { initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: Infinity } as const;

/**
 * The wait before reconnection number `failures` (1 for the first): exponential backoff with
 * jitter (between half and all of initial × 2^(failures-1), capped), so that clients a restart
 * dropped together do not all come back in the same millisecond.
 */
export function reconnectDelayMs(failures: number, options: Required<ReconnectOptions>, random: Random): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + random.float() / 2));
}

/** Message ids a receiver remembers to drop retransmitted duplicates. */
const REMEMBERED_MESSAGE_IDS = 10_000;

/** Mean acknowledgement delay when neither ackDelayMeanMs nor meanHopDelayMs is set. */
export const DEFAULT_ACK_DELAY_MEAN_MS = 1_000;

export interface Subscription {
  /**
   * Resolves once the socket is first open and the gateway pushes; rejects only when the
   * subscription gives up (or may not reconnect) before that.
   */
  readonly opened: Promise<void>;
  /** Resolves on close(); rejects when it gives up reconnecting (ReconnectOptions.maxAttempts). */
  readonly done: Promise<void>;
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
  /**
   * Packets reaching each mix node per second, assumed for expected delays of batching
   * strategies (DelayAssumptions); default DEFAULT_NODE_ARRIVALS_PER_SECOND.
   */
  readonly nodeArrivalsPerSecond?: number;
}

/** The compose cascade's loop cover alone brings each node about one packet a second. */
export const DEFAULT_NODE_ARRIVALS_PER_SECOND = 1;

/**
 * The mean round trip of an acknowledged message: every hop's expected delay on the route
 * out and on the reply block's route back (expectedDelayMs of each node's published strategy),
 * plus the recipient's mean acknowledgement delay. Undefined when a node published no strategy
 * (or one this client cannot read): the caller falls back to a fixed timeout.
 */
export function expectedRoundTripMs(
  routes: readonly (readonly NodeDescriptor[])[],
  ackDelayMeanMs: number,
  assumptions: DelayAssumptions,
): number | undefined {
  let total = ackDelayMeanMs;
  for (const node of routes.flat()) {
    if (node.strategy === undefined) return undefined;
    let config: StrategyConfig;
    try {
      config = parseStrategyConfig(node.strategy);
    } catch {
      return undefined; // a strategy newer than this client
    }
    total += expectedDelayMs(config, assumptions);
  }
  return total;
}

/** Parses a recipient address (64 hex characters) into its public key. */
export function parseAddress(address: string): Uint8Array {
  const key = fromHex(address.trim().toLowerCase());
  if (key?.length !== 32) throw new Error(`an address is 64 hex characters (a public key), got "${address}"`);
  return key;
}

/** The one line a client says when the gateway is not one the directory signed for. */
export function notAGatewayReason(gatewayUrl: string, identityKey: string): string {
  return (
    `refusing the gateway at ${gatewayUrl}: its TLS key ${identityKey} is no gateway's identity key in the ` +
    "directory's signed topology (another service, or someone in between, answers at that address)"
  );
}

/**
 * A mixnet client: wraps messages locally and submits them through the gateway,
 * which learns the first hop but never the recipient.
 */
export class MixnetClient {
  readonly gateway: GatewayClient;
  /**
   * The client's HTTPS connection to the gateway (and its WebSocket's): its own single
   * keep-alive connection, as a user on a machine of their own would have, so that what a tap
   * on the link sees of this client is that connection. Every connection's TLS key must be a
   * gateway's identity key in the verified topology.
   */
  readonly dispatcher: Dispatcher;
  /** The gateways' identity keys in the last verified topology; undefined until one is verified. */
  #gatewayKeys: ReadonlySet<string> | undefined;
  /** Keys of connections opened before any topology was verified: checked as soon as one is. */
  readonly #keysToCheck = new Set<string>();
  readonly #random: Random;
  readonly #topology: TopologyCache;
  #context: Promise<{ info: GatewayInfo; format: PacketFormat }> | undefined;

  readonly #hopDelay: () => number | undefined;
  readonly #clock: Clock;
  readonly #ackDelayMean: () => Promise<number>;
  readonly #assumptions: DelayAssumptions;

  constructor(gatewayUrl: string, options: MixnetClientOptions = {}) {
    if (!/^https:\/\//i.test(gatewayUrl)) {
      throw new Error(
        `the gateway's URL must be https:// (it authenticates with its identity key), got "${gatewayUrl}"`,
      );
    }
    // One keep-alive connection, held between requests about as long as the gateway keeps it (72 s).
    this.dispatcher = identityCheckingAgent({
      connections: 1,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 60_000,
      check: (key) => this.#checkGatewayKey(key),
    });
    // No session token leaves before the gateway's key is checked against a verified topology.
    this.gateway = new GatewayClient(gatewayUrl, this.dispatcher, async () => {
      await this.topology();
    });
    const random = options.random ?? secureRandom;
    this.#random = random;
    this.#clock = options.clock ?? monotonicClock;
    const mean = options.meanHopDelayMs;
    if (mean !== undefined && !(mean > 0)) throw new RangeError(`meanHopDelayMs must be positive, got ${mean}`);
    const arrivalsPerSecond = options.nodeArrivalsPerSecond ?? DEFAULT_NODE_ARRIVALS_PER_SECOND;
    if (!(arrivalsPerSecond > 0)) {
      throw new RangeError(`nodeArrivalsPerSecond must be positive, got ${arrivalsPerSecond}`);
    }
    this.#assumptions = { arrivalsPerSecond, senderMeanDelayMs: mean };
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
          this.#trustGateways(verdict.document.gateways);
          return verdict.document;
        },
      },
    );
  }

  /** Accepts a connection's key once it is a gateway's of the verified topology; before that, notes it to check then. */
  #checkGatewayKey(key: string | undefined): string | undefined {
    if (key === undefined)
      return `refusing the gateway at ${this.gateway.baseUrl}: its TLS certificate holds no Ed25519 key`;
    if (this.#gatewayKeys === undefined) {
      this.#keysToCheck.add(key);
      return undefined;
    }
    return this.#gatewayKeys.has(key) ? undefined : notAGatewayReason(this.gateway.baseUrl, key);
  }

  /** Takes a verified topology's gateway keys; throws if a connection already used presented another. */
  #trustGateways(gateways: readonly { readonly identityKey?: string }[]): void {
    const keys = new Set(gateways.flatMap(({ identityKey }) => (identityKey ? [identityKey] : [])));
    for (const key of this.#keysToCheck) {
      if (!keys.has(key)) throw new PeerIdentityError(notAGatewayReason(this.gateway.baseUrl, key), key);
    }
    this.#keysToCheck.clear();
    this.#gatewayKeys = keys;
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
    let roundTripMs: number | undefined;
    if (options.replyTo) {
      if (!format.replies) throw new Error(`the ${format.name} format has no reply blocks, so no acknowledgements`);
      const back = { gateway: info.gatewayId, recipient: options.replyTo.publicKey };
      const replyRoute = pickRoute(topology, this.#random);
      reply = format.replies.createReplyBlock(routeHops(replyRoute, this.#hopDelay), back);
      roundTripMs = expectedRoundTripMs([route, replyRoute], await this.#ackDelayMean(), this.#assumptions);
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
    return {
      messageId: message.id,
      route: route.map((node) => node.id),
      replySecret: reply?.secret,
      ...(roundTripMs === undefined ? {} : { expectedRoundTripMs: roundTripMs }),
    };
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
      packets: [
        { firstHop, packet: Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength).toString('base64') },
      ],
    });
    if (result.accepted !== 1) {
      const reasons = result.rejected.map((r) => r.reason).join('; ');
      // Refused for its first hop (not in the topology, unreachable, down): a fresh route later may pass.
      const forItsSize = result.rejected.every((r) => /^packet of \d+ bytes/.test(r.reason));
      if (forItsSize) throw new Error(`gateway refused the packet: ${reasons}`);
      throw new TransientError(`gateway could not forward the packet: ${reasons}`);
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
    const reconnect = options.reconnect === false ? undefined : { ...DEFAULT_RECONNECT, ...options.reconnect };
    const onConnection = options.onConnection ?? (() => {});
    let socket: WebSocket | undefined;
    let failures = 0;
    let everOpened = false;
    let cancelRetry = () => {};
    const opened = Promise.withResolvers<void>();
    const done = Promise.withResolvers<void>();
    // Neither needs a handler to be safe: a caller that ignores them does not crash the process.
    opened.promise.catch(() => {});
    done.promise.catch(() => {});
    /**
     * Acknowledgements wait for the end of this turn of the event loop, so that deliveries that
     * came together (a batch the mixes released at once) leave in one frame: one TLS write here,
     * one mailbox removal at the gateway. Those with a latency go in a frame of their own.
     */
    let acks: { from: WebSocket; ids: string[]; timedIds: string[]; latencies: number[] } | undefined;
    const flushAcks = () => {
      const batch = acks;
      acks = undefined;
      // On a socket since closed the acks are dropped: the mailbox pushes those messages again.
      if (!batch || batch.from.readyState !== WebSocket.OPEN) return;
      for (let at = 0; at < batch.ids.length; at += MAX_ACK_IDS) {
        const frame: AckFrame = { type: 'ack', ids: batch.ids.slice(at, at + MAX_ACK_IDS) };
        batch.from.send(JSON.stringify(frame));
      }
      for (let at = 0; at < batch.timedIds.length; at += MAX_ACK_IDS) {
        const frame: AckFrame = {
          type: 'ack',
          ids: batch.timedIds.slice(at, at + MAX_ACK_IDS),
          latencies: batch.latencies.slice(at, at + MAX_ACK_IDS),
        };
        batch.from.send(JSON.stringify(frame));
      }
    };
    const ack = (from: WebSocket, id: string, sentAt: number | undefined) => {
      if (from.readyState !== WebSocket.OPEN) return;
      if (acks && acks.from !== from) flushAcks();
      if (!acks) {
        acks = { from, ids: [], timedIds: [], latencies: [] };
        setImmediate(flushAcks);
      }
      if (reportLatency && sentAt !== undefined) {
        acks.timedIds.push(id);
        acks.latencies.push(Math.max(0, (now() - sentAt) / 1000));
      } else {
        acks.ids.push(id);
      }
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
    const handle = async (from: WebSocket, data: unknown) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(data)) as ServerFrame;
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
            ack(from, deliveryId, undefined);
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
      ack(from, deliveryId, sentAt);
    };
    // A socket that fails says nothing of why; the gateway's HTTP API does (refused, 503, ...).
    const whyDown = async (): Promise<string> => {
      try {
        await this.gateway.info();
        return 'the mailbox connection closed';
      } catch (error) {
        return unreachableReason(this.gateway.baseUrl, error);
      }
    };
    const connectionEnded = async (wasOpen: boolean, failure?: unknown) => {
      if (closed) return;
      if (wasOpen) failures = 0;
      failures++;
      const reason = failure === undefined ? await whyDown() : unreachableReason(this.gateway.baseUrl, failure);
      if (closed) return;
      if (!reconnect || failures > reconnect.maxAttempts) {
        onConnection({ type: 'gave_up', reason, failures: failures - 1 });
        const error = new Error(`gave up on the gateway's mailbox connection (${this.gateway.baseUrl}): ${reason}`);
        opened.reject(error);
        done.reject(error);
        closed = true;
        cancelAll();
        return;
      }
      const retryInMs = reconnectDelayMs(failures, reconnect, this.#random);
      onConnection({ type: 'lost', reason, failures, retryInMs });
      cancelRetry = this.#clock.schedule(retryInMs, connect);
    };
    const connect = () => {
      if (closed) return;
      // The session first (and, before it, the gateway's key against the verified topology). A
      // reconnection opens a new one: the gateway may have restarted (sessions live in its
      // memory) or the old one expired, and a refused upgrade would not say so.
      this.gateway.mailboxSocket(keys, failures > 0).then(
        ({ url, headers }) => open(url, headers),
        (error) => void connectionEnded(false, error),
      );
    };
    const open = (url: string, headers: Record<string, string>) => {
      if (closed) return;
      // undici's own WebSocket (Node's global one is an older undici that cannot use this
      // dispatcher): the same checked connections, and the session in the upgrade's header.
      const current = new WebSocket(url, { dispatcher: this.dispatcher, headers });
      socket = current;
      let wasOpen = false;
      current.addEventListener('open', () => {
        wasOpen = true;
        if (everOpened) onConnection({ type: 'reopened', failures });
        everOpened = true;
        failures = 0;
        opened.resolve();
      });
      current.addEventListener('message', (event) => void handle(current, event.data));
      // 'close' follows 'error' too: one place decides what comes next.
      current.addEventListener('close', () => void connectionEnded(wasOpen), { once: true });
    };
    const cancelAll = () => {
      cancelRetry();
      for (const cancel of waiting) cancel();
      waiting.clear();
    };
    connect();
    return {
      opened: opened.promise,
      done: done.promise,
      close: () => {
        if (closed) return;
        closed = true;
        cancelAll();
        flushAcks();
        socket?.close();
        done.resolve();
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

/** Each node's public key, parsed once per verified topology (a new topology brings new node objects). */
const nodeKeys = new WeakMap<NodeDescriptor, Uint8Array>();

function routeHops(route: readonly NodeDescriptor[], delayMs: () => number | undefined): RouteHop[] {
  return route.map((node) => {
    let publicKey = nodeKeys.get(node);
    if (!publicKey) {
      publicKey = parseAddress(node.publicKey);
      nodeKeys.set(node, publicKey);
    }
    return { id: node.id, publicKey, delayMs: delayMs() };
  });
}
