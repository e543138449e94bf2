import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeDescriptor, Topology } from './topology.ts';
import { TopologyCache } from './topology-cache.ts';

const node = (id: string): NodeDescriptor => ({ id, layer: 1, url: `http://${id}:8080`, publicKey: '0f'.repeat(32) });

function directory() {
  const state = { nodes: [node('a')], fetches: 0 };
  const fetch = async (): Promise<Topology> => {
    state.fetches++;
    return { layers: [[...state.nodes]], gateways: [{ id: 'gw', url: 'http://gw:8080' }] };
  };
  return { state, fetch };
}

describe('TopologyCache', () => {
  it('serves the cached topology until it is maxAgeMs old, and shares concurrent fetches', async () => {
    let now = 0;
    const { state, fetch } = directory();
    const cache = new TopologyCache(fetch, { maxAgeMs: 1000, refetchAfterMs: 0, now: () => now });
    await Promise.all([cache.current(), cache.current(), cache.current()]);
    assert.equal(state.fetches, 1);
    now = 999;
    await cache.current();
    assert.equal(state.fetches, 1);
    now = 1000;
    await cache.current();
    assert.equal(state.fetches, 2);
  });

  it('finds a node that registered after the last fetch, waiting out refetchAfterMs', async () => {
    const { state, fetch } = directory();
    const cache = new TopologyCache(fetch, { maxAgeMs: 60_000, refetchAfterMs: 50 });
    assert.equal((await cache.find('a'))?.id, 'a');
    state.nodes.push(node('b'));
    const started = performance.now();
    assert.equal((await cache.find('b'))?.url, 'http://b:8080');
    assert.ok(performance.now() - started >= 45, 'no sooner than refetchAfterMs after the last fetch');
    assert.equal(state.fetches, 2);
    assert.equal(await cache.find('nobody'), undefined);
    assert.equal(state.fetches, 3);
    assert.equal((await cache.findGateway('gw'))?.url, 'http://gw:8080');
    assert.equal(state.fetches, 3);
  });
});
