import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { createServiceRegistry, directoryMetrics } from '@mixlab/metrics';
import { NODE_ID_PATTERN, PUBLIC_KEY_PATTERN, type Topology } from '@mixlab/topology';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { NodeRegistry } from './node-registry.ts';
import { buildServer } from './server.ts';

const KEY_A = 'a'.repeat(64);
const KEY_B = '0123456789abcdef'.repeat(4);

function descriptor(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'mix-1', layer: 1, url: 'http://mix-1:8080', publicKey: KEY_A, ...overrides };
}

/** The value of one series, matched on every label given (the service's default labels are ignored). */
async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  assert.ok(metric, `metric ${name} is registered`);
  const matching = metric.values.filter((value) =>
    Object.entries(labels).every(([label, wanted]) => (value.labels as Record<string, unknown>)[label] === wanted),
  );
  assert.equal(matching.length, 1, `exactly one ${name} series for ${JSON.stringify(labels)}`);
  return matching[0]!.value;
}

describe('directory server', () => {
  let registry: Registry;
  let app: FastifyInstance;

  beforeEach(() => {
    registry = createServiceRegistry({ node: 'directory' });
    app = buildServer({ nodes: new NodeRegistry(3), registry, metrics: directoryMetrics(registry) });
  });

  const register = (payload: unknown) => app.inject({ method: 'POST', url: '/v1/nodes', payload: payload as object });
  const topology = async (): Promise<Topology> => (await app.inject({ method: 'GET', url: '/v1/topology' })).json();
  const rejectedCount = () => metricValue(registry, 'mixlab_directory_registrations_total', { outcome: 'rejected' });
  const acceptedCount = () => metricValue(registry, 'mixlab_directory_registrations_total', { outcome: 'accepted' });

  describe('registration', () => {
    it('accepts a new node with 201 and lists it in its layer', async () => {
      const response = await register(descriptor());
      assert.equal(response.statusCode, 201);
      assert.deepEqual(response.json(), { id: 'mix-1', replaced: false });
      assert.deepEqual(await topology(), {
        gateways: [],
        layers: [[{ id: 'mix-1', layer: 1, url: 'http://mix-1:8080', publicKey: KEY_A }], [], []],
      });
      assert.equal(await acceptedCount(), 1);
      assert.equal(await rejectedCount(), 0);
    });

    it('replaces a re-registering node (200): one entry with the new url and key', async () => {
      assert.equal((await register(descriptor())).statusCode, 201);
      const response = await register(descriptor({ url: 'http://10.0.0.7:9000', publicKey: KEY_B }));
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { id: 'mix-1', replaced: true });
      assert.deepEqual(await topology(), {
        gateways: [],
        layers: [[{ id: 'mix-1', layer: 1, url: 'http://10.0.0.7:9000', publicKey: KEY_B }], [], []],
      });
      assert.equal(await acceptedCount(), 2);
    });

    it('moves a node that re-registers in another layer', async () => {
      await register(descriptor());
      assert.equal((await register(descriptor({ layer: 3 }))).statusCode, 200);
      const { layers } = await topology();
      assert.deepEqual(
        layers.map((nodes) => nodes.map((node) => node.id)),
        [[], [], ['mix-1']],
      );
    });

    it('groups the topology by layer, each layer sorted by id', async () => {
      const nodes = [
        { id: 'c', layer: 2 },
        { id: 'b', layer: 1 },
        { id: 'a', layer: 2 },
        { id: 'z', layer: 3 },
        { id: 'a2', layer: 1 },
        { id: 'Y', layer: 3 },
      ];
      for (const { id, layer } of nodes) {
        assert.equal((await register(descriptor({ id, layer, url: `http://${id}:8080` }))).statusCode, 201);
      }
      const { layers } = await topology();
      assert.deepEqual(
        layers.map((entries) => entries.map((node) => node.id)),
        [
          ['a2', 'b'],
          ['a', 'c'],
          ['Y', 'z'],
        ],
      );
      for (const [index, entries] of layers.entries()) {
        for (const node of entries) {
          assert.equal(node.layer, index + 1);
          assert.deepEqual(Object.keys(node).sort(), ['id', 'layer', 'publicKey', 'url']);
        }
      }
    });
  });

  describe('rejected registrations: 400 with the problem, counted as rejected, nothing stored', () => {
    const cases: { name: string; body: Record<string, unknown>; problem: string }[] = [
      {
        name: 'a missing field',
        body: (() => {
          const { publicKey: _omitted, ...rest } = descriptor();
          return rest;
        })(),
        problem: "body must have required property 'publicKey'",
      },
      { name: 'layer 0', body: descriptor({ layer: 0 }), problem: 'layer must be an integer from 1 to 3, got 0' },
      {
        name: 'layer 4 in a network of 3 layers',
        body: descriptor({ layer: 4 }),
        problem: 'layer must be an integer from 1 to 3, got 4',
      },
      { name: 'a fractional layer', body: descriptor({ layer: 1.5 }), problem: 'body/layer must be integer' },
      {
        name: 'a key of 63 hex characters',
        body: descriptor({ publicKey: KEY_A.slice(1) }),
        problem: `body/publicKey must match pattern "${PUBLIC_KEY_PATTERN}"`,
      },
      {
        name: 'an uppercase key',
        body: descriptor({ publicKey: KEY_B.toUpperCase() }),
        problem: `body/publicKey must match pattern "${PUBLIC_KEY_PATTERN}"`,
      },
      {
        name: 'an id starting with a dash',
        body: descriptor({ id: '-mix' }),
        problem: `body/id must match pattern "${NODE_ID_PATTERN}"`,
      },
      {
        name: 'an id of 65 characters',
        body: descriptor({ id: 'm'.repeat(65) }),
        problem: `body/id must match pattern "${NODE_ID_PATTERN}"`,
      },
      {
        name: 'an id with a slash',
        body: descriptor({ id: 'mix/1' }),
        problem: `body/id must match pattern "${NODE_ID_PATTERN}"`,
      },
      {
        name: 'a non-http url',
        body: descriptor({ url: 'ftp://mix-1:21' }),
        problem: 'url must be http or https, got ftp:',
      },
      {
        name: 'an empty url',
        body: descriptor({ url: '' }),
        problem: 'body/url must NOT have fewer than 1 characters',
      },
    ];

    for (const { name, body, problem } of cases) {
      it(`rejects ${name}`, async () => {
        const response = await register(body);
        assert.equal(response.statusCode, 400);
        const answer = response.json();
        assert.equal(answer.error, 'invalid descriptor');
        assert.deepEqual(answer.problems, [problem]);
        assert.equal(await rejectedCount(), 1);
        assert.equal(await acceptedCount(), 0);
        assert.deepEqual(await topology(), { gateways: [], layers: [[], [], []] });
      });
    }

    it('rejects a url that does not parse, naming it', async () => {
      const response = await register(descriptor({ url: 'not a url' }));
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json().problems, ['url is not a URL: not a url']);
      assert.equal(await rejectedCount(), 1);
    });

    it('rejects a body that is not an object', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/nodes',
        headers: { 'content-type': 'application/json' },
        payload: '[1,2]',
      });
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), { error: 'invalid descriptor', problems: ['body must be object'] });
      assert.equal(await rejectedCount(), 1);
    });

    it('does not replace a registered node with a rejected descriptor', async () => {
      await register(descriptor());
      assert.equal((await register(descriptor({ publicKey: 'nope' }))).statusCode, 400);
      assert.deepEqual((await topology()).layers[0], [descriptor()]);
      assert.equal(await acceptedCount(), 1);
      assert.equal(await rejectedCount(), 1);
    });

    it('rejects an extra field', async () => {
      const response = await register(descriptor({ role: 'exit' }));
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), {
        error: 'invalid descriptor',
        problems: ['body must NOT have additional properties'],
      });
      assert.equal(await rejectedCount(), 1);
    });

    it('answers 400 to a body that is not JSON', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/nodes',
        headers: { 'content-type': 'application/json' },
        payload: '{"id": "mix-1",',
      });
      assert.equal(response.statusCode, 400);
      assert.match(response.json().problems[0], /JSON/);
      assert.deepEqual(await topology(), { gateways: [], layers: [[], [], []] });
    });

    it('answers 413 to a body over 4096 bytes', async () => {
      const payload = JSON.stringify(descriptor({ url: `http://mix-1/${'x'.repeat(4096)}` }));
      assert.ok(payload.length > 4096);
      const response = await app.inject({
        method: 'POST',
        url: '/v1/nodes',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      assert.equal(response.statusCode, 413);
      assert.deepEqual(await topology(), { gateways: [], layers: [[], [], []] });
    });

    it('counts non-JSON and oversize bodies as rejected registrations, with a problems message', async () => {
      const notJson = await app.inject({
        method: 'POST',
        url: '/v1/nodes',
        headers: { 'content-type': 'application/json' },
        payload: '{"id": "mix-1",',
      });
      assert.equal(notJson.statusCode, 400);
      assert.ok(Array.isArray(notJson.json().problems));
      const tooLarge = await app.inject({
        method: 'POST',
        url: '/v1/nodes',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(descriptor({ url: `http://mix-1/${'x'.repeat(4096)}` })),
      });
      assert.equal(tooLarge.statusCode, 413);
      assert.equal(await rejectedCount(), 2);
    });
  });

  describe('metrics and health', () => {
    it('starts the node gauge at zero for every layer', async () => {
      for (const layer of ['1', '2', '3'])
        assert.equal(await metricValue(registry, 'mixlab_directory_nodes', { layer }), 0);
    });

    it('keeps the node gauge per layer: new nodes count, replacements and rejections do not, moves update both layers', async () => {
      await register(descriptor({ id: 'a', layer: 1 }));
      await register(descriptor({ id: 'b', layer: 1 }));
      await register(descriptor({ id: 'c', layer: 3 }));
      await register(descriptor({ id: 'a', layer: 1, url: 'http://a-new:8080' }));
      await register(descriptor({ id: 'd', layer: 4 }));
      const gauge = async () =>
        Promise.all(['1', '2', '3'].map((layer) => metricValue(registry, 'mixlab_directory_nodes', { layer })));
      assert.deepEqual(await gauge(), [2, 0, 1]);
      await register(descriptor({ id: 'b', layer: 2 }));
      assert.deepEqual(await gauge(), [1, 1, 1]);
      assert.equal(await acceptedCount(), 5);
      assert.equal(await rejectedCount(), 1);
    });

    it('serves /health', async () => {
      const response = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { status: 'ok' });
    });

    it('serves /metrics in the Prometheus text format with the service labels', async () => {
      await register(descriptor());
      await register(descriptor({ layer: 9 }));
      const response = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], registry.contentType);
      const lines = response.body.split('\n');
      assert.ok(lines.includes('# TYPE mixlab_directory_registrations_total counter'));
      assert.ok(lines.includes('mixlab_directory_registrations_total{outcome="accepted",node="directory"} 1'));
      assert.ok(lines.includes('mixlab_directory_registrations_total{outcome="rejected",node="directory"} 1'));
      assert.ok(lines.includes('mixlab_directory_nodes{layer="1",node="directory"} 1'));
      assert.ok(lines.includes('mixlab_directory_nodes{layer="2",node="directory"} 0'));
      assert.ok(lines.some((line) => line.startsWith('mixlab_process_')));
    });
  });
});
