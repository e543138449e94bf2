/**
 * What the node registers: a descriptor signed by its identity key, with the current
 * and next epochs' mixing keys, re-signed for every registration with a fresh
 * `issuedAt` (the directory refuses one not strictly later than the last it kept).
 */
import { type SigningKeyPair, toHex } from '@mixlab/crypto';
import { issuedAtClock, type MixingKey, type SignedNodeDescriptor, signDescriptor } from '@mixlab/topology';

export interface DescriptorSource {
  readonly id: string;
  readonly layer: number;
  readonly url: string;
  readonly identity: SigningKeyPair;
  /** The mixing keys to publish now (MixingKeys.published). */
  readonly mixingKeys: () => MixingKey[];
  /** Wall-clock ms since the Unix epoch. */
  readonly now: () => number;
  /** The node's strategy, canonical (formatStrategyConfig): clients expect a route's delay from it. */
  readonly strategy?: string;
}

export class DescriptorSigner {
  readonly #source: DescriptorSource;
  readonly #identityKey: string;
  readonly #issuedAt: () => number;

  constructor(source: DescriptorSource) {
    this.#source = source;
    this.#issuedAt = issuedAtClock(source.now);
    this.#identityKey = toHex(source.identity.publicKey);
  }

  get identityKey(): string {
    return this.#identityKey;
  }

  /** A freshly signed descriptor; issuedAt strictly increases even within one millisecond. */
  sign(): SignedNodeDescriptor {
    const { id, layer, url, identity, strategy } = this.#source;
    const issuedAt = this.#issuedAt();
    return signDescriptor(
      { id, layer, url, identityKey: this.#identityKey, mixingKeys: this.#source.mixingKeys(), issuedAt, strategy },
      identity.secretKey,
    );
  }
}
