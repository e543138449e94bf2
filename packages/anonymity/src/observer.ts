/**
 * The observer engine: a global passive adversary that reads wire events in time order and,
 * from them and each node's public mixing rule only, gives every packet leaving a mix node a
 * distribution over the packets that entered it, and every delivered message a distribution
 * over the original senders (the clients seen at the gateway). Incremental and bounded: each
 * pool and relay is a queue of runs, capped at `maxRunsPerQueue`.
 *
 * Per node the distribution over its inputs is kept only through its entropy (see Mixture);
 * the distribution over senders is kept explicitly, one vector per run.
 *
 * Releases: the output events of one node within one millisecond (floor of atMs) are one
 * release, so events are processed a millisecond at a time, once a later one arrives or on
 * `flush()`.
 */
import type { StrategyConfig } from '@mixlab/mixing';
import { anonymityDegree, effectiveAnonymitySetSize, entropyBits } from './entropy.ts';
import { Mixture, type Run, RunQueue } from './runs.ts';
import {
  checkWireEvent,
  type EndpointRole,
  indexRoles,
  type MixNodeRole,
  type RoleIndex,
  type Roles,
  type WireEvent,
  WireTraceError,
} from './wire.ts';

/** A distribution over the original senders. */
export interface SenderDistribution {
  /** Probability per client, indexed like `Roles.clients`. */
  readonly probabilities: Float64Array;
  /**
   * Mass the observer cannot attribute to any client: packets it saw leave a node or the
   * gateway that, by its model, held none (node loop cover, or events the tap missed).
   */
  readonly unattributed: number;
}

/** How anonymous a sender distribution leaves a message's sender. */
export interface SenderAnonymity {
  /** Entropy over the senders (unattributed mass counts as one more candidate). */
  readonly entropyBits: number;
  /** 2^H. */
  readonly effectiveSetSize: number;
  /** H / log2 N with N = clientsSeen; 0 when N <= 1. */
  readonly degree: number;
  /** Clients that had sent at least one packet when the message was seen. */
  readonly clientsSeen: number;
}

/** Entropy, effective set and degree of a sender distribution, with N = `clientsSeen`. */
export function senderAnonymity(senders: SenderDistribution, clientsSeen: number): SenderAnonymity {
  const unattributed = senders.unattributed;
  const entropy = entropyBits(senders.probabilities) - (unattributed > 0 ? unattributed * Math.log2(unattributed) : 0);
  return {
    entropyBits: entropy,
    effectiveSetSize: effectiveAnonymitySetSize(entropy),
    degree: anonymityDegree(entropy, clientsSeen),
    clientsSeen,
  };
}

/** Packets of one wire event leaving a mix node that share one distribution. */
export interface NodeOutput {
  readonly kind: 'node-output';
  readonly node: string;
  readonly layer: number;
  /** Where they went: the next node or a gateway. */
  readonly to: string;
  readonly atMs: number;
  /** How many packets of the event this entry stands for; each has the distributions below. */
  readonly packets: number;
  /** Entropy of each packet's distribution over the packets that entered this node, in bits. */
  readonly inputEntropyBits: number;
  readonly senders: SenderDistribution;
}

/** One message an exit node handed to a gateway. */
export interface DeliveryObservation extends SenderAnonymity {
  readonly kind: 'delivery';
  readonly exit: string;
  readonly gateway: string;
  readonly atMs: number;
  readonly senders: SenderDistribution;
}

/** One message a gateway passed to its recipient. */
export interface PushObservation extends SenderAnonymity {
  readonly kind: 'push';
  readonly gateway: string;
  readonly recipient: string;
  /** 1-based position among the messages this observer saw reach this recipient. */
  readonly order: number;
  readonly atMs: number;
  readonly senders: SenderDistribution;
}

export type Observation = NodeOutput | DeliveryObservation | PushObservation;

export interface ObserverOptions {
  /**
   * Longest time, in ms, between a batch closing inside a node and its first packet on the
   * wire (peeling is done before pooling, so this is the forward's latency). For the strategies
   * that release everything pooled (timed, threshold-or-timed, threshold-and-timed), a packet
   * that arrived this long before a release must have been in its batch; if it does not appear
   * among the outputs it was sunk (drop cover at the exit) or lost, and is counted as sunk.
   * Default 100.
   */
  readonly releaseLagMs?: number;
  /** Most runs (packets of one wire event) one pool or relay keeps; older ones are evicted and counted. Default 100000. */
  readonly maxRunsPerQueue?: number;
}

export interface ObserverStats {
  /** Wire events accepted. */
  readonly events: number;
  /** Events on links the model has no place for (unknown endpoints, client to node, ...) or with no packets. */
  readonly ignoredEvents: number;
  /** Packets that left a node or relay holding none by the model. */
  readonly unattributedPackets: number;
  /** Packets of a batch that, by the public rule, left but never appeared on the wire. */
  readonly sunkPackets: number;
  /** Packets dropped from a full queue to keep memory bounded. */
  readonly evictedPackets: number;
  /** Runs held over all pools and relays: the engine's memory, in entries. */
  readonly retainedRuns: number;
  readonly clientsSeen: number;
}

/** How a node's public rule picks what leaves. */
type ReleaseRule =
  /** pool, binomial, exponential: each release is a uniform draw from the whole pool. */
  | { readonly kind: 'uniform' }
  /** threshold: a batch is the n oldest (at most those within maxWait of the first). */
  | { readonly kind: 'threshold'; readonly n: number; readonly maxWaitMs: number | undefined }
  /** timed, threshold-or-timed, threshold-and-timed: a batch is everything pooled when it closed. */
  | { readonly kind: 'everything'; readonly cap: number };

/** A config built in code rather than parsed may hold anything; a batch of 0 would never end. */
function batchSize(threshold: number): number {
  if (!(Number.isSafeInteger(threshold) && threshold >= 1)) {
    throw new WireTraceError(`a strategy's threshold must be a whole number >= 1, got ${threshold}`);
  }
  return threshold;
}

function releaseRule(strategy: StrategyConfig): ReleaseRule {
  switch (strategy.name) {
    case 'pool':
    case 'binomial':
    case 'exponential':
      return { kind: 'uniform' };
    case 'threshold':
      return { kind: 'threshold', n: batchSize(strategy.threshold), maxWaitMs: strategy.maxWaitMs };
    case 'threshold-or-timed':
      return { kind: 'everything', cap: batchSize(strategy.threshold) };
    case 'timed':
    case 'threshold-and-timed':
      return { kind: 'everything', cap: Number.POSITIVE_INFINITY };
    default:
      throw new WireTraceError(`unknown strategy ${JSON.stringify((strategy as { name?: unknown }).name)}`);
  }
}

/** A batch whose members are known, being handed out to the output events of its millisecond. */
interface OpenBatch {
  remaining: number;
  readonly entropyBits: number;
  readonly senders: Float64Array;
}

interface NodeState {
  readonly role: MixNodeRole;
  readonly rule: ReleaseRule;
  readonly pool: RunQueue;
  open: OpenBatch | undefined;
  /** The bucket the two counters below belong to. */
  bucket: number;
  /** Packets this node sends in the bucket (all its output events), and those handed out so far. */
  bucketOutputs: number;
  bucketEmitted: number;
}

interface GatewayState {
  readonly name: string;
  /** Client packets waiting to be forwarded to layer 1. */
  readonly entry: RunQueue;
  /** Delivered messages waiting to be passed to recipients. */
  readonly mailbox: RunQueue;
}

interface Endpoint {
  readonly role: EndpointRole;
  readonly index: number;
}

interface PendingEvent {
  readonly event: WireEvent;
  readonly from: Endpoint | undefined;
  readonly to: Endpoint | undefined;
}

export class AnonymityObserver {
  readonly #index: RoleIndex;
  readonly #clients: readonly string[];
  readonly #width: number;
  readonly #releaseLagMs: number;
  readonly #nodes: NodeState[];
  readonly #gateways: GatewayState[];
  /** One-hot sender vectors per client, and the vector of unattributed packets; shared, never mutated. */
  readonly #certain: Float64Array[];
  readonly #unattributed: Float64Array;
  readonly #seen: boolean[];
  readonly #pushes: number[];
  #pending: PendingEvent[] = [];
  #bucket = Number.NEGATIVE_INFINITY;
  #events = 0;
  #ignored = 0;
  #unattributedPackets = 0;
  #sunk = 0;
  #evicted = 0;
  #clientsSeen = 0;

  constructor(roles: Roles, options: ObserverOptions = {}) {
    const releaseLagMs = options.releaseLagMs ?? 100;
    const maxRuns = options.maxRunsPerQueue ?? 100_000;
    if (!(Number.isFinite(releaseLagMs) && releaseLagMs >= 0)) {
      throw new RangeError(`releaseLagMs must be a number of ms >= 0, got ${releaseLagMs}`);
    }
    if (!(Number.isSafeInteger(maxRuns) && maxRuns >= 1)) {
      throw new RangeError(`maxRunsPerQueue must be a whole number >= 1, got ${maxRuns}`);
    }
    this.#index = indexRoles(roles);
    this.#clients = [...roles.clients];
    this.#width = roles.clients.length + 1;
    this.#releaseLagMs = releaseLagMs;
    this.#nodes = roles.nodes.map((role) => ({
      role,
      rule: releaseRule(role.strategy),
      pool: new RunQueue(maxRuns),
      open: undefined,
      bucket: Number.NEGATIVE_INFINITY,
      bucketOutputs: 0,
      bucketEmitted: 0,
    }));
    this.#gateways = roles.gateways.map((name) => ({
      name,
      entry: new RunQueue(maxRuns),
      mailbox: new RunQueue(maxRuns),
    }));
    this.#certain = roles.clients.map((_, index) => {
      const vector = new Float64Array(this.#width);
      vector[index] = 1;
      return vector;
    });
    this.#unattributed = new Float64Array(this.#width);
    this.#unattributed[roles.clients.length] = 1;
    this.#seen = roles.clients.map(() => false);
    this.#pushes = roles.clients.map(() => 0);
  }

  /**
   * Takes the next wire event (in time order; events within one millisecond may come in any
   * order the tap saw them) and returns what became known: the observations of every
   * millisecond before this event's. Throws WireTraceError, changing nothing, on a malformed
   * event or one older than the millisecond already being collected.
   */
  observe(event: WireEvent): Observation[] {
    checkWireEvent(event);
    const bucket = Math.floor(event.atMs);
    if (bucket < this.#bucket) {
      throw new WireTraceError(
        `wire events must come in time order: got atMs ${event.atMs} after events at ${this.#bucket} ms`,
      );
    }
    const out: Observation[] = [];
    if (bucket > this.#bucket) this.#processBucket(out);
    this.#bucket = bucket;
    this.#events++;
    this.#pending.push({ event, from: this.#index.endpoints.get(event.from), to: this.#index.endpoints.get(event.to) });
    return out;
  }

  /**
   * Tells the engine that no event before `atMs` is still to come (a live tap's clock minus
   * its slack): every millisecond before floor(atMs) is processed, and later events older than
   * that are refused. Returns what became known.
   */
  advanceTo(atMs: number): Observation[] {
    if (!Number.isFinite(atMs)) throw new WireTraceError(`advanceTo needs a finite time in ms, got ${atMs}`);
    const bucket = Math.floor(atMs);
    const out: Observation[] = [];
    if (bucket > this.#bucket) {
      this.#processBucket(out);
      this.#bucket = bucket;
    }
    return out;
  }

  /**
   * Processes the events held for the current millisecond, at the end of a trace. A live service
   * calls `advanceTo` instead, which cannot split a millisecond.
   */
  flush(): Observation[] {
    const out: Observation[] = [];
    this.#processBucket(out);
    return out;
  }

  get stats(): ObserverStats {
    let retainedRuns = 0;
    for (const node of this.#nodes) retainedRuns += node.pool.runs;
    for (const gateway of this.#gateways) retainedRuns += gateway.entry.runs + gateway.mailbox.runs;
    return {
      events: this.#events,
      ignoredEvents: this.#ignored,
      unattributedPackets: this.#unattributedPackets,
      sunkPackets: this.#sunk,
      evictedPackets: this.#evicted,
      retainedRuns,
      clientsSeen: this.#clientsSeen,
    };
  }

  /** Packets the model holds in a node's pool, by node name (for tests and a queue-depth cross-check). */
  pooled(node: string): number {
    const endpoint = this.#index.endpoints.get(node);
    if (endpoint?.role !== 'node') throw new WireTraceError(`"${node}" is not a mix node of the roles`);
    return (this.#nodes[endpoint.index] as NodeState).pool.packets;
  }

  #processBucket(out: Observation[]): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    const bucket = this.#bucket;
    // A release is all of a node's output events in the millisecond: count them first.
    const releasing: NodeState[] = [];
    for (const { event, from, to } of pending) {
      if (from?.role !== 'node' || (to?.role !== 'node' && to?.role !== 'gateway')) continue;
      const node = this.#nodes[from.index] as NodeState;
      if (node.bucket !== bucket) {
        node.bucket = bucket;
        node.bucketOutputs = 0;
        node.bucketEmitted = 0;
        releasing.push(node);
      }
      node.bucketOutputs += event.packets;
    }
    for (const item of pending) this.#apply(item, out);
    // What a batch holds beyond its millisecond's outputs left without reaching the wire
    // (drop cover sunk at the exit, or a failed forward).
    for (const node of releasing) {
      this.#sunk += node.open?.remaining ?? 0;
      node.open = undefined;
    }
  }

  #apply({ event, from, to }: PendingEvent, out: Observation[]): void {
    if (!from || !to || event.packets === 0) {
      this.#ignored++;
    } else if (from.role === 'client' && to.role === 'gateway') {
      this.#submit(event, from.index, this.#gateways[to.index] as GatewayState);
    } else if (from.role === 'gateway' && to.role === 'node') {
      this.#enter(event, this.#gateways[from.index] as GatewayState, to.index);
    } else if (from.role === 'gateway' && to.role === 'client') {
      this.#push(event, this.#gateways[from.index] as GatewayState, to.index, out);
    } else if (from.role === 'node' && to.role === 'node') {
      const target = this.#nodes[to.index] as NodeState;
      this.#release(event, this.#nodes[from.index] as NodeState, out, (count, senders) =>
        this.#arrive(target, { count, distinct: true, entropyBits: 0, senders, arrivedAtMs: event.atMs }),
      );
    } else if (from.role === 'node' && to.role === 'gateway') {
      const gateway = this.#gateways[to.index] as GatewayState;
      this.#release(event, this.#nodes[from.index] as NodeState, out, (count, senders, distribution) => {
        this.#evicted += gateway.mailbox.push({
          count,
          distinct: true,
          entropyBits: 0,
          senders,
          arrivedAtMs: event.atMs,
        });
        const anonymity = senderAnonymity(distribution, this.#clientsSeen);
        for (let i = 0; i < count; i++) {
          out.push({
            kind: 'delivery',
            exit: event.from,
            gateway: event.to,
            atMs: event.atMs,
            senders: distribution,
            ...anonymity,
          });
        }
      });
    } else {
      this.#ignored++;
    }
  }

  /** A client hands packets to the gateway: their sender is certain. */
  #submit(event: WireEvent, client: number, gateway: GatewayState): void {
    if (!this.#seen[client]) {
      this.#seen[client] = true;
      this.#clientsSeen++;
    }
    this.#evicted += gateway.entry.push({
      count: event.packets,
      distinct: true,
      entropyBits: 0,
      senders: this.#certain[client] as Float64Array,
      arrivedAtMs: event.atMs,
    });
  }

  /**
   * The gateway forwards packets to a layer-1 node. Approximation: the gateway is a relay, so
   * it is modelled as FIFO in the order the tap saw submissions; the k packets of a forward are
   * the k oldest submitted and not yet forwarded. (It forwards each submission at once, so the
   * order can differ only between submissions in flight together.)
   */
  #enter(event: WireEvent, gateway: GatewayState, node: number): void {
    const target = this.#nodes[node] as NodeState;
    const taken = gateway.entry.take(event.packets, (run, count) =>
      this.#arrive(target, { count, distinct: true, entropyBits: 0, senders: run.senders, arrivedAtMs: event.atMs }),
    );
    if (taken < event.packets) {
      const count = event.packets - taken;
      this.#unattributedPackets += count;
      this.#arrive(target, {
        count,
        distinct: true,
        entropyBits: 0,
        senders: this.#unattributed,
        arrivedAtMs: event.atMs,
      });
    }
  }

  #arrive(node: NodeState, run: Run): void {
    this.#evicted += node.pool.push(run);
  }

  /**
   * The gateway passes messages to a recipient. Approximation, as for `#enter`: the mailbox side
   * is a FIFO over all recipients in the order the tap saw deliveries. The gateway pushes each
   * stored message at once to a connected recipient, so this holds while recipients stay
   * connected; messages fetched later by HTTP break it.
   */
  #push(event: WireEvent, gateway: GatewayState, client: number, out: Observation[]): void {
    const recipient = this.#clients[client] as string;
    const emit = (count: number, senders: Float64Array) => {
      const distribution = this.#distribution(senders);
      const anonymity = senderAnonymity(distribution, this.#clientsSeen);
      for (let i = 0; i < count; i++) {
        const order = (this.#pushes[client] as number) + 1;
        this.#pushes[client] = order;
        out.push({
          kind: 'push',
          gateway: gateway.name,
          recipient,
          order,
          atMs: event.atMs,
          senders: distribution,
          ...anonymity,
        });
      }
    };
    const taken = gateway.mailbox.take(event.packets, (run, count) => emit(count, run.senders));
    if (taken < event.packets) {
      this.#unattributedPackets += event.packets - taken;
      emit(event.packets - taken, this.#unattributed);
    }
  }

  /** Hands the output event's packets their distributions, by the node's public rule. */
  #release(
    event: WireEvent,
    node: NodeState,
    out: Observation[],
    onward: (count: number, senders: Float64Array, distribution: SenderDistribution) => void,
  ): void {
    const emit = (count: number, entropy: number, senders: Float64Array) => {
      const distribution = this.#distribution(senders);
      out.push({
        kind: 'node-output',
        node: node.role.name,
        layer: node.role.layer,
        to: event.to,
        atMs: event.atMs,
        packets: count,
        inputEntropyBits: entropy,
        senders: distribution,
      });
      onward(count, senders, distribution);
    };
    let left = event.packets;
    if (node.rule.kind === 'uniform') {
      left -= this.#releaseUniform(node, left, event.atMs, emit);
    } else {
      while (left > 0) {
        let batch = node.open;
        if (!batch || batch.remaining === 0) {
          batch = this.#openBatch(node, event.atMs);
          node.open = batch;
          if (!batch) break;
        }
        const count = Math.min(left, batch.remaining);
        batch.remaining -= count;
        node.bucketEmitted += count;
        left -= count;
        emit(count, batch.entropyBits, batch.senders);
      }
    }
    if (left > 0) {
      this.#unattributedPackets += left;
      emit(left, 0, this.#unattributed);
    }
  }

  /**
   * Exact for every strategy whose release draws uniformly from the pool (pool; binomial,
   * where given the batch size every subset is equally likely; exponential, by memorylessness
   * when every delay is drawn from one exponential): each leaving packet's distribution is the
   * mean over the pool, and each packet that stays has that same marginal, so the pool
   * collapses to one shared run. Returns how many of `count` the pool could supply.
   */
  #releaseUniform(
    node: NodeState,
    count: number,
    atMs: number,
    emit: (count: number, entropyBits: number, senders: Float64Array) => void,
  ): number {
    const pooled = node.pool.packets;
    if (pooled === 0) return 0;
    const mixture = new Mixture(this.#width);
    node.pool.take(pooled, (run, taken) => mixture.add(run, taken));
    const mean = mixture.result() as { entropyBits: number; senders: Float64Array };
    const leaving = Math.min(count, pooled);
    emit(leaving, mean.entropyBits, mean.senders);
    this.#arrive(node, {
      count: pooled - leaving,
      distinct: false,
      entropyBits: mean.entropyBits,
      senders: mean.senders,
      arrivedAtMs: atMs,
    });
    return leaving;
  }

  /**
   * The next batch of a node that releases whole batches, by its public rule; undefined when
   * the pool is empty. Its members are the oldest pooled packets:
   * - threshold n: the n oldest; with maxWait, only those that arrived within maxWait of the
   *   oldest (a flush closes the batch then, and later arrivals wait for the next one).
   * - timed, threshold-or-timed, threshold-and-timed: everything pooled when the batch closed.
   *   The close instant is not on the wire, so the batch is the k oldest, k being the packets
   *   the node sends in this millisecond (a packet that arrived between the close and the
   *   release is not mixed in), but at least every packet that arrived releaseLagMs or more
   *   before the release (it was pooled at the close, so it left then, seen or not).
   *   threshold-or-timed never releases more than n at once.
   */
  #openBatch(node: NodeState, atMs: number): OpenBatch | undefined {
    const pool = node.pool;
    const oldest = pool.oldest;
    if (!oldest) return undefined;
    const rule = node.rule;
    let size: number;
    if (rule.kind === 'threshold') {
      size = Math.min(rule.n, pool.packets);
      if (rule.maxWaitMs !== undefined) {
        // At least the oldest itself, whatever maxWait holds.
        size = Math.min(size, Math.max(1, pool.countArrivedBy(oldest.arrivedAtMs + rule.maxWaitMs, false)));
      }
    } else {
      const stillToSend = node.bucketOutputs - node.bucketEmitted;
      const stale = pool.countArrivedBy(atMs - this.#releaseLagMs, true);
      const cap = rule.kind === 'everything' ? rule.cap : Number.POSITIVE_INFINITY;
      size = Math.min(pool.packets, cap, Math.max(stillToSend, stale));
    }
    const mixture = new Mixture(this.#width);
    pool.take(size, (run, taken) => mixture.add(run, taken));
    const batch = mixture.result() as { entropyBits: number; senders: Float64Array };
    return { remaining: size, entropyBits: batch.entropyBits, senders: batch.senders };
  }

  #distribution(senders: Float64Array): SenderDistribution {
    const clients = this.#clients.length;
    return { probabilities: senders.subarray(0, clients), unattributed: senders[clients] as number };
  }
}
