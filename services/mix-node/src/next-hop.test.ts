import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOP_UNKNOWN, hopFound } from '@mixlab/service-kit';
import { type GatewayDescriptor, type SignedTopology, TopologyCache } from '@mixlab/topology';
import { nextHops } from './next-hop.ts';

const key = (byte: string) => byte.repeat(64);
const node = (id: string, layer: number) => ({
  id,
  layer,
  url: `http://${id}:8080`,
  identityKey: key(String(layer + 5)),
  publicKey: key(String(layer)),
});

/** Nodes and gateways look-ups read; the signature is never checked by nodes. */
const SIGNED: SignedTopology = {
  document: {
    version: 1,
    epoch: 3,
    validFrom: 0,
    validUntil: Number.MAX_SAFE_INTEGER,
    layers: [[node('mix-1', 1)], [node('mix-2', 2)]],
    gateways: [{ id: 'gw', url: 'https://gw.example/base', identityKey: key('e') }],
  },
  signature: 'ab'.repeat(64),
  directoryKey: 'cd'.repeat(32),
};

function resolver(fetch: () => Promise<SignedTopology> = async () => SIGNED) {
  return nextHops(new TopologyCache(fetch, { maxAgeMs: 60_000, refetchAfterMs: 0 }));
}

describe('nextHops', () => {
  it("resolves a node id to that node's URL and identity key (the link box is sealed to it)", async () => {
    assert.deepEqual(
      await resolver()('node', 'mix-2'),
      hopFound('http://mix-2:8080', { id: 'mix-2', identityKey: key('7') }),
    );
  });

  it("resolves a delivery destination to its gateway's URL and identity key", async () => {
    assert.deepEqual(
      await resolver()('destination', 'gw'),
      hopFound('https://gw.example/base', { id: 'gw', identityKey: key('e') }),
    );
  });

  it("resolves a destination that is a mix node's id (its own loop cover) to that node", async () => {
    assert.deepEqual(
      await resolver()('destination', 'mix-1'),
      hopFound('http://mix-1:8080', { id: 'mix-1', identityKey: key('6') }),
    );
  });

  it('names no receiver for a gateway that has no identity key yet (the sender then refuses to send)', async () => {
    const signed = {
      ...SIGNED,
      document: { ...SIGNED.document, gateways: [{ id: 'gw', url: 'http://gw:8081' } as unknown as GatewayDescriptor] },
    };
    assert.deepEqual(await resolver(async () => signed)('destination', 'gw'), hopFound('http://gw:8081'));
  });

  it('answers unknown for an id the directory does not list, as a node or a destination', async () => {
    const resolve = resolver();
    assert.deepEqual(await resolve('node', 'nobody'), HOP_UNKNOWN);
    assert.deepEqual(await resolve('node', 'gw'), HOP_UNKNOWN, 'a gateway does not take packets');
    assert.deepEqual(await resolve('destination', 'nobody'), HOP_UNKNOWN);
  });

  it('throws, rather than answering unknown, when the directory cannot be asked', async () => {
    const resolve = resolver(async () => {
      throw new Error('connect ECONNREFUSED directory:8080');
    });
    await assert.rejects(resolve('node', 'mix-2'), /ECONNREFUSED/);
    await assert.rejects(resolve('destination', 'gw'), /ECONNREFUSED/);
  });
});
