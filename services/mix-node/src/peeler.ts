/**
 * Removing this node's layer from a request's packets: the public-key work of a hop,
 * so it is what spreads over cores. `InlinePeeler` peels on the calling thread;
 * `WorkerPeeler` hands each request to one of N worker threads (round robin).
 *
 * Keys rotate per epoch (key-schedule.ts): a peeler holds the current epoch's key and
 * the others the schedule lets peel (previous during the grace period, next in the window
 * before its epoch), tries the current key first, then the others, and says which one
 * opened the packet. Each key comes with its epoch's replay filter, which the packet
 * format checks as soon as the key has authenticated a packet: a replay is refused
 * before the rest of the hop's work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { generateKeyPair, type KeyPair } from '@mixlab/crypto';
import {
  PacketError,
  type PacketErrorReason,
  type PacketFormat,
  type PacketFormatName,
  type Peeled,
  packetFormat,
} from '@mixlab/packet';
import type { Clock } from '@mixlab/runtime';
import { type KeyRole, keyRole } from './key-schedule.ts';
import type { MixingKeySet } from './mixing-keys.ts';
import { ReplayFilter, type ReplayFilterSize, ReplayFilters, type SharedReplayFilter } from './replay-filter.ts';

export type PeelResult =
  | {
      readonly ok: true;
      readonly peeled: Peeled;
      /** The epoch of the key that opened it: the one its replay tag belongs to. */
      readonly epoch: number;
      readonly key: KeyRole;
    }
  | { readonly ok: false; readonly reason: PacketErrorReason; readonly message: string };

export interface Peeler {
  peel(packets: readonly Uint8Array[]): Promise<PeelResult[]>;
  /**
   * Replaces the held keys; requests made after the call peel with the new ones. An epoch
   * new to the set gets an empty replay filter, and the filters of dropped epochs are freed.
   */
  setKeys(keys: MixingKeySet): void;
  /** The replay filters of the held keys' epochs (for the gauges). */
  readonly replayFilters: ReplayFilters;
  close(): Promise<void>;
}

export interface PeelerOptions {
  readonly format: PacketFormatName;
  readonly keys: MixingKeySet;
  /** The size of each epoch's replay filter. */
  readonly replay: ReplayFilterSize;
  readonly maxPacketBytes: number;
}

/** The held keys with their epochs' replay filters: what a worker is sent when keys change. */
export interface PeelKeys {
  readonly keys: MixingKeySet;
  readonly replay: ReadonlyMap<number, SharedReplayFilter>;
}

/** What a worker needs to peel: posted once as its workerData. */
export interface PeelWorkerData {
  readonly format: PacketFormatName;
  readonly maxPacketBytes: number;
  readonly keys: PeelKeys;
}

/** One held key, with the role it is reported under when it opens a packet and its epoch's replay filter. */
interface HeldKey {
  readonly epoch: number;
  readonly keys: KeyPair;
  readonly role: KeyRole;
  readonly replay: ReplayFilter;
}

/** What peeling needs, worked out once per key set rather than per packet. */
export interface PeelContext {
  readonly format: PacketFormat;
  /** The held keys in the order they are tried: current, then the older, then the newer epochs. */
  readonly keys: readonly HeldKey[];
  readonly maxPacketBytes: number;
}

/** Throws when `keys` holds no key for its current epoch. */
function checkKeySet({ current, byEpoch }: MixingKeySet): void {
  if (!byEpoch.has(current)) throw new Error(`the key set holds no key for its current epoch ${current}`);
}

/** The held keys in the order they are tried: current, then the others by epoch. */
function keysInPeelOrder({ keys: { current, byEpoch }, replay }: PeelKeys): HeldKey[] {
  checkKeySet({ current, byEpoch });
  return [...byEpoch]
    .sort(([a], [b]) => (a === current ? -1 : b === current ? 1 : a - b))
    .map(([epoch, keys]) => {
      const filter = replay.get(epoch);
      if (!filter) throw new Error(`no replay filter for the key of epoch ${epoch}`);
      return { epoch, keys, role: keyRole(epoch, current), replay: new ReplayFilter(filter) };
    });
}

/** Prepares a worker's (or the inline peeler's) data for peelOne: once per key set, not per packet. */
export function peelContext({ format, maxPacketBytes, keys }: PeelWorkerData): PeelContext {
  return { format: packetFormat(format), keys: keysInPeelOrder(keys), maxPacketBytes };
}

/**
 * Peels one packet with the first held key that opens it. A PacketError becomes a
 * result; anything else is a bug and throws. Only 'undecryptable' moves on to the
 * next key: any other error is the packet's fault whatever the key.
 */
export function peelOne(packet: Uint8Array, context: PeelContext): PeelResult {
  if (packet.length > context.maxPacketBytes) {
    return {
      ok: false,
      reason: 'malformed',
      message: `packet of ${packet.length} bytes exceeds ${context.maxPacketBytes}`,
    };
  }
  let firstFailure: PeelResult | undefined;
  for (const { epoch, keys, role, replay } of context.keys) {
    try {
      return { ok: true, peeled: context.format.peel(packet, keys, replay), epoch, key: role };
    } catch (error) {
      if (!(error instanceof PacketError)) throw error;
      const failure: PeelResult = { ok: false, reason: error.reason, message: error.message };
      if (error.reason !== 'undecryptable') return failure;
      firstFailure ??= failure;
    }
  }
  return firstFailure as PeelResult;
}

/** Gives `keys` their epochs' replay filters (new ones where needed), freeing the filters of dropped epochs. */
function withReplayFilters(filters: ReplayFilters, keys: MixingKeySet): PeelKeys {
  checkKeySet(keys);
  return { keys, replay: filters.keep(keys.byEpoch.keys()) };
}

export class InlinePeeler implements Peeler {
  readonly replayFilters: ReplayFilters;
  #context: PeelContext;

  constructor(options: PeelerOptions) {
    this.replayFilters = new ReplayFilters(options.replay);
    const keys = withReplayFilters(this.replayFilters, options.keys);
    this.#context = peelContext({ format: options.format, maxPacketBytes: options.maxPacketBytes, keys });
  }

  async peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
    const context = this.#context;
    return packets.map((packet) => peelOne(packet, context));
  }

  setKeys(keys: MixingKeySet): void {
    this.#context = { ...this.#context, keys: keysInPeelOrder(withReplayFilters(this.replayFilters, keys)) };
  }

  async close(): Promise<void> {}
}

/** What WorkerPeeler posts to its workers. */
export type PeelWorkerRequest =
  | { readonly type: 'peel'; readonly id: number; readonly packets: readonly Uint8Array[] }
  | { readonly type: 'keys'; readonly keys: PeelKeys };

interface Pending {
  resolve(results: PeelResult[]): void;
  reject(error: Error): void;
  /** The worker's index: its count of requests in flight drops when this one is answered. */
  readonly worker: number;
}

export class WorkerPeeler implements Peeler {
  readonly replayFilters: ReplayFilters;
  readonly #workers: Worker[];
  readonly #pending = new Map<number, Pending>();
  /** Requests in flight per worker: a request goes to the least busy (round robin among equals). */
  readonly #inFlight: number[];
  #nextId = 0;
  #next = 0;

  constructor(options: PeelerOptions, workers: number = availableParallelism()) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be at least 1, got ${workers}`);
    this.replayFilters = new ReplayFilters(options.replay);
    const workerData: PeelWorkerData = {
      format: options.format,
      maxPacketBytes: options.maxPacketBytes,
      // Refuses a key set without its current key here rather than in a worker.
      keys: withReplayFilters(this.replayFilters, options.keys),
    };
    this.#inFlight = new Array<number>(workers).fill(0);
    this.#workers = Array.from({ length: workers }, () => {
      const worker = new Worker(new URL('./peel-worker.ts', import.meta.url), { workerData });
      worker.on('message', ({ id, results }: { id: number; results: PeelResult[] }) => {
        const pending = this.#pending.get(id);
        if (!pending) return;
        this.#pending.delete(id);
        this.#inFlight[pending.worker] = (this.#inFlight[pending.worker] as number) - 1;
        pending.resolve(results);
      });
      worker.on('error', (error) => {
        // A worker only dies on a bug; fail what it held rather than hang the requests.
        for (const pending of this.#pending.values()) pending.reject(error);
        this.#pending.clear();
        this.#inFlight.fill(0);
      });
      return worker;
    });
  }

  get size(): number {
    return this.#workers.length;
  }

  peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
    const id = this.#nextId++;
    const index = leastBusy(this.#inFlight, this.#next);
    this.#next = index + 1;
    this.#inFlight[index] = (this.#inFlight[index] as number) + 1;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, worker: index });
      (this.#workers[index] as Worker).postMessage({ type: 'peel', id, packets } satisfies PeelWorkerRequest);
    });
  }

  /**
   * Messages to a worker arrive in order, so every request posted after this call sees the
   * new keys. The replay filters' buffers are shared, not copied: all workers set the same bits.
   */
  setKeys(keys: MixingKeySet): void {
    const message = { type: 'keys', keys: withReplayFilters(this.replayFilters, keys) } satisfies PeelWorkerRequest;
    for (const worker of this.#workers) worker.postMessage(message);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

/**
 * The index of the worker with the fewest requests in flight, the first such from `from`
 * (round robin among equals). A worker the machine holds back (another process on its core)
 * gets no more until it catches up, where strict round robin would queue every other request
 * behind it.
 */
export function leastBusy(inFlight: readonly number[], from: number): number {
  const count = inFlight.length;
  let best = from % count;
  for (let step = 1; step < count; step++) {
    const index = (from + step) % count;
    if ((inFlight[index] as number) < (inFlight[best] as number)) best = index;
  }
  return best;
}

/** `workers` 0 peels on the event loop thread; N > 0 uses N worker threads. */
export function createPeeler(options: PeelerOptions, workers: number): Peeler {
  return workers === 0 ? new InlinePeeler(options) : new WorkerPeeler(options, workers);
}

/**
 * Packets per second this node can peel, measured: one thread's rate over `samples`
 * packets (after as many to warm up), times the threads that peel (`workers`, or the
 * event loop alone for 0). No sender can get more packets than this past the MAC, so
 * it is what the replay filters are sized for.
 */
export function measurePeelRate(name: PacketFormatName, workers: number, clock: Clock, samples = 200): number {
  const format = packetFormat(name);
  const node = generateKeyPair();
  const route = [
    { id: 'measure-1', publicKey: node.publicKey },
    { id: 'measure-2', publicKey: generateKeyPair().publicKey },
  ];
  const packets = Array.from({ length: 2 * samples }, () =>
    format.wrap(route, { gateway: 'measure', recipient: node.publicKey }, new Uint8Array(1024)),
  );
  for (const packet of packets.slice(samples)) format.peel(packet, node);
  const start = clock.now();
  for (const packet of packets.slice(0, samples)) format.peel(packet, node);
  const elapsedMs = Math.max(clock.now() - start, 1e-3);
  return Math.ceil(((samples * 1000) / elapsedMs) * Math.max(1, workers));
}
