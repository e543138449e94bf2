/**
 * The directory's state, clock-injected: the latest verified descriptor of every node (and
 * when the directory last heard from it), the gateways, and the topology document they make
 * for the current epoch. Only enrolled identity keys enter (enrollment.ts). Nothing here
 * signs; the only I/O is through an optional store (registry-store.ts), which gets every
 * accepted registration and gives them back at start.
 */
import type { DirectoryNodeState, DirectoryRejectionReason } from '@mixlab/metrics';
import {
  compareToStored,
  type EpochSchedule,
  epochAt,
  epochEnd,
  epochStart,
  listedGateway,
  type SignedGatewayDescriptor,
  type SignedIdentity,
  type SignedNodeDescriptor,
  TOPOLOGY_VERSION,
  type TopologyDocument,
  type TopologyNode,
  topologyNodeFor,
  verifyDescriptor,
  verifyGatewayDescriptor,
} from '@mixlab/topology';
import type { Enrollment } from './enrollment.ts';
import type { RegistryStore } from './registry-store.ts';

export type RegistrationRejection = DirectoryRejectionReason;

export type NodeRegistration =
  | {
      readonly ok: true;
      /** False for the first descriptor of this id, true when it replaced an older one. */
      readonly replaced: boolean;
      /** True when something other than issuedAt differs from the replaced descriptor (a move, a key rotation). */
      readonly changed: boolean;
      readonly descriptor: SignedNodeDescriptor;
      /** The epoch at the time of registration. */
      readonly epoch: number;
    }
  | { readonly ok: false; readonly reason: RegistrationRejection; readonly problem: string };

export type GatewayRegistration =
  | {
      readonly ok: true;
      readonly replaced: boolean;
      /** True when the url differs from the replaced descriptor's. */
      readonly changed: boolean;
      readonly descriptor: SignedGatewayDescriptor;
    }
  | { readonly ok: false; readonly reason: RegistrationRejection; readonly problem: string };

export interface RegisteredNode {
  readonly descriptor: SignedNodeDescriptor;
  /** The directory's clock when it last accepted a descriptor of this node. */
  readonly lastSeenMs: number;
}

export interface RegisteredGateway {
  readonly descriptor: SignedGatewayDescriptor;
  /** The directory's clock when it last accepted a descriptor of this gateway. */
  readonly lastSeenMs: number;
}

export interface NodeRegistryOptions {
  readonly layerCount: number;
  readonly schedule: EpochSchedule;
  /** A node is alive while `now - lastSeen <= livenessTimeoutMs`. */
  readonly livenessTimeoutMs: number;
  /** A descriptor's issuedAt must be within `now ± maxSkewMs`. */
  readonly maxSkewMs: number;
  /** Whose identity keys may register (enrollment.ts). */
  readonly enrollment: Enrollment;
  /** ms since the Unix epoch; injected in tests. */
  readonly now?: () => number;
  /** Keeps registrations across restarts; without one they live in memory only. */
  readonly store?: RegistryStore;
  /** Called when the store fails to save a registration (which is still accepted, in memory); default: throw. */
  readonly onStoreError?: (error: Error) => void;
}

/** A stored node the registry did not take back at start, and why. */
export interface ForgottenNode {
  readonly id: string;
  readonly reason: 'schedule_changed' | 'silent_for_an_epoch' | RegistrationRejection;
  readonly kind: 'node' | 'gateway';
  readonly problem: string;
}

/** What a registry with a store took back at start. */
export interface RestoredRegistry {
  readonly nodes: number;
  readonly gateways: number;
  readonly forgotten: readonly ForgottenNode[];
}

/** Per layer (index 0 is layer 1), how many registered nodes are alive and dead. */
export type Liveness = readonly Readonly<Record<DirectoryNodeState, number>>[];

export class NodeRegistry {
  readonly layerCount: number;
  readonly schedule: EpochSchedule;
  readonly livenessTimeoutMs: number;
  readonly maxSkewMs: number;
  readonly now: () => number;
  readonly enrollment: Enrollment;
  readonly #nodes = new Map<string, RegisteredNode>();
  readonly #gateways = new Map<string, RegisteredGateway>();
  readonly #store: RegistryStore | undefined;
  readonly #onStoreError: (error: Error) => void;
  /** What was taken back from the store at construction (nothing without a store). */
  readonly restored: RestoredRegistry;

  constructor(options: NodeRegistryOptions) {
    this.layerCount = options.layerCount;
    this.schedule = options.schedule;
    this.livenessTimeoutMs = options.livenessTimeoutMs;
    this.maxSkewMs = options.maxSkewMs;
    this.now = options.now ?? Date.now;
    this.enrollment = options.enrollment;
    this.#store = options.store;
    this.#onStoreError =
      options.onStoreError ??
      ((error) => {
        throw error;
      });
    epochAt(this.now(), this.schedule); // fails fast on an invalid schedule or a clock before genesis
    this.restored = this.#restore();
  }

  /**
   * Takes back the stored registrations, each checked again as it was when accepted (its
   * signature and the rules, at the time it was last heard from). Liveness applies as ever:
   * a node silent beyond the timeout is registered but dead. Forgotten: every node when the
   * epoch schedule changed (its key epochs meant other times), a node silent for longer than
   * an epoch (as a restart forgot it before there was a store), one that no longer passes
   * (its key no longer enrolled, say). Gateways likewise, but for the schedule.
   */
  #restore(): RestoredRegistry {
    if (!this.#store) return { nodes: 0, gateways: 0, forgotten: [] };
    const saved = this.#store.load();
    const nowMs = this.now();
    const sameSchedule =
      saved.schedule === undefined ||
      (saved.schedule.genesisMs === this.schedule.genesisMs && saved.schedule.lengthMs === this.schedule.lengthMs);
    const forgotten: ForgottenNode[] = [];
    for (const { descriptor: value, lastSeenMs } of saved.nodes) {
      const id = String((value as { id?: unknown } | null)?.id);
      if (!sameSchedule) {
        forgotten.push({
          id,
          kind: 'node',
          reason: 'schedule_changed',
          problem: `stored under epochs of ${saved.schedule?.lengthMs} ms, now ${this.schedule.lengthMs} ms`,
        });
        continue;
      }
      if (nowMs - lastSeenMs > this.schedule.lengthMs) {
        forgotten.push({
          id,
          kind: 'node',
          reason: 'silent_for_an_epoch',
          problem: `last heard from ${nowMs - lastSeenMs} ms ago`,
        });
        continue;
      }
      const verdict = this.#admitted(
        verifyDescriptor(value, {
          nowMs: lastSeenMs,
          maxSkewMs: this.maxSkewMs,
          layerCount: this.layerCount,
          epoch: epochAt(lastSeenMs, this.schedule),
        }),
        'node',
      );
      if (!verdict.ok) forgotten.push({ id, kind: 'node', reason: verdict.reason, problem: verdict.problem });
      else this.#nodes.set(verdict.descriptor.id, { descriptor: verdict.descriptor, lastSeenMs });
    }
    for (const { descriptor: value, lastSeenMs } of saved.gateways) {
      const id = String((value as { id?: unknown } | null)?.id);
      if (nowMs - lastSeenMs > this.schedule.lengthMs) {
        const problem = `last heard from ${nowMs - lastSeenMs} ms ago`;
        forgotten.push({ id, kind: 'gateway', reason: 'silent_for_an_epoch', problem });
        continue;
      }
      const verdict = this.#admitted(
        verifyGatewayDescriptor(value, { nowMs: lastSeenMs, maxSkewMs: this.maxSkewMs }),
        'gateway',
      );
      if (!verdict.ok) forgotten.push({ id, kind: 'gateway', reason: verdict.reason, problem: verdict.problem });
      else this.#gateways.set(verdict.descriptor.id, { descriptor: verdict.descriptor, lastSeenMs });
    }
    this.#store.restart(
      this.schedule,
      forgotten.filter((entry) => entry.kind === 'node').map((node) => node.id),
      forgotten.filter((entry) => entry.kind === 'gateway').map((gateway) => gateway.id),
    );
    return { nodes: this.#nodes.size, gateways: this.#gateways.size, forgotten };
  }

  /** A verified descriptor passes when its id is enrolled with its identity key; else not_enrolled. */
  #admitted<V extends { ok: true; descriptor: SignedIdentity } | { ok: false }>(
    verdict: V,
    kind: 'node' | 'gateway',
  ): V | { ok: false; reason: 'not_enrolled'; problem: string } {
    if (!verdict.ok) return verdict;
    const { id, identityKey } = verdict.descriptor;
    if (this.enrollment.isEnrolled(id, identityKey)) return verdict;
    const enrolled = this.enrollment.enrolledKey(id);
    return {
      ok: false,
      reason: 'not_enrolled',
      problem:
        enrolled === undefined
          ? `${kind} ${id} is not enrolled: an operator must enroll its identity key ${identityKey} ` +
            `(the file ${id}.pub in the directory's ENROLLMENT_DIR) before it can join`
          : `${kind} ${id} is enrolled with identity key ${enrolled}, not ${identityKey}: ` +
            'only the enrolled key may register under this id',
    };
  }

  #save(write: (store: RegistryStore) => void): void {
    if (!this.#store) return;
    try {
      write(this.#store);
    } catch (error) {
      this.#onStoreError(error as Error);
    }
  }

  /** The epoch now. */
  epoch(): number {
    return epochAt(this.now(), this.schedule);
  }

  /**
   * Verifies a descriptor received from the network (signature, freshness, a mixing key
   * for the current epoch, enrollment of its identity key) and checks it against the stored one: another identity for a
   * registered id is 'conflicting', one not issued strictly later is 'replayed'. An
   * accepted descriptor replaces the stored one and counts as a heartbeat.
   */
  register(value: unknown): NodeRegistration {
    const nowMs = this.now();
    const epoch = epochAt(nowMs, this.schedule);
    const verdict = this.#admitted(
      verifyDescriptor(value, {
        nowMs,
        maxSkewMs: this.maxSkewMs,
        layerCount: this.layerCount,
        epoch,
      }),
      'node',
    );
    if (!verdict.ok) return verdict;
    const { descriptor } = verdict;
    const stored = this.#nodes.get(descriptor.id)?.descriptor;
    const refusal = stored && refusalOf(stored, descriptor, 'node');
    if (refusal) return refusal;
    const registered = { descriptor, lastSeenMs: nowMs };
    this.#nodes.set(descriptor.id, registered);
    this.#save((store) => store.saveNode(registered));
    return {
      ok: true,
      replaced: stored !== undefined,
      changed: !sameExceptTime(stored, descriptor),
      descriptor,
      epoch,
    };
  }

  /**
   * Verifies a gateway's descriptor as register does a node's (signature, freshness,
   * enrollment) and binds the gateway id to its identity key the same way: another key
   * for a registered id is 'conflicting', a descriptor not issued strictly later 'replayed'.
   */
  registerGateway(value: unknown): GatewayRegistration {
    const nowMs = this.now();
    const verdict = this.#admitted(verifyGatewayDescriptor(value, { nowMs, maxSkewMs: this.maxSkewMs }), 'gateway');
    if (!verdict.ok) return verdict;
    const { descriptor } = verdict;
    const stored = this.#gateways.get(descriptor.id)?.descriptor;
    const refusal = stored && refusalOf(stored, descriptor, 'gateway');
    if (refusal) return refusal;
    const registered = { descriptor, lastSeenMs: nowMs };
    this.#gateways.set(descriptor.id, registered);
    this.#save((store) => store.saveGateway(registered));
    return { ok: true, replaced: stored !== undefined, changed: stored?.url !== descriptor.url, descriptor };
  }

  /** The registered gateway of `id`. */
  gateway(id: string): RegisteredGateway | undefined {
    return this.#gateways.get(id);
  }

  /** The registered node of `id`, alive or dead. */
  node(id: string): RegisteredNode | undefined {
    return this.#nodes.get(id);
  }

  /** Every registered node, alive or dead. */
  registered(): RegisteredNode[] {
    return [...this.#nodes.values()];
  }

  isAlive(node: RegisteredNode, nowMs: number = this.now()): boolean {
    return nowMs - node.lastSeenMs <= this.livenessTimeoutMs;
  }

  /** Alive and dead registered nodes per layer. */
  liveness(nowMs: number = this.now()): Liveness {
    const counts = Array.from({ length: this.layerCount }, () => ({ alive: 0, dead: 0 }));
    for (const node of this.#nodes.values()) {
      const layer = counts[node.descriptor.layer - 1];
      if (layer) layer[this.isAlive(node, nowMs) ? 'alive' : 'dead']++;
    }
    return counts;
  }

  /**
   * The unsigned topology of the epoch at `nowMs`, valid for that epoch: every alive node
   * that published a mixing key for the epoch, per layer, sorted by id; the gateways,
   * sorted by id. Ids compare by UTF-16 code units, so the signed order never depends on
   * a locale.
   */
  document(nowMs: number = this.now()): TopologyDocument {
    const epoch = epochAt(nowMs, this.schedule);
    const layers: TopologyNode[][] = Array.from({ length: this.layerCount }, () => []);
    for (const node of this.#nodes.values()) {
      if (!this.isAlive(node, nowMs)) continue;
      const entry = topologyNodeFor(node.descriptor, epoch);
      if (entry) layers[entry.layer - 1]?.push(entry);
    }
    for (const nodes of layers) nodes.sort(byId);
    return {
      version: TOPOLOGY_VERSION,
      epoch,
      validFrom: epochStart(epoch, this.schedule),
      validUntil: epochEnd(epoch, this.schedule),
      layers,
      gateways: [...this.#gateways.values()].map((gateway) => listedGateway(gateway.descriptor)).sort(byId),
    };
  }
}

/** Why `incoming` may not replace `stored` (same id): another identity key, or not issued later; undefined when it may. */
function refusalOf(
  stored: SignedIdentity,
  incoming: SignedIdentity,
  kind: 'node' | 'gateway',
): { ok: false; reason: 'conflicting' | 'replayed'; problem: string } | undefined {
  const relation = compareToStored(stored, incoming);
  if (relation === 'conflicting') {
    return {
      ok: false,
      reason: 'conflicting',
      problem:
        `${kind} id ${incoming.id} is registered with identity key ${stored.identityKey}, not ${incoming.identityKey}: ` +
        `another ${kind} already uses this id (pick another one), or this ${kind} lost its identity key (restore it from its volume)`,
    };
  }
  if (relation === 'replayed') {
    return {
      ok: false,
      reason: 'replayed',
      problem:
        `descriptor of ${kind} ${incoming.id} was issued at ${incoming.issuedAt}, not after the registered one ` +
        `(${stored.issuedAt}): a repeated or older descriptor; sign a fresh one for every registration`,
    };
  }
  return undefined;
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function sameExceptTime(stored: SignedNodeDescriptor | undefined, incoming: SignedNodeDescriptor): boolean {
  if (!stored) return false;
  return (
    stored.layer === incoming.layer &&
    stored.url === incoming.url &&
    stored.mixingKeys.length === incoming.mixingKeys.length &&
    stored.mixingKeys.every(
      (key, i) => key.epoch === incoming.mixingKeys[i]?.epoch && key.publicKey === incoming.mixingKeys[i]?.publicKey,
    )
  );
}
