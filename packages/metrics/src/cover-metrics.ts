import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { END_TO_END_LATENCY_BUCKETS } from './gateway-metrics.ts';

/**
 * Cover traffic is counted where it is known to be cover: by whoever sent it. A mix
 * node counts its own loops; clients' real messages and cover reach these metrics
 * through the gateway, from clients that opt in to report them.
 */
export interface LoopMetrics {
  /** Packets put into the network, by kind (real | cover) and type (message | drop | loop). */
  readonly originated: Counter<'kind' | 'type'>;
  /** Loops by origin (node | client) and event (sent | returned | lost). */
  readonly loops: Counter<'origin' | 'event'>;
  readonly roundTrip: Histogram<'origin'>;
}

/** `origin`: whose loops and originated packets these metrics count, started at zero. */
export function loopMetrics(registry: Registry, origin: 'node' | 'client'): LoopMetrics {
  const registers = [registry];
  const metrics: LoopMetrics = {
    originated: new Counter({
      name: 'mixlab_originated_packets_total',
      help: 'Packets put into the network by whoever sent them, real messages or cover (drop, loop).',
      labelNames: ['kind', 'type'],
      registers,
    }),
    loops: new Counter({
      name: 'mixlab_loops_total',
      help: 'Loop cover by origin: sent, returned, and lost (not back in time: something drops packets).',
      labelNames: ['origin', 'event'],
      registers,
    }),
    roundTrip: new Histogram({
      name: 'mixlab_loop_round_trip_seconds',
      help: 'Time for a loop to come back to its origin.',
      labelNames: ['origin'],
      buckets: END_TO_END_LATENCY_BUCKETS,
      registers,
    }),
  };
  for (const event of ['sent', 'returned', 'lost']) metrics.loops.inc({ origin, event }, 0);
  const types =
    origin === 'node'
      ? [['cover', 'loop']]
      : [
          ['real', 'message'],
          ['cover', 'drop'],
          ['cover', 'loop'],
        ];
  for (const [kind, type] of types) metrics.originated.inc({ kind, type }, 0);
  return metrics;
}

/** A mix node's live loop-loss alarm (the n − 1 attack's tell): see LoopCover. */
export interface LoopAlarmMetrics {
  /** Share of the node's last resolved loops (the alarm window) that were lost. */
  readonly lossRatio: Gauge;
  /** 1 while the alarm fires, else 0. */
  readonly alarm: Gauge;
}

export function loopAlarmMetrics(registry: Registry): LoopAlarmMetrics {
  const registers = [registry];
  const metrics: LoopAlarmMetrics = {
    lossRatio: new Gauge({
      name: 'mixlab_loop_loss_ratio',
      help: "Share of this node's most recent resolved loops (the alarm window) that did not come back in time.",
      registers,
    }),
    alarm: new Gauge({
      name: 'mixlab_loop_alarm',
      help: '1 while the loop-loss alarm fires (enough recent loops lost: packets into this node are held back or dropped), else 0.',
      registers,
    }),
  };
  metrics.lossRatio.set(0);
  metrics.alarm.set(0);
  return metrics;
}
