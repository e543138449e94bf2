/**
 * Cover traffic alone keeps the mixes mixing: with loop cover on and no real message
 * sent, pure threshold batching (no flush) still releases batches on every layer, and
 * every node's loops come back. Node loops go through their node's own pool (they count
 * toward its threshold and leave in its batches), so batches stay exactly the threshold,
 * and no loop-loss alarm fires.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady } from '@mixlab/crypto';
import { type Cascade, eventually, queryByLabel, queryEvery, startCascade } from '@mixlab/testbed';

const THRESHOLD = 3;

const LAYERS = ['1', '2', '3'];

describe('cover traffic with no real messages', { timeout: 300_000 }, () => {
  let cascade: Cascade | undefined;

  before(async () => {
    await cryptoReady();
    cascade = await startCascade({ MIXLAB_STRATEGY: `threshold:n=${THRESHOLD}`, MIXLAB_LOOP_RATE: '4' });
  });

  after(async () => {
    await cascade?.stop();
  });

  it('releases full batches on every layer, and loops come back to every node', async () => {
    const { prometheusUrl, gatewayUrl, directoryKey } = cascade as Cascade;
    const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
    const NODES = topology.layers.flat().map((node) => node.id);
    assert.equal(NODES.length, 3);
    await eventually(
      'batches on every layer',
      async () => {
        const counts = await queryByLabel(prometheusUrl, 'sum by (layer) (mixlab_batch_size_count)', 'layer');
        return LAYERS.every((layer) => (counts[layer] ?? 0) >= 3) ? counts : undefined;
      },
      60_000,
      1_000,
    );
    const mean = await queryEvery(
      prometheusUrl,
      'sum by (layer) (mixlab_batch_size_sum) / sum by (layer) (mixlab_batch_size_count)',
      'layer',
      LAYERS,
    );
    assert.deepEqual(mean, { 1: THRESHOLD, 2: THRESHOLD, 3: THRESHOLD }, 'pure threshold batches, no flush');

    await eventually(
      'loops back at every node',
      async () => {
        const counts = await queryByLabel(
          prometheusUrl,
          'sum by (node) (mixlab_loops_total{origin="node",event="returned"})',
          'node',
        );
        return NODES.every((node) => (counts[node] ?? 0) >= 2) ? counts : undefined;
      },
      60_000,
      1_000,
    );
    const lost = await queryEvery(
      prometheusUrl,
      'sum by (node) (mixlab_loops_total{origin="node",event="lost"})',
      'node',
      NODES,
    );
    assert.deepEqual(lost, Object.fromEntries(NODES.map((node) => [node, 0])));
    const alarms = await queryEvery(prometheusUrl, 'max by (node) (mixlab_loop_alarm)', 'node', NODES);
    assert.deepEqual(alarms, Object.fromEntries(NODES.map((node) => [node, 0])), 'no loop-loss alarm');
    const kinds = ['cover', 'real'];
    const cover = await queryEvery(prometheusUrl, 'sum by (kind) (mixlab_originated_packets_total)', 'kind', kinds);
    assert.ok((cover.cover ?? 0) > 0 && cover.real === 0, `only cover was sent: ${JSON.stringify(cover)}`);
    const drops = await queryByLabel(
      prometheusUrl,
      'sum by (outcome) (mixlab_packets_total{outcome=~"malformed|undecryptable|replay|forward_failed"})',
      'outcome',
    );
    assert.ok(
      Object.values(drops).every((n) => n === 0),
      `no packet dropped: ${JSON.stringify(drops)}`,
    );
  });
});
