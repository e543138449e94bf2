import { findGateway, findNode, type GatewayDescriptor, type NodeDescriptor, type Topology } from './topology.ts';
import { type SignedTopology, type TopologyDocument, type TopologyNode, toTopology } from './topology-signing.ts';

export interface TopologyCacheOptions {
  /** Refetch once the cached document is this old. */
  readonly maxAgeMs: number;
  /** A lookup of an unknown node refetches, but no sooner than this after the last fetch. */
  readonly refetchAfterMs: number;
  /**
   * Turns the fetched document into the one to use, or throws: clients verify it against
   * the pinned directory key here. Without it the document is used unverified (nodes and
   * the gateway only look URLs up in it).
   */
  readonly verify?: (signed: SignedTopology) => TopologyDocument;
  /**
   * For this long past `maxAgeMs`, a look-up gets the cached document at once while a refetch
   * runs in the background, so that no request waits for the directory every `maxAgeMs`. Never
   * past the document's epoch, and not after a background refetch failed (the next look-up
   * waits for the directory, and sees its outage). 0 (the default): every look-up past
   * `maxAgeMs` waits.
   */
  readonly serveStaleMs?: number;
  readonly now?: () => number;
  /** Waits out refetchAfterMs (a timer unless a test injects one). */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface Cached {
  readonly signed: SignedTopology;
  readonly document: TopologyDocument;
  readonly topology: Topology;
  readonly fetchedAt: number;
}

/**
 * The directory's latest signed topology, fetched on demand and kept for `maxAgeMs`, and
 * never past the end of its epoch (when the nodes rotate their keys). A lookup of an
 * unknown node refetches, but no sooner than `refetchAfterMs` after the last fetch
 * (waiting for it if need be): a node that has just registered is found, and garbage ids
 * cannot hammer the directory.
 */
export class TopologyCache {
  readonly #fetch: () => Promise<SignedTopology>;
  readonly #options: TopologyCacheOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #cached: Cached | undefined;
  #inflight: Promise<Cached> | undefined;
  /** The last background refetch failed: serve nothing stale until one succeeds. */
  #refreshFailed = false;

  constructor(fetch: () => Promise<SignedTopology>, options: TopologyCacheOptions) {
    this.#fetch = fetch;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The route view: nodes with this epoch's keys, and gateways. */
  async current(): Promise<Topology> {
    return (await this.#fresh()).topology;
  }

  /** The document the route view comes from (verified when `verify` was given). */
  async document(): Promise<TopologyDocument> {
    return (await this.#fresh()).document;
  }

  /** The directory's signed document as fetched, to pass on unchanged. */
  async signed(): Promise<SignedTopology> {
    return (await this.#fresh()).signed;
  }

  find(id: string): Promise<NodeDescriptor | undefined> {
    return this.#lookUp(({ topology }) => findNode(topology, id));
  }

  findGateway(id: string): Promise<GatewayDescriptor | undefined> {
    return this.#lookUp(({ topology }) => findGateway(topology, id));
  }

  /** A node as the document lists it, identity key included (links are sealed to it). */
  findListed(id: string): Promise<TopologyNode | undefined> {
    return this.lookUp((document) => findNode(document, id));
  }

  /**
   * What `look` finds in the document; when it finds nothing, again in a refetched one (no
   * sooner than refetchAfterMs after the last fetch): one look-up for what may be a node or
   * a gateway, so that finding either costs no refetch.
   */
  lookUp<T>(look: (document: TopologyDocument) => T | undefined): Promise<T | undefined> {
    return this.#lookUp(({ document }) => look(document));
  }

  #fresh(): Promise<Cached> {
    const cached = this.#cached;
    const now = this.#now();
    if (!cached || now >= cached.document.validUntil) return this.#refresh();
    const age = now - cached.fetchedAt;
    if (age < this.#options.maxAgeMs) return Promise.resolve(cached);
    if (age < this.#options.maxAgeMs + (this.#options.serveStaleMs ?? 0) && !this.#refreshFailed) {
      this.#refresh().catch(() => {
        this.#refreshFailed = true;
      });
      return Promise.resolve(cached);
    }
    return this.#refresh();
  }

  async #lookUp<T>(look: (cached: Cached) => T | undefined): Promise<T | undefined> {
    const known = look(await this.#fresh());
    if (known) return known;
    const wait = (this.#cached?.fetchedAt ?? 0) + this.#options.refetchAfterMs - this.#now();
    if (wait > 0) await this.#sleep(wait);
    return look(await this.#refresh());
  }

  /** Fetches now, whatever the cached document's age; concurrent callers share one request. */
  #refresh(): Promise<Cached> {
    this.#inflight ??= this.#fetch()
      .then((signed) => {
        const document = this.#options.verify ? this.#options.verify(signed) : signed.document;
        this.#cached = { signed, document, topology: toTopology(document), fetchedAt: this.#now() };
        this.#refreshFailed = false;
        return this.#cached;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }
}
