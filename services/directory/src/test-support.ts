/**
 * Helpers for the directory's tests: mix nodes and gateways with real Ed25519 identities,
 * enrolled unless told otherwise, and a settable clock.
 */
import { generateSigningKeyPair, randomBytes, type SigningKeyPair, toHex } from '@mixlab/crypto';
import {
  type SignedGatewayDescriptor,
  type SignedNodeDescriptor,
  signDescriptor,
  signGatewayDescriptor,
  type UnsignedGatewayDescriptor,
  type UnsignedNodeDescriptor,
} from '@mixlab/topology';
import type { Enrollment } from './enrollment.ts';
import { NodeRegistry } from './node-registry.ts';

export const EPOCH_LENGTH_MS = 600_000;
export const SCHEDULE = { genesisMs: 0, lengthMs: EPOCH_LENGTH_MS } as const;
/** An epoch number of realistic size: 1.8e12 ms is the start of epoch 3,000,000. */
export const EPOCH = 3_000_000;
export const EPOCH_START = EPOCH * EPOCH_LENGTH_MS;
export const LIVENESS_TIMEOUT_MS = 15_000;
export const MAX_SKEW_MS = 30_000;

/** A clock the test moves by hand; starts 100 s into EPOCH. */
export class TestClock {
  nowMs = EPOCH_START + 100_000;
  readonly now = (): number => this.nowMs;

  advance(ms: number): number {
    this.nowMs += ms;
    return this.nowMs;
  }
}

/**
 * The enrollment of every TestNode and TestGateway made with `enrolled` (the default): as an
 * operator's folder would, but an id may hold several keys, so that tests of conflicting
 * registrations (two enrolled keys, one id) still reach the registry's binding.
 */
class TestEnrollment implements Enrollment {
  readonly #enrolled = new Set<string>();

  enroll(id: string, identityKey: string): void {
    this.#enrolled.add(`${id} ${identityKey}`);
  }

  isEnrolled(id: string, identityKey: string): boolean {
    return this.#enrolled.has(`${id} ${identityKey}`);
  }

  enrolledKey(): string | undefined {
    return undefined;
  }

  reload(): Promise<boolean> {
    return Promise.resolve(false);
  }
}

export const TEST_ENROLLMENT = new TestEnrollment();

/**
 * The registry the tests use: 3 layers, SCHEDULE, LIVENESS_TIMEOUT_MS and MAX_SKEW_MS, read
 * against `clock`, admitting the enrolled test nodes and gateways (or `enrollment`).
 */
export function testRegistry(clock: TestClock, enrollment: Enrollment = TEST_ENROLLMENT): NodeRegistry {
  return new NodeRegistry({
    layerCount: 3,
    schedule: SCHEDULE,
    livenessTimeoutMs: LIVENESS_TIMEOUT_MS,
    maxSkewMs: MAX_SKEW_MS,
    enrollment,
    now: clock.now,
  });
}

/** A mix node: a fresh identity key and one random mixing key per epoch, kept so that re-signing reuses them. */
export class TestNode {
  readonly identity: SigningKeyPair = generateSigningKeyPair();
  readonly #mixingKeys = new Map<number, string>();
  readonly id: string;
  readonly layer: number;

  constructor(id: string, layer: number, { enrolled = true } = {}) {
    this.id = id;
    this.layer = layer;
    if (enrolled) TEST_ENROLLMENT.enroll(id, this.identityKey);
  }

  get identityKey(): string {
    return toHex(this.identity.publicKey);
  }

  mixingKey(epoch: number): string {
    let key = this.#mixingKeys.get(epoch);
    if (!key) {
      key = toHex(randomBytes(32));
      this.#mixingKeys.set(epoch, key);
    }
    return key;
  }

  unsigned(issuedAt: number, options: Partial<UnsignedNodeDescriptor> & { epochs?: number[] } = {}) {
    const { epochs = [EPOCH, EPOCH + 1], ...fields } = options;
    return {
      id: this.id,
      layer: this.layer,
      url: `http://${this.id}:8080`,
      identityKey: this.identityKey,
      mixingKeys: epochs.map((epoch) => ({ epoch, publicKey: this.mixingKey(epoch) })),
      issuedAt,
      ...fields,
    };
  }

  /** A descriptor signed by this node's identity key, with keys for `epochs` (default EPOCH and EPOCH + 1). */
  descriptor(
    issuedAt: number,
    options: Partial<UnsignedNodeDescriptor> & { epochs?: number[] } = {},
  ): SignedNodeDescriptor {
    return signDescriptor(this.unsigned(issuedAt, options), this.identity.secretKey);
  }
}

/** A client gateway: a fresh identity key, enrolled in TEST_ENROLLMENT unless told otherwise. */
export class TestGateway {
  readonly identity: SigningKeyPair = generateSigningKeyPair();
  readonly id: string;

  constructor(id: string, { enrolled = true } = {}) {
    this.id = id;
    if (enrolled) TEST_ENROLLMENT.enroll(id, this.identityKey);
  }

  get identityKey(): string {
    return toHex(this.identity.publicKey);
  }

  unsigned(issuedAt: number, fields: Partial<UnsignedGatewayDescriptor> = {}): UnsignedGatewayDescriptor {
    return { id: this.id, url: `http://${this.id}:8081`, identityKey: this.identityKey, issuedAt, ...fields };
  }

  /** A descriptor signed by this gateway's identity key. */
  descriptor(issuedAt: number, fields: Partial<UnsignedGatewayDescriptor> = {}): SignedGatewayDescriptor {
    return signGatewayDescriptor(this.unsigned(issuedAt, fields), this.identity.secretKey);
  }
}
