/** The chaos run's plan: the cascades, the faults on each, and the traffic around every fault. */
import { crashProcess, disconnect, dockerKill, type Fault, lossyLink, pause, restart, slowLink } from './faults.ts';
import type { ScenarioSettings } from './scenario.ts';

/** Short mixing delays, so a message's round trip is about a second and faults dominate. */
export const CHAOS_STRATEGY = 'threshold:n=2,maxWait=200ms';

export const CHAOS_SETTINGS: ScenarioSettings = {
  traffic: {
    clients: 4,
    ratePerClient: 1,
    // Round trips are about 1.5 s (3 × 200 ms out and back, Exp(300 ms) before the acknowledgement).
    ackTimeoutMs: 4_000,
    // 40 s of retries: longer than a restart, the directory's 15 s liveness timeout and a 5 s topology cache.
    maxAttempts: 10,
    ackDelayMeanMs: 300,
  },
  warmupMs: 6_000,
  windowMs: 30_000,
};

export const HOLD_MS = 10_000; // past the acknowledgement time-out (4 s), twice

export interface CascadePlan {
  readonly name: string;
  /** Compose variables for startCascade. */
  readonly compose: Record<string, string>;
  /** Mix nodes in all. */
  readonly nodes: number;
  readonly faults: readonly Fault[];
}

export const CASCADE_PLANS: readonly CascadePlan[] = [
  {
    name: 'One node per layer',
    compose: { MIXLAB_STRATEGY: CHAOS_STRATEGY, MIXLAB_LOOP_RATE: '0' },
    nodes: 3,
    faults: [
      restart('gateway restarted', 'client-gateway-1'),
      dockerKill('mix-layer-2-1', 5_000),
      crashProcess('mix-layer-2-1'),
      restart('directory restarted', 'directory-1'),
      restart('layer-2 node restarted', 'mix-layer-2-1'),
      pause('mix-layer-2-1', HOLD_MS),
    ],
  },
  {
    name: 'Two nodes in layer 2',
    compose: { MIXLAB_STRATEGY: CHAOS_STRATEGY, MIXLAB_LOOP_RATE: '0', MIXLAB_LAYER_2_REPLICAS: '2' },
    nodes: 4,
    faults: [
      pause('mix-layer-2-1', HOLD_MS),
      disconnect('mix-layer-2-1', HOLD_MS),
      // About 6 packets of 2.6 kB a second: each waits ~170 ms to leave, and more in a batch's queue.
      slowLink('mix-layer-2-1', 'rate 128kbit burst 16kbit latency 5s', 20_000),
      lossyLink('mix-layer-2-1', 0.3, 20_000),
      crashProcess('mix-layer-2-1'),
    ],
  },
];
