// Test support only; never exported from the package. Runs the real strategies of
// @mixlab/mixing on a manual clock and writes down what a tap would see, and the truth.
// Randomness is the load generator's seeded source, so that tests draw as the experiments do.
import { createStrategy, type MixStrategy, type StrategyConfig } from '@mixlab/mixing';
import { exponentialGapMs, ManualClock, type Random, seededRandom } from '@mixlab/runtime';
import type { AnonymityObserver, Observation } from './observer.ts';
import type { TruthRecord } from './scoring.ts';
import type { Roles, WireEvent } from './wire.ts';

export const GATEWAY = 'gateway';
export const nodeName = (layer: number) => `mix-${layer}`;
export const clientNames = (count: number) => Array.from({ length: count }, (_, i) => `client-${i}`);

export function cascadeRoles(clients: readonly string[], layers: readonly StrategyConfig[]): Roles {
  return {
    clients,
    gateways: [GATEWAY],
    nodes: layers.map((strategy, i) => ({ name: nodeName(i + 1), layer: i + 1, strategy })),
  };
}

export interface Send {
  readonly atMs: number;
  readonly sender: string;
  readonly recipient: string;
}

interface Packet {
  readonly sender: string;
  readonly recipient: string;
  /** Index of the batch it left in, per layer so far. */
  readonly batches: number[];
}

/** A delivered message with the batch it left each layer in (an index into `Simulation.batches`). */
export interface SimulatedDelivery extends TruthRecord {
  readonly batchAtLayer: readonly number[];
}

export interface Simulation {
  readonly roles: Roles;
  readonly events: WireEvent[];
  readonly truth: SimulatedDelivery[];
  /** The senders of every batch each layer released, in order. */
  readonly batches: string[][][];
}

const PACKET_BYTES = 2048;

/** Feeds a whole trace to the observer and closes it: every observation, in order. */
export function observeAll(observer: AnonymityObserver, events: readonly WireEvent[]): Observation[] {
  const out: Observation[] = [];
  for (const event of events) out.push(...observer.observe(event));
  out.push(...observer.flush());
  return out;
}

/**
 * One node per layer, each running its real strategy; every hop is instantaneous, every
 * release goes out as one request, the gateway forwards and pushes at once. `sends` must be
 * in time order; the clock runs on to `endMs`.
 */
export function simulateCascade(options: {
  readonly clients: readonly string[];
  readonly layers: readonly StrategyConfig[];
  readonly sends: readonly Send[];
  readonly endMs: number;
  readonly seed: number;
  /** Called at every wire event, with the node pools' true sizes, for cross-checks. */
  readonly onEvent?: (event: WireEvent, queued: readonly number[]) => void;
}): Simulation {
  const clock = new ManualClock();
  const random = seededRandom(options.seed);
  const events: WireEvent[] = [];
  const truth: SimulatedDelivery[] = [];
  const batches: string[][][] = options.layers.map(() => []);
  const delivered = new Map<string, number>();
  const strategies: MixStrategy<Packet>[] = [];
  const record = (from: string, to: string, packets: number) => {
    const event = { atMs: clock.now(), from, to, packets, bytes: packets * PACKET_BYTES };
    events.push(event);
    options.onEvent?.(
      event,
      strategies.map((s) => s.queued),
    );
  };
  options.layers.forEach((config, i) => {
    const layer = i + 1;
    const release = (batch: Packet[]) => {
      const released = batches[i] as string[][];
      for (const packet of batch) packet.batches.push(released.length);
      released.push(batch.map((packet) => packet.sender));
      if (layer < options.layers.length) {
        record(nodeName(layer), nodeName(layer + 1), batch.length);
        for (const packet of batch) strategies[layer]?.add(packet);
        return;
      }
      record(nodeName(layer), GATEWAY, batch.length);
      for (const packet of batch) {
        const order = (delivered.get(packet.recipient) ?? 0) + 1;
        delivered.set(packet.recipient, order);
        truth.push({ sender: packet.sender, recipient: packet.recipient, order, batchAtLayer: packet.batches });
        record(GATEWAY, packet.recipient, 1);
      }
    };
    strategies.push(createStrategy<Packet>(config, { clock, random, release }));
  });
  for (const send of options.sends) {
    clock.advance(send.atMs - clock.now());
    record(send.sender, GATEWAY, 1);
    record(GATEWAY, nodeName(1), 1);
    strategies[0]?.add({ sender: send.sender, recipient: send.recipient, batches: [] });
  }
  clock.advance(options.endMs - clock.now());
  for (const strategy of strategies) strategy.stop();
  return { roles: cascadeRoles(options.clients, options.layers), events, truth, batches };
}

/**
 * Sends from random clients at the instants `next` gives until it returns undefined, each to a
 * random other client, or with `anyone` to any client (then the recipient says nothing about
 * the sender, and the observer's distributions are the true posteriors).
 */
function randomSends(
  clients: readonly string[],
  seed: number,
  next: (random: Random) => number | undefined,
  recipients: 'others' | 'anyone' = 'others',
): Send[] {
  const random = seededRandom(seed);
  const pick = (n: number) => random.int(n);
  const sends: Send[] = [];
  for (let at = next(random); at !== undefined; at = next(random)) {
    const sender = pick(clients.length);
    const recipient =
      recipients === 'anyone' ? pick(clients.length) : (sender + 1 + pick(clients.length - 1)) % clients.length;
    sends.push({ atMs: at, sender: clients[sender] as string, recipient: clients[recipient] as string });
  }
  return sends;
}

/** Poisson sends at `ratePerSecond` in total, for `durationMs`. */
export function poissonSends(
  clients: readonly string[],
  ratePerSecond: number,
  durationMs: number,
  seed: number,
  recipients: 'others' | 'anyone' = 'others',
): Send[] {
  let at = 0;
  const next = (random: Random) => {
    at += exponentialGapMs(ratePerSecond, random);
    return at < durationMs ? at : undefined;
  };
  return randomSends(clients, seed, next, recipients);
}

/** Exactly `perRound` sends in each of `rounds` rounds of 1 s, at random instants strictly inside the round. */
export function roundSends(clients: readonly string[], perRound: number, rounds: number, seed: number): Send[] {
  let sent = 0;
  const sends = randomSends(clients, seed, (random) => {
    if (sent === perRound * rounds) return undefined;
    return Math.floor(sent++ / perRound) * 1000 + 1 + random.float() * 998;
  });
  return sends.sort((x, y) => x.atMs - y.atMs);
}
