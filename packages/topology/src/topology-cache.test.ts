import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TopologyCache } from './topology-cache.ts';
import type { SignedTopology, TopologyNode } from './topology-signing.ts';

const node = (id: string): TopologyNode => ({
  id,
  layer: 1,
  url: `http://${id}:8080`,
  identityKey: '0e'.repeat(32),
  publicKey: '0f'.repeat(32),
});

/** A directory whose documents (unsigned: the cache does not verify unless told to) the test changes. */
function directory() {
  const state = { nodes: [node('a')], fetches: 0, epoch: 1, validUntil: Number.MAX_SAFE_INTEGER };
  const fetch = async (): Promise<SignedTopology> => {
    state.fetches++;
    const { epoch, validUntil } = state;
    return {
      document: {
        version: 1,
        epoch,
        validFrom: 0,
        validUntil,
        layers: [[...state.nodes]],
        gateways: [{ id: 'gw', url: 'http://gw:8080', identityKey: '9'.repeat(64) }],
      },
      signature: '',
      directoryKey: '',
    };
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

  it('serves a stale document for serveStaleMs while it refetches, but not after a failed refetch', async () => {
    let now = 0;
    const { state, fetch } = directory();
    let down = false;
    const cache = new TopologyCache(() => (down ? Promise.reject(new Error('directory down')) : fetch()), {
      maxAgeMs: 1000,
      refetchAfterMs: 0,
      serveStaleMs: 500,
      now: () => now,
    });
    assert.equal((await cache.document()).epoch, 1);
    state.epoch = 2;
    now = 1200;
    assert.equal((await cache.document()).epoch, 1, 'the cached one at once');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state.fetches, 2, 'refetched in the background');
    assert.equal((await cache.document()).epoch, 2);
    down = true;
    now = 2300;
    assert.equal((await cache.document()).epoch, 2, 'still within serveStaleMs');
    await new Promise((resolve) => setImmediate(resolve));
    await assert.rejects(cache.document(), /directory down/, 'after a failed refetch, the outage shows');
    now = 2800;
    await assert.rejects(cache.document(), /directory down/, 'past serveStaleMs, every look-up waits');
  });

  it('never serves a document past the end of its epoch, and verifies what it fetches when told to', async () => {
    let now = 0;
    const { state, fetch } = directory();
    state.validUntil = 500;
    const verified: number[] = [];
    const cache = new TopologyCache(fetch, {
      maxAgeMs: 60_000,
      refetchAfterMs: 0,
      now: () => now,
      verify: (signed) => {
        verified.push(signed.document.epoch);
        return signed.document;
      },
    });
    assert.equal((await cache.document()).epoch, 1);
    state.epoch = 2;
    state.validUntil = 1_000;
    now = 499;
    assert.equal((await cache.document()).epoch, 1);
    now = 500;
    assert.equal((await cache.document()).epoch, 2, 'the next epoch at once, however fresh the cache');
    assert.equal((await cache.signed()).document.epoch, 2);
    assert.deepEqual(verified, [1, 2]);
    assert.equal(state.fetches, 2);
  });

  it('finds a node that registered after the last fetch, waiting out refetchAfterMs', async () => {
    let now = 1_000;
    const slept: number[] = [];
    const { state, fetch } = directory();
    const cache = new TopologyCache(fetch, {
      maxAgeMs: 60_000,
      refetchAfterMs: 50,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    });
    assert.equal((await cache.find('a'))?.id, 'a');
    state.nodes.push(node('b'));
    now += 20;
    assert.equal((await cache.find('b'))?.url, 'http://b:8080');
    assert.deepEqual(slept, [30], 'no sooner than refetchAfterMs after the last fetch');
    assert.equal(state.fetches, 2);
    now += 60;
    assert.equal(await cache.find('nobody'), undefined);
    assert.deepEqual(slept, [30], 'no wait once refetchAfterMs has passed');
    assert.equal(state.fetches, 3);
    assert.equal((await cache.findGateway('gw'))?.url, 'http://gw:8080');
    assert.equal(state.fetches, 3);
  });
});
