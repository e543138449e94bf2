/**
 * The directory's state, clock-injected: the latest verified descriptor of every node (and
 * when the directory last heard from it), the gateways, and the topology document they make
 * for the current epoch. Nothing here signs; the only I/O is through an optional store
 * (registry-store.ts), which gets every accepted registration and gives them back at start.
 */
import type { DirectoryNodeState, DirectoryRejectionReason } from '@mixlab/metrics';
import {
  compareToStored,
  type EpochSchedule,
  epochAt,
  epochEnd,
  epochStart,
  type GatewayDescriptor,
  gatewayProblems,
  type SignedNodeDescriptor,
  TOPOLOGY_VERSION,
  type TopologyDocument,
  type TopologyNode,
  topologyNodeFor,
  verifyDescriptor,
} from '@mixlab/topology';
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

export type GatewayRegistration = { ok: true; replaced: boolean } | { ok: false; problems: string[] };

export interface RegisteredNode {
  readonly descriptor: SignedNodeDescriptor;
  /** The directory's clock when it last accepted a descriptor of this node. */
  readonly lastSeenMs: number;
}

export interface NodeRegistryOptions {
  readonly layerCount: number;
  readonly schedule: EpochSchedule;
  /** A node is alive while `now - lastSeen <= livenessTimeoutMs`. */
  readonly livenessTimeoutMs: number;
  /** A descriptor's issuedAt must be within `now ± maxSkewMs`. */
  readonly maxSkewMs: number;
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
  readonly #nodes = new Map<string, RegisteredNode>();
  readonly #gateways = new Map<string, GatewayDescriptor>();
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
   * an epoch (as a restart forgot it before there was a store), one that no longer passes.
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
          reason: 'schedule_changed',
          problem: `stored under epochs of ${saved.schedule?.lengthMs} ms, now ${this.schedule.lengthMs} ms`,
        });
        continue;
      }
      if (nowMs - lastSeenMs > this.schedule.lengthMs) {
        forgotten.push({ id, reason: 'silent_for_an_epoch', problem: `last heard from ${nowMs - lastSeenMs} ms ago` });
        continue;
      }
      const verdict = verifyDescriptor(value, {
        nowMs: lastSeenMs,
        maxSkewMs: this.maxSkewMs,
        layerCount: this.layerCount,
        epoch: epochAt(lastSeenMs, this.schedule),
      });
      if (!verdict.ok) forgotten.push({ id, reason: verdict.reason, problem: verdict.problem });
      else this.#nodes.set(verdict.descriptor.id, { descriptor: verdict.descriptor, lastSeenMs });
    }
    for (const gateway of saved.gateways) {
      if (gatewayProblems(gateway).length === 0) this.#gateways.set(gateway.id, gateway);
    }
    this.#store.restart(
      this.schedule,
      forgotten.map((node) => node.id),
    );
    return { nodes: this.#nodes.size, gateways: this.#gateways.size, forgotten };
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
   * for the current epoch) and checks it against the stored one: another identity for a
   * registered id is 'conflicting', one not issued strictly later is 'replayed'. An
   * accepted descriptor replaces the stored one and counts as a heartbeat.
   */
  register(value: unknown): NodeRegistration {
    const nowMs = this.now();
    const epoch = epochAt(nowMs, this.schedule);
    const verdict = verifyDescriptor(value, {
      nowMs,
      maxSkewMs: this.maxSkewMs,
      layerCount: this.layerCount,
      epoch,
    });
    if (!verdict.ok) return verdict;
    const { descriptor } = verdict;
    const stored = this.#nodes.get(descriptor.id)?.descriptor;
    if (stored) {
      const relation = compareToStored(stored, descriptor);
      if (relation === 'conflicting') {
        return {
          ok: false,
          reason: 'conflicting',
          problem:
            `node id ${descriptor.id} is registered with identity key ${stored.identityKey}, not ${descriptor.identityKey}: ` +
            'another node already uses this id (pick another one), or this node lost its identity key (restore it from its volume)',
        };
      }
      if (relation === 'replayed') {
        return {
          ok: false,
          reason: 'replayed',
          problem:
            `descriptor of node ${descriptor.id} was issued at ${descriptor.issuedAt}, not after the registered one ` +
            `(${stored.issuedAt}): a repeated or older descriptor; sign a fresh one for every registration`,
        };
      }
    }
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

  /** Validates and stores a gateway (unsigned); registering again replaces it. */
  registerGateway(descriptor: GatewayDescriptor): GatewayRegistration {
    const problems = gatewayProblems(descriptor);
    if (problems.length > 0) return { ok: false, problems };
    const replaced = this.#gateways.has(descriptor.id);
    const { id, url, identityKey } = descriptor;
    const gateway = identityKey === undefined ? { id, url } : { id, url, identityKey };
    this.#gateways.set(descriptor.id, gateway);
    this.#save((store) => store.saveGateway(gateway));
    return { ok: true, replaced };
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
      gateways: [...this.#gateways.values()].sort(byId),
    };
  }
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
