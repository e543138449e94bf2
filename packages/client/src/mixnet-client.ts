import { randomInt } from 'node:crypto';
import { fromHex, type KeyPair, toHex } from '@mixlab/crypto';
import type { AckFrame, GatewayInfo, ServerFrame } from '@mixlab/gateway-api';
import { PACKET_FORMAT_NAMES, type PacketFormat, type PacketFormatName, packetFormat } from '@mixlab/packet';
import { pickRoute, type Topology, TopologyCache } from '@mixlab/topology';
import { GatewayClient } from './gateway-client.ts';
import { type Message, newMessage, openMessage, sealMessage } from './message.ts';

export interface SendReceipt {
  readonly messageId: string;
  /** Node ids of the route, layer 1 first (known only to the sender). */
  readonly route: readonly string[];
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
   * acknowledgement (mixlab_end_to_end_latency_seconds). Reveals send times to the gateway.
   */
  readonly reportLatency?: boolean;
  /** Clock for latencies, ms since the epoch. */
  readonly now?: () => number;
}

export interface Subscription {
  /** Resolves once the socket is open and the gateway pushes. */
  readonly opened: Promise<void>;
  close(): void;
}

/** Parses a recipient address (64 hex characters) into its public key. */
export function parseAddress(address: string): Uint8Array {
  const key = fromHex(address.trim().toLowerCase());
  if (key?.length !== 32) throw new Error(`an address is 64 hex characters (a public key), got "${address}"`);
  return key;
}

/**
 * A mixnet client: wraps messages locally and submits them through the gateway,
 * which learns the first hop but never the recipient.
 */
export class MixnetClient {
  readonly gateway: GatewayClient;
  readonly #pickIndex: (maxExclusive: number) => number;
  readonly #topology: TopologyCache;
  #context: Promise<{ info: GatewayInfo; format: PacketFormat }> | undefined;

  constructor(gatewayUrl: string, options: { pickIndex?: (maxExclusive: number) => number } = {}) {
    this.gateway = new GatewayClient(gatewayUrl);
    this.#pickIndex = options.pickIndex ?? randomInt;
    this.#topology = new TopologyCache(() => this.gateway.topology(), { maxAgeMs: 5_000, refetchAfterMs: 1_000 });
  }

  topology(): Promise<Topology> {
    return this.#topology.current();
  }

  /** Seals `body` to `recipient`, wraps it for a fresh random route, and submits it. */
  async send(recipient: Uint8Array, body: Uint8Array, now = Date.now()): Promise<SendReceipt> {
    const { info, format } = await this.#gatewayContext();
    const route = pickRoute(await this.#topology.current(), this.#pickIndex);
    const message = newMessage(body, now);
    const packet = format.wrap(
      route.map((node) => ({ id: node.id, publicKey: parseAddress(node.publicKey) })),
      { gateway: info.gatewayId, recipient },
      sealMessage(message, recipient),
    );
    const firstHop = (route[0] as { id: string }).id;
    const result = await this.gateway.submit({
      packets: [{ firstHop, packet: Buffer.from(packet).toString('base64') }],
    });
    if (result.accepted !== 1) {
      throw new Error(`gateway refused the packet: ${result.rejected.map((r) => r.reason).join('; ')}`);
    }
    return { messageId: message.id, route: route.map((node) => node.id) };
  }

  /**
   * Pushes every message for `keys` to `onMessage` as it arrives (and those already
   * waiting), acknowledging each after `onMessage` returns.
   */
  receive(
    keys: KeyPair,
    onMessage: (message: ReceivedMessage) => void | Promise<void>,
    options: ReceiveOptions = {},
  ): Subscription {
    const { onError = () => {}, reportLatency = false, now = Date.now } = options;
    const address = toHex(keys.publicKey);
    const socket = new WebSocket(this.gateway.mailboxSocketUrl(address));
    const ack = (id: string, sentAt: number | undefined) => {
      const frame: AckFrame =
        reportLatency && sentAt !== undefined
          ? { type: 'ack', ids: [id], latencies: [Math.max(0, (now() - sentAt) / 1000)] }
          : { type: 'ack', ids: [id] };
      socket.send(JSON.stringify(frame));
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
      let sentAt: number | undefined;
      try {
        const message = openMessage(Buffer.from(payload, 'base64'), keys);
        sentAt = message.sentAt;
        await onMessage({ ...message, deliveryId });
      } catch (error) {
        onError(error as Error);
      }
      ack(deliveryId, sentAt);
    });
    return { opened, close: () => socket.close() };
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
