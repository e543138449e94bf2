import { encodeFrames } from '@mixlab/packet';
import { Agent } from 'undici';
import { exchange } from './exchange.ts';
import { type LinkPeer, QueueFullError } from './forwarder.ts';
import { OCTET_STREAM } from './http.ts';
import { type LinkIdentity, sealLinkBox } from './link-box.ts';
import { endpointOf, type WireTap } from './wire-tap.ts';

export interface FrameSenderOptions {
  /** Keep-alive connections per origin. */
  readonly connections: number;
  /** Tries per request, for network errors and 5xx answers. */
  readonly attempts: number;
  readonly timeoutMs: number;
  /**
   * Coalescing under load: with this many requests to a URL in flight, further sends to it wait
   * and go together, in order, in the next request (at most `maxFramesPerRequest` frames), as
   * soon as one of those answers. Never delays a send while fewer are in flight, so it costs
   * nothing when quiet and saves a request's overhead per packet when busy. Off when undefined.
   */
  readonly coalesceAt?: number;
  /**
   * Also coalesce within one turn of the event loop: the first send of a turn to a URL goes at
   * once; what the same turn sends after it to that URL waits for the end of the turn
   * (setImmediate) and goes in one request. Under load a turn handles several requests, whose
   * packets then leave in one request per target instead of one each; a lone packet never
   * waits. Needs coalesceAt.
   */
  readonly coalesceTurn?: boolean;
  /** The most frames a coalesced request carries (the receivers' cap per request). */
  readonly maxFramesPerRequest?: number;
  /**
   * The most frames waiting for or in requests to one URL (in flight, retrying, or queued
   * for a connection). A send past it is refused at once with QueueFullError, so a slow or
   * dead target costs bounded memory instead of a queue without end. Unbounded when undefined.
   */
  readonly maxPendingFrames?: number;
  /** Told of every request as it goes on the wire (the anonymity observer's tap). */
  readonly tap?: WireTap;
  /**
   * Seals every body as a link box from this identity to the receiver named with the send
   * (link-box.ts), afresh for each attempt; a send without one then fails. Plain frames when absent.
   */
  readonly link?: { readonly identity: LinkIdentity; readonly now: () => number };
}

/**
 * How mix nodes and the gateway send on: a few keep-alive connections per target, retries, and
 * under load what waits behind two requests to a target goes in one (up to 100 frames, the
 * gateway's cap per delivery request).
 */
export const FORWARDING_SENDER: FrameSenderOptions = {
  connections: 8,
  attempts: 3,
  timeoutMs: 10_000,
  coalesceAt: 2,
  maxFramesPerRequest: 100,
};

/**
 * How mix nodes send on: as FORWARDING_SENDER, coalescing within a turn too. (Not the gateway:
 * the n − 1 proxy in front of layer 1 holds and passes whole requests, so each client's
 * submission stays a request of its own there.)
 */
export const NODE_FORWARDING_SENDER: FrameSenderOptions = { ...FORWARDING_SENDER, coalesceTurn: true };

/** Sends waiting for a URL's next request. */
interface Waiting {
  readonly frames: Uint8Array[];
  readonly done: (error?: unknown) => void;
}

interface Lane {
  inflight: number;
  readonly waiting: Waiting[];
  /** A request left in this turn already (coalesceTurn): later sends of the turn wait for its end. */
  sentThisTurn: boolean;
}

/** Frames pending per target by default: about 13 MiB of Sphinx packets, 50 s of 100 packets per second. */
export const DEFAULT_MAX_PENDING_FRAMES = 5000;

/** POSTs framed packets over a keep-alive connection pool, retrying transient failures. */
export class FrameSender {
  readonly #agent: Agent;
  readonly #options: FrameSenderOptions;
  readonly #lanes = new Map<string, Lane>();
  /** Frames pending per URL, only while some are. */
  readonly #pending = new Map<string, number>();
  /** Who is at each URL, as the last send to it said (link boxes are sealed to it). */
  readonly #receivers = new Map<string, LinkPeer>();

  constructor(options: FrameSenderOptions) {
    this.#options = options;
    this.#agent = new Agent({
      connections: options.connections,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  /**
   * Resolves once `url` accepted the frames (alone, or coalesced with others); rejects when it
   * did not, or at once with QueueFullError when too many frames are pending for it.
   */
  send(url: string, frames: Uint8Array[], receiver?: LinkPeer): Promise<void> {
    if (receiver) this.#receivers.set(url, receiver);
    const bound = this.#options.maxPendingFrames;
    if (bound === undefined) return this.#coalesced(url, frames);
    const pending = this.#pending.get(url) ?? 0;
    // An idle target takes any one request, so a batch larger than the bound still goes.
    if (pending > 0 && pending + frames.length > bound) return Promise.reject(new QueueFullError(url, pending));
    this.#pending.set(url, pending + frames.length);
    return this.#coalesced(url, frames).finally(() => {
      const left = (this.#pending.get(url) ?? frames.length) - frames.length;
      if (left > 0) this.#pending.set(url, left);
      else this.#pending.delete(url);
    });
  }

  /** Sends now, or coalesced behind the requests in flight to `url` (coalesceAt). */
  #coalesced(url: string, frames: Uint8Array[]): Promise<void> {
    const limit = this.#options.coalesceAt;
    if (limit === undefined) return this.#post(url, frames);
    let lane = this.#lanes.get(url);
    if (!lane) {
      lane = { inflight: 0, waiting: [], sentThisTurn: false };
      this.#lanes.set(url, lane);
    }
    if (lane.inflight < limit && !lane.sentThisTurn) {
      if (this.#options.coalesceTurn) this.#startTurn(url, lane, limit);
      return this.#postIn(url, lane, frames);
    }
    const queue = lane.waiting;
    return new Promise((resolve, reject) => {
      queue.push({ frames, done: (error) => (error === undefined ? resolve() : reject(error)) });
    });
  }

  /** Marks that a request left this turn; at the turn's end, what waits goes together (room allowing). */
  #startTurn(url: string, lane: Lane, limit: number): void {
    lane.sentThisTurn = true;
    setImmediate(() => {
      lane.sentThisTurn = false;
      if (lane.waiting.length === 0) this.#sendWaiting(url, lane); // forgets an idle lane
      while (lane.inflight < limit && lane.waiting.length > 0) this.#sendWaiting(url, lane);
    });
  }

  async #postIn(url: string, lane: Lane, frames: Uint8Array[]): Promise<void> {
    lane.inflight++;
    try {
      await this.#post(url, frames);
    } finally {
      lane.inflight--;
      this.#sendWaiting(url, lane);
    }
  }

  /** Sends what waits for `url` in one request (up to the frame cap), in the order it came. */
  #sendWaiting(url: string, lane: Lane): void {
    if (lane.waiting.length === 0) {
      if (lane.inflight === 0 && !lane.sentThisTurn) this.#lanes.delete(url);
      return;
    }
    const cap = this.#options.maxFramesPerRequest ?? Number.POSITIVE_INFINITY;
    const taken: Waiting[] = [];
    let count = 0;
    while (lane.waiting.length > 0) {
      const next = lane.waiting[0] as Waiting;
      if (taken.length > 0 && count + next.frames.length > cap) break;
      taken.push(next);
      count += next.frames.length;
      lane.waiting.shift();
    }
    const frames = taken.length === 1 ? (taken[0] as Waiting).frames : taken.flatMap((waiting) => waiting.frames);
    this.#postIn(url, lane, frames).then(
      () => {
        for (const waiting of taken) waiting.done();
      },
      (error: unknown) => {
        for (const waiting of taken) waiting.done(error ?? new Error('send failed'));
      },
    );
  }

  async #post(url: string, frames: Uint8Array[]): Promise<void> {
    const frameBytes = encodeFrames(frames);
    const { origin, pathname } = new URL(url);
    const { link } = this.#options;
    const receiver = this.#receivers.get(url);
    if (link && !receiver) throw new Error(`${url}: no identity key to seal a link box to`);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#options.attempts; attempt++) {
      // A fresh box per attempt: the receiver refuses a nonce it has seen.
      const body =
        link && receiver
          ? sealLinkBox({
              sender: link.identity,
              receiverId: receiver.id,
              receiverIdentityKey: receiver.identityKey,
              now: link.now(),
              body: frameBytes,
            })
          : frameBytes;
      this.#options.tap?.sent(endpointOf(url), body.length, frames.length);
      try {
        const { status, text } = await exchange(this.#agent, {
          origin,
          path: pathname,
          method: 'POST',
          headers: { 'content-type': OCTET_STREAM },
          body,
        });
        if (status < 300) return;
        lastError = new Error(`${url} answered ${status}: ${text.slice(0, 200)}`);
        if (status < 500) break; // the receiver refused these packets; resending will not help
      } catch (error) {
        lastError = error;
      }
      if (attempt < this.#options.attempts) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
    throw lastError;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
