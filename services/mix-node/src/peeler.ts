/**
 * Removing this node's layer from a request's packets: the public-key work of a hop,
 * so it is what spreads over cores. `InlinePeeler` peels on the calling thread;
 * `WorkerPeeler` hands each request to one of N worker threads (round robin).
 *
 * Keys rotate per epoch (key-schedule.ts): a peeler holds the current epoch's key and
 * the others the schedule keeps (previous during the grace period, next), tries the
 * current key first, then the others, and says which one opened the packet.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { KeyPair } from '@mixlab/crypto';
import {
  PacketError,
  type PacketErrorReason,
  type PacketFormat,
  type PacketFormatName,
  type Peeled,
  packetFormat,
} from '@mixlab/packet';
import { type KeyRole, keyRole } from './key-schedule.ts';
import type { MixingKeySet } from './mixing-keys.ts';

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
  /** Replaces the held keys; requests made after the call peel with the new ones. */
  setKeys(keys: MixingKeySet): void;
  close(): Promise<void>;
}

export interface PeelerOptions {
  readonly format: PacketFormatName;
  readonly keys: MixingKeySet;
  readonly maxPacketBytes: number;
}

/** One held key, with the role it is reported under when it opens a packet. */
interface HeldKey {
  readonly epoch: number;
  readonly keys: KeyPair;
  readonly role: KeyRole;
}

/** What peeling needs, worked out once per key set rather than per packet. */
export interface PeelContext {
  readonly format: PacketFormat;
  /** The held keys in the order they are tried: current, then the older, then the newer epochs. */
  readonly keys: readonly HeldKey[];
  readonly maxPacketBytes: number;
}

/** The held keys in the order they are tried; throws when the set holds no key for its current epoch. */
function keysInPeelOrder({ current, byEpoch }: MixingKeySet): HeldKey[] {
  const currentKeys = byEpoch.get(current);
  if (!currentKeys) throw new Error(`the key set holds no key for its current epoch ${current}`);
  const others = [...byEpoch]
    .filter(([epoch]) => epoch !== current)
    .sort(([a], [b]) => a - b)
    .map(([epoch, keys]) => ({ epoch, keys, role: keyRole(epoch, current) }));
  return [{ epoch: current, keys: currentKeys, role: 'current' }, ...others];
}

/** Prepares `options` for peelOne: once per key set, not per packet. */
export function peelContext(options: PeelerOptions): PeelContext {
  return {
    format: packetFormat(options.format),
    keys: keysInPeelOrder(options.keys),
    maxPacketBytes: options.maxPacketBytes,
  };
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
  for (const { epoch, keys, role } of context.keys) {
    try {
      return { ok: true, peeled: context.format.peel(packet, keys), epoch, key: role };
    } catch (error) {
      if (!(error instanceof PacketError)) throw error;
      const failure: PeelResult = { ok: false, reason: error.reason, message: error.message };
      if (error.reason !== 'undecryptable') return failure;
      firstFailure ??= failure;
    }
  }
  return firstFailure as PeelResult;
}

export class InlinePeeler implements Peeler {
  #context: PeelContext;

  constructor(options: PeelerOptions) {
    this.#context = peelContext(options);
  }

  async peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
    const context = this.#context;
    return packets.map((packet) => peelOne(packet, context));
  }

  setKeys(keys: MixingKeySet): void {
    this.#context = { ...this.#context, keys: keysInPeelOrder(keys) };
  }

  async close(): Promise<void> {}
}

/** What WorkerPeeler posts to its workers. */
export type PeelWorkerRequest =
  | { readonly type: 'peel'; readonly id: number; readonly packets: readonly Uint8Array[] }
  | { readonly type: 'keys'; readonly keys: MixingKeySet };

interface Pending {
  resolve(results: PeelResult[]): void;
  reject(error: Error): void;
}

export class WorkerPeeler implements Peeler {
  readonly #workers: Worker[];
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #next = 0;

  constructor(options: PeelerOptions, workers: number = availableParallelism()) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be at least 1, got ${workers}`);
    keysInPeelOrder(options.keys); // refuses a key set without its current key, here rather than in a worker
    this.#workers = Array.from({ length: workers }, () => {
      const worker = new Worker(new URL('./peel-worker.ts', import.meta.url), { workerData: options });
      worker.on('message', ({ id, results }: { id: number; results: PeelResult[] }) => {
        this.#pending.get(id)?.resolve(results);
        this.#pending.delete(id);
      });
      worker.on('error', (error) => {
        // A worker only dies on a bug; fail what it held rather than hang the requests.
        for (const pending of this.#pending.values()) pending.reject(error);
        this.#pending.clear();
      });
      return worker;
    });
  }

  get size(): number {
    return this.#workers.length;
  }

  peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
    const id = this.#nextId++;
    const worker = this.#workers[this.#next++ % this.#workers.length] as Worker;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'peel', id, packets } satisfies PeelWorkerRequest);
    });
  }

  /** Messages to a worker arrive in order, so every request posted after this call sees the new keys. */
  setKeys(keys: MixingKeySet): void {
    keysInPeelOrder(keys);
    for (const worker of this.#workers) worker.postMessage({ type: 'keys', keys } satisfies PeelWorkerRequest);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

/** `workers` 0 peels on the event loop thread; N > 0 uses N worker threads. */
export function createPeeler(options: PeelerOptions, workers: number): Peeler {
  return workers === 0 ? new InlinePeeler(options) : new WorkerPeeler(options, workers);
}
