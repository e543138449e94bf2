/**
 * How long a packet is expected to wait at a node, from the node's strategy alone: what a
 * sender needs to choose a sensible acknowledgement timeout. Batching strategies wait for
 * other traffic, so their delay depends on how many packets reach the node: the caller says
 * (`arrivalsPerSecond`; the compose cascade's loop cover alone gives each node about 1/s).
 */
import type { StrategyConfig } from './strategy-config.ts';

export interface DelayAssumptions {
  /** Packets reaching the node per second, all senders and cover together (> 0). */
  readonly arrivalsPerSecond: number;
  /** For `exponential:delay=sender`: the mean per-hop delay the sender itself draws, if any. */
  readonly senderMeanDelayMs?: number;
}

/**
 * The mean delay of one packet at a node running `config`, in ms, at `arrivalsPerSecond`:
 *   threshold n (maxWait w)      the n - 1 packets after it: (n - 1)/λ, at most w
 *   timed t                      half a period: t/2
 *   threshold-or-timed n, t      min(t/2, (n - 1)/λ)
 *   threshold-and-timed n, t     a period's tick once n are pooled: max(t/2, (n - 1)/λ)
 *   pool t, min, fraction        Little's law on the steady pool (min + λt/fraction packets): min/λ + t/fraction
 *   binomial t, p                t/2 to the first tick, then a geometric number of ticks: t(1/p - 1/2)
 *   exponential mean             mean (delay=sender: the sender's mean, 0 when it draws none)
 */
export function expectedDelayMs(config: StrategyConfig, assumptions: DelayAssumptions): number {
  const rate = assumptions.arrivalsPerSecond;
  if (!(rate > 0)) throw new RangeError(`arrivalsPerSecond must be positive, got ${rate}`);
  /** Time for `count` more packets to arrive, in ms. */
  const arrivals = (count: number) => (count * 1000) / rate;
  switch (config.name) {
    case 'threshold': {
      const waiting = arrivals(config.threshold - 1);
      return config.maxWaitMs === undefined ? waiting : Math.min(waiting, config.maxWaitMs);
    }
    case 'timed':
      return config.intervalMs / 2;
    case 'threshold-or-timed':
      return Math.min(config.intervalMs / 2, arrivals(config.threshold - 1));
    case 'threshold-and-timed':
      return Math.max(config.intervalMs / 2, arrivals(config.threshold - 1));
    case 'pool':
      return arrivals(config.minPool) + config.intervalMs / config.fraction;
    case 'binomial':
      return config.intervalMs * (1 / config.probability - 1 / 2);
    case 'exponential':
      return config.delay === 'sender' ? (assumptions.senderMeanDelayMs ?? 0) : (config.meanDelayMs ?? 0);
  }
}
