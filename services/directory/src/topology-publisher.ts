import { type SignedTopology, signTopology, type TopologyDocument } from '@mixlab/topology';

export interface PublishedTopology {
  readonly signed: SignedTopology;
  /** The signed topology as JSON, as served. */
  readonly json: string;
}

/**
 * Signs topology documents with the directory key, signing again only when the document
 * changed (a new epoch, a node joining, leaving, moving or rotating keys, a gateway).
 */
export class TopologyPublisher {
  readonly #secretKey: Uint8Array;
  #cached: { key: string; published: PublishedTopology } | undefined;
  #signatures = 0;

  constructor(directorySecretKey: Uint8Array) {
    this.#secretKey = directorySecretKey;
  }

  publish(document: TopologyDocument): PublishedTopology {
    const key = JSON.stringify(document);
    if (this.#cached?.key !== key) {
      const signed = signTopology(document, this.#secretKey);
      this.#signatures++;
      this.#cached = { key, published: { signed, json: JSON.stringify(signed) } };
    }
    return this.#cached.published;
  }

  /** How many documents were signed so far (for tests of the cache). */
  get signatures(): number {
    return this.#signatures;
  }
}
