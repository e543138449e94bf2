/** Helpers shared by the mix node's tests. */
import { PACKET_OUTCOMES, seriesValue } from '@mixlab/metrics';
import type { Registry } from 'prom-client';

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
