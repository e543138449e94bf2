/** Helpers shared by the mix node's tests. */
import type { KeyPair } from '@mixlab/crypto';
import { PACKET_OUTCOMES } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import { HOP_UNKNOWN, hopFound, type ResolveHop } from '@mixlab/service-kit';
import type { Registry } from 'prom-client';
import type { MixingKeySet } from './mixing-keys.ts';
import { replayFilterSize } from './replay-filter.ts';

/** A key set of one key pair for one epoch (tests, benchmarks). */
export function singleKeySet(keys: KeyPair, epoch = 0): MixingKeySet {
  return { current: epoch, byEpoch: new Map([[epoch, keys]]) };
}

/** Replay filters for tests: 10,000 tags at a false-positive rate of 1e-6 (36 KB per epoch). */
export const TEST_REPLAY = replayFilterSize(10_000, 1e-6);

/** mixlab_packets_total for every outcome. */
export async function packetCounts(registry: Registry): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const outcome of PACKET_OUTCOMES)
    counts[outcome] = await seriesValue(registry, 'mixlab_packets_total', { outcome });
  return counts;
}

/** What packetCounts reads when only the outcomes in `nonZero` were counted. */
export function counts(nonZero: Record<string, number>): Record<string, number> {
  return Object.fromEntries(PACKET_OUTCOMES.map((outcome) => [outcome, nonZero[outcome] ?? 0]));
}

/** Look-ups that send every packet to mix-2 and know no delivery destination. */
export const everyHopToMix2: ResolveHop = async (kind) =>
  kind === 'node' ? hopFound('http://mix-2:8080') : HOP_UNKNOWN;
