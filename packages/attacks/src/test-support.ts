// Test support only; never exported from the package. Runs the real strategies of
// @mixlab/mixing in a cascade on a manual clock and writes down what a tap would see (with
// each format's sizes) and the truth. Every hop is instantaneous; a release is one request.
import type { Roles, TruthRecord, WireEvent } from '@mixlab/anonymity';
import { createStrategy, type MixStrategy, parseStrategyConfig, type StrategyConfig } from '@mixlab/mixing';
import { ManualClock, poissonSchedule, type SeededRandom } from '@mixlab/runtime';

export const GATEWAY = 'gateway';
export const SPHINX_PACKET_BYTES = 2622;
export const SPHINX_DELIVERY_BYTES = 2018;
/** What an onion packet loses per hop (a sealed box and the next hop's id), and the submission's framing. */
export const ONION_HOP_BYTES = 68;
export const ONION_FRAMING_BYTES = 32;

export const clientNames = (count: number) => Array.from({ length: count }, (_, i) => `client-${i}`);
const nodeName = (layer: number) => `mix-${layer}`;

export interface Send {
  readonly atMs: number;
  readonly sender: string;
  readonly recipient: string;
  /** The message's own length (what onion delivers). */
  readonly length: number;
  /** Drop cover: sunk at the exit, never pushed. */
  readonly drop?: boolean;
}

export interface CascadeTrace {
  readonly roles: Roles;
  readonly events: WireEvent[];
  readonly truth: TruthRecord[];
}

interface Packet {
  readonly send: Send;
}

export function simulateCascade(options: {
  readonly clients: readonly string[];
  readonly layers: readonly StrategyConfig[];
  readonly sends: readonly Send[];
  readonly endMs: number;
  readonly random: SeededRandom;
  readonly format: 'sphinx' | 'onion';
}): CascadeTrace {
  const clock = new ManualClock();
  const events: WireEvent[] = [];
  const truth: TruthRecord[] = [];
  const delivered = new Map<string, number>();
  const hops = options.layers.length;
  const onion = options.format === 'onion';
  // Bytes of a packet on the link into layer `layer` (hops + 1: the exit's delivery).
  const packetBytes = (send: Send, layer: number) =>
    onion
      ? send.length + (hops - layer + 1) * ONION_HOP_BYTES
      : layer > hops
        ? SPHINX_DELIVERY_BYTES
        : SPHINX_PACKET_BYTES;
  const record = (from: string, to: string, batch: readonly Send[], layer: number, framing = 0) => {
    const bytes = batch.reduce((sum, send) => sum + packetBytes(send, layer) + framing, 0);
    events.push({ atMs: clock.now(), from, to, packets: batch.length, bytes });
  };
  const strategies: MixStrategy<Packet>[] = options.layers.map((config, i) => {
    const layer = i + 1;
    return createStrategy<Packet>(config, {
      clock,
      random: options.random.fork(`layer-${layer}`),
      release(batch) {
        const sends = batch.map((packet) => packet.send);
        if (layer < hops) {
          record(nodeName(layer), nodeName(layer + 1), sends, layer + 1);
          for (const packet of batch) strategies[layer]?.add(packet);
          return;
        }
        const real = sends.filter((send) => !send.drop);
        if (real.length === 0) return;
        record(nodeName(layer), GATEWAY, real, hops + 1);
        for (const send of real) {
          const order = (delivered.get(send.recipient) ?? 0) + 1;
          delivered.set(send.recipient, order);
          truth.push({ sender: send.sender, recipient: send.recipient, order });
          events.push({
            atMs: clock.now(),
            from: GATEWAY,
            to: send.recipient,
            packets: 1,
            bytes: onion ? send.length : SPHINX_DELIVERY_BYTES,
          });
        }
      },
    });
  });
  for (const send of options.sends) {
    clock.advance(send.atMs - clock.now());
    record(send.sender, GATEWAY, [send], 1, onion ? ONION_FRAMING_BYTES : 0);
    record(GATEWAY, nodeName(1), [send], 1);
    strategies[0]?.add({ send });
  }
  clock.advance(options.endMs - clock.now());
  for (const strategy of strategies) strategy.stop();
  const roles: Roles = {
    clients: options.clients,
    gateways: [GATEWAY],
    nodes: options.layers.map((strategy, i) => ({ name: nodeName(i + 1), layer: i + 1, strategy })),
  };
  return { roles, events, truth };
}

/** Three layers of one strategy, Sphinx sizes and 200 s unless told: the cascade most tests run. */
export function threeLayers(
  strategy: string,
  clients: readonly string[],
  sends: readonly Send[],
  random: SeededRandom,
  options: { readonly format?: 'sphinx' | 'onion'; readonly endMs?: number } = {},
): CascadeTrace {
  const config = parseStrategyConfig(strategy);
  return simulateCascade({
    clients,
    layers: [config, config, config],
    sends,
    endMs: options.endMs ?? 200_000,
    random,
    format: options.format ?? 'sphinx',
  });
}

/** Poisson sends at `ratePerSecond` in total from random clients to random others, lengths uniform in [1, 2000]. */
export function poissonSends(
  clients: readonly string[],
  ratePerSecond: number,
  durationMs: number,
  random: SeededRandom,
): Send[] {
  const draw = random.fork('senders');
  return poissonSchedule(ratePerSecond, durationMs, random.fork('times')).map((atMs) => {
    const sender = draw.int(clients.length);
    const recipient = (sender + 1 + draw.int(clients.length - 1)) % clients.length;
    return {
      atMs,
      sender: clients[sender] as string,
      recipient: clients[recipient] as string,
      length: 1 + draw.int(2000),
    };
  });
}
