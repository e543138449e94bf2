/** Helpers shared by the mix node's tests. */
import { generateKeyPair, type KeyPair, toHex } from '@mixlab/crypto';
import { PACKET_OUTCOMES } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import { HOP_UNKNOWN, hopFound, type ResolveHop } from '@mixlab/service-kit';
import type { Topology } from '@mixlab/topology';
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

/** A cascade mix-1, mix-2, mix-3 (one node per layer) with fresh keys, and the gateway gw; call after cryptoReady(). */
export function threeLayerCascade(): { keys: Record<string, KeyPair>; topology: Topology } {
  const keys: Record<string, KeyPair> = {};
  for (const id of ['mix-1', 'mix-2', 'mix-3']) keys[id] = generateKeyPair();
  const node = (id: string, layer: number) => ({
    id,
    layer,
    url: `http://${id}:8080`,
    publicKey: toHex((keys[id] as KeyPair).publicKey),
  });
  return {
    keys,
    topology: {
      layers: [[node('mix-1', 1)], [node('mix-2', 2)], [node('mix-3', 3)]],
      gateways: [{ id: 'gw', url: 'http://gw:8080', identityKey: '9'.repeat(64) }],
    },
  };
}
