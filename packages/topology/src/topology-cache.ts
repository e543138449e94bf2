import { findGateway, findNode, type GatewayDescriptor, type NodeDescriptor, type Topology } from './topology.ts';

/**
 * The latest topology, fetched on demand and kept for `maxAgeMs`. A lookup of an
 * unknown node refetches, but no sooner than `refetchAfterMs` after the last fetch
 * (waiting for it if need be): a node that has just registered is found, and garbage
 * ids cannot hammer the directory.
 */
export class TopologyCache {
  readonly #fetch: () => Promise<Topology>;
  readonly #maxAgeMs: number;
  readonly #refetchAfterMs: number;
  readonly #now: () => number;
  #topology: Topology | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<Topology> | undefined;

  constructor(
    fetch: () => Promise<Topology>,
    options: { maxAgeMs: number; refetchAfterMs: number; now?: () => number },
  ) {
    this.#fetch = fetch;
    this.#maxAgeMs = options.maxAgeMs;
    this.#refetchAfterMs = options.refetchAfterMs;
    this.#now = options.now ?? Date.now;
  }

  async current(): Promise<Topology> {
    if (this.#topology && this.#now() - this.#fetchedAt < this.#maxAgeMs) return this.#topology;
    return this.#refresh();
  }

  find(id: string): Promise<NodeDescriptor | undefined> {
    return this.#lookUp((topology) => findNode(topology, id));
  }

  findGateway(id: string): Promise<GatewayDescriptor | undefined> {
    return this.#lookUp((topology) => findGateway(topology, id));
  }

  async #lookUp<T>(look: (topology: Topology) => T | undefined): Promise<T | undefined> {
    const known = look(await this.current());
    if (known) return known;
    const wait = this.#fetchedAt + this.#refetchAfterMs - this.#now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return look(await this.#refresh());
  }

  /** Fetches now (sharing a fetch already under way), whatever the cached topology's age. */
  refresh(): Promise<Topology> {
    return this.#refresh();
  }

  #refresh(): Promise<Topology> {
    // Concurrent callers share one request.
    this.#inflight ??= this.#fetch()
      .then((topology) => {
        this.#topology = topology;
        this.#fetchedAt = this.#now();
        return topology;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }
}
