import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { descriptorProblems, findNode, type NodeDescriptor, type Topology } from './topology.ts';

const KEY = 'a1'.repeat(32);

function descriptor(overrides: Partial<NodeDescriptor> = {}): NodeDescriptor {
  return { id: 'mix-1', layer: 1, url: 'http://mix-1:8080', publicKey: KEY, ...overrides };
}

function nodeIn(layer: number, id: string): NodeDescriptor {
  return descriptor({ id, layer, url: `http://${id}:8080` });
}

describe('descriptorProblems', () => {
  it('finds no problem in a valid descriptor', () => {
    assert.deepEqual(descriptorProblems(descriptor(), 3), []);
    assert.deepEqual(descriptorProblems(descriptor({ layer: 3, url: 'https://mix.example.org/base' }), 3), []);
    assert.deepEqual(descriptorProblems(descriptor({ id: `A${'z._-9'.repeat(12)}abc` }), 3), []);
  });

  it('refuses an id that does not match the node id pattern', () => {
    for (const id of ['', '-leading-dash', '.hidden', 'has space', 'slash/id', 'ünïcode', `a${'b'.repeat(64)}`]) {
      assert.deepEqual(
        descriptorProblems(descriptor({ id }), 3),
        ['id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'],
        `id ${JSON.stringify(id)}`,
      );
    }
  });

  it('refuses a layer outside 1..layerCount or not an integer, naming the range and the value', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-1, '-1'],
      [4, '4'],
      [1.5, '1.5'],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
    ];
    for (const [layer, shown] of cases) {
      assert.deepEqual(descriptorProblems(descriptor({ layer }), 3), [
        `layer must be an integer from 1 to 3, got ${shown}`,
      ]);
    }
  });

  it('refuses a public key of the wrong length, in uppercase, or not hex', () => {
    const keys = ['a1'.repeat(31), `${KEY}a1`, `${KEY.slice(0, 63)}`, KEY.toUpperCase(), `${KEY.slice(0, 62)}zz`, ''];
    for (const publicKey of keys) {
      assert.deepEqual(
        descriptorProblems(descriptor({ publicKey }), 3),
        ['publicKey must be 32 bytes as 64 lowercase hex characters'],
        `key ${publicKey}`,
      );
    }
  });

  it('refuses a url that does not parse, quoting it', () => {
    for (const url of ['not a url', '', '//mix-1:8080', 'http://', 'http://mix-1:99999']) {
      assert.deepEqual(descriptorProblems(descriptor({ url }), 3), [`url is not a URL: ${url}`], `url ${url}`);
    }
  });

  it('refuses a url whose scheme is not http or https, naming the scheme', () => {
    assert.deepEqual(descriptorProblems(descriptor({ url: 'ftp://mix-1/' }), 3), [
      'url must be http or https, got ftp:',
    ]);
    assert.deepEqual(descriptorProblems(descriptor({ url: 'ws://mix-1:8080' }), 3), [
      'url must be http or https, got ws:',
    ]);
  });

  it('lists every problem of a descriptor that is wrong in every field', () => {
    const problems = descriptorProblems({ id: '!', layer: 9, url: 'file:///etc/passwd', publicKey: 'xyz' }, 2);
    assert.deepEqual(problems, [
      'id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      'layer must be an integer from 1 to 2, got 9',
      'publicKey must be 32 bytes as 64 lowercase hex characters',
      'url must be http or https, got file:',
    ]);
  });
});

describe('findNode', () => {
  const topology: Topology = {
    gateways: [],
    layers: [[nodeIn(1, 'a1'), nodeIn(1, 'a2')], [nodeIn(2, 'b1')], [nodeIn(3, 'c1'), nodeIn(3, 'c2')]],
  };

  it('finds a node by id in any layer, returning its descriptor', () => {
    for (const nodes of topology.layers) {
      for (const node of nodes) assert.equal(findNode(topology, node.id), node);
    }
  });

  it('returns undefined for an unknown id, an id differing in case, or an empty topology', () => {
    assert.equal(findNode(topology, 'zz'), undefined);
    assert.equal(findNode(topology, 'A1'), undefined);
    assert.equal(findNode(topology, ''), undefined);
    assert.equal(findNode({ layers: [] }, 'a1'), undefined);
  });
});
