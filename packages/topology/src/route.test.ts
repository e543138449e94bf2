import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Random } from '@mixlab/runtime';
import { pickRoute } from './route.ts';
import type { NodeDescriptor, Topology } from './topology.ts';

/** A Random whose integers come from `pick`; route picking draws no floats. */
function picker(pick: (maxExclusive: number) => number): Random {
  return {
    int: pick,
    float: () => {
      throw new Error('pickRoute draws no floats');
    },
  };
}

function nodeIn(layer: number, id: string): NodeDescriptor {
  return { id, layer, url: `http://${id}:8080`, publicKey: '0f'.repeat(32) };
}

const topology: Topology = {
  gateways: [],
  layers: [
    [nodeIn(1, 'a0'), nodeIn(1, 'a1'), nodeIn(1, 'a2')],
    [nodeIn(2, 'b0')],
    [nodeIn(3, 'c0'), nodeIn(3, 'c1'), nodeIn(3, 'c2'), nodeIn(3, 'c3'), nodeIn(3, 'c4')],
  ],
};

describe('pickRoute', () => {
  it('picks one node per layer, in layer order, at the indices the picker returns', () => {
    const indices = [2, 0, 3];
    let call = 0;
    const route = pickRoute(
      topology,
      picker(() => indices[call++] as number),
    );
    assert.deepEqual(
      route.map((node) => node.id),
      ['a2', 'b0', 'c3'],
    );
    assert.equal(route[0], topology.layers[0]?.[2], 'returns the descriptors themselves');
    assert.equal(call, 3, 'asks the picker once per layer');
  });

  it('asks the picker for an index below each layer size, in layer order', () => {
    const asked: number[] = [];
    pickRoute(
      topology,
      picker((maxExclusive) => {
        asked.push(maxExclusive);
        return 0;
      }),
    );
    assert.deepEqual(asked, [3, 1, 5]);
  });

  it('returns nodes whose layer matches their position on the route', () => {
    const route = pickRoute(
      topology,
      picker((maxExclusive) => maxExclusive - 1),
    );
    assert.deepEqual(
      route.map((node) => node.layer),
      [1, 2, 3],
    );
    assert.deepEqual(
      route.map((node) => node.id),
      ['a2', 'b0', 'c4'],
    );
  });

  it('reaches every node of a layer as the picker varies', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 5; index++) {
      const route = pickRoute(
        topology,
        picker((maxExclusive) => index % maxExclusive),
      );
      seen.add((route[2] as NodeDescriptor).id);
    }
    assert.deepEqual([...seen].sort(), ['c0', 'c1', 'c2', 'c3', 'c4']);
  });

  it('returns an empty route for a topology without layers', () => {
    assert.deepEqual(
      pickRoute(
        { gateways: [], layers: [] },
        picker(() => 0),
      ),
      [],
    );
  });

  it('throws a clear error naming the first empty layer', () => {
    const broken: Topology = { gateways: [], layers: [[nodeIn(1, 'a0')], [], []] };
    let calls = 0;
    assert.throws(
      () =>
        pickRoute(
          broken,
          picker(() => {
            calls++;
            return 0;
          }),
        ),
      { name: 'EmptyLayerError', layer: 2, message: 'layer 2 has no node: the network cannot carry traffic yet' },
    );
    assert.equal(calls, 1, 'the picker is not asked about an empty layer');
  });
});
