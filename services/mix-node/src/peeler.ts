/**
 * Removing this node's layer from a request's packets: the public-key work of a hop,
 * so it is what spreads over cores. `InlinePeeler` peels on the calling thread;
 * `WorkerPeeler` hands each request to one of N worker threads (round robin).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { KeyPair } from '@mixlab/crypto';
import { PacketError, type PacketErrorReason, type PacketFormatName, type Peeled, packetFormat } from '@mixlab/packet';

export type PeelResult =
  | { readonly ok: true; readonly peeled: Peeled }
  | { readonly ok: false; readonly reason: PacketErrorReason; readonly message: string };

export interface Peeler {
  peel(packets: readonly Uint8Array[]): Promise<PeelResult[]>;
  close(): Promise<void>;
}

export interface PeelerOptions {
  readonly format: PacketFormatName;
  readonly keys: KeyPair;
  readonly maxPacketBytes: number;
}

/** Peels one packet; a PacketError becomes a result, anything else is a bug and throws. */
export function peelOne(packet: Uint8Array, options: PeelerOptions): PeelResult {
  if (packet.length > options.maxPacketBytes) {
    return {
      ok: false,
      reason: 'malformed',
      message: `packet of ${packet.length} bytes exceeds ${options.maxPacketBytes}`,
    };
  }
  try {
    return { ok: true, peeled: packetFormat(options.format).peel(packet, options.keys) };
  } catch (error) {
    if (error instanceof PacketError) return { ok: false, reason: error.reason, message: error.message };
    throw error;
  }
}

export class InlinePeeler implements Peeler {
  readonly #options: PeelerOptions;

  constructor(options: PeelerOptions) {
    this.#options = options;
  }

  async peel(packets: readonly Uint8Array[]): Promise<PeelResult[]> {
    return packets.map((packet) => peelOne(packet, this.#options));
  }

  async close(): Promise<void> {}
}

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
      worker.postMessage({ id, packets });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

/** `workers` 0 peels on the event loop thread; N > 0 uses N worker threads. */
export function createPeeler(options: PeelerOptions, workers: number): Peeler {
  return workers === 0 ? new InlinePeeler(options) : new WorkerPeeler(options, workers);
}
