import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { anonymityMetrics, createServiceRegistry } from '@mixlab/metrics';
import { parseStrategyConfig } from '@mixlab/mixing';
import { encodeTapEvent } from '@mixlab/service-kit';
import type { TopologyDocument } from '@mixlab/topology';
import type { Registry } from 'prom-client';
import { attackScoreGauge, followAttackScores } from './attack-scores.ts';
import { Observatory } from './observatory.ts';
import { buildServer } from './server.ts';
import { TraceRecorder } from './trace-recorder.ts';

const KEY = '00'.repeat(32);
const node = (layer: number) => ({
  id: `mix-${layer}-abc`,
  layer,
  url: `http://10.0.0.${layer}:8080`,
  identityKey: KEY,
  publicKey: KEY,
});
const TOPOLOGY = {
  version: 1,
  epoch: 1,
  validFrom: 0,
  validUntil: 1,
  layers: [[node(1)], [node(2)], [node(3)]],
  gateways: [{ id: 'gateway-1', url: 'http://client-gateway:8080', identityKey: '9'.repeat(64) }],
} as TopologyDocument;

const GATEWAY = 'client-gateway:8080';

/** Polls `check` until it holds (2 s at most). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail('the condition never held');
}
const MIX = (layer: number) => `10.0.0.${layer}:8080`;
const ALICE = '172.18.0.1:40001';
const BOB = '172.18.0.1:40002';
const RECIPIENT = '172.18.0.1:50000';

/** What the taps report for two messages through a threshold:n=2 cascade, in wire order. */
const TRACE: [number, string, string, number][] = [
  [1000.4, ALICE, GATEWAY, 1],
  [1001, GATEWAY, MIX(1), 1],
  [1010, BOB, GATEWAY, 1],
  [1011, GATEWAY, MIX(1), 1],
  [1020, MIX(1), MIX(2), 2],
  [1030, MIX(2), MIX(3), 2],
  [1040, MIX(3), GATEWAY, 2],
  [1041, GATEWAY, RECIPIENT, 1],
  [1042, GATEWAY, RECIPIENT, 1],
];

function watch(strategy = 'threshold:n=2', trace?: TraceRecorder) {
  const registry = createServiceRegistry({ node: 'observer' });
  const lines: string[] = [];
  const observatory = new Observatory({
    strategy: parseStrategyConfig(strategy),
    maxClients: 8,
    slackMs: 250,
    releaseLagMs: 100,
    recentMessages: 100,
    metrics: anonymityMetrics(registry),
    logger: { info: (_details, message) => lines.push(message) },
    ...(trace ? { trace } : {}),
  });
  observatory.setTopology(TOPOLOGY);
  return { observatory, registry, lines };
}

/** count and sum of a histogram's series with these labels. */
async function histogram(registry: Registry, name: string, labels: Record<string, string>) {
  const metric = await registry.getSingleMetric(name)?.get();
  const matches = (series: { labels: Record<string, unknown> }) =>
    Object.entries(labels).every(([key, value]) => series.labels[key] === value);
  const pick = (suffix: string) =>
    (metric?.values ?? [])
      .filter((series) => (series as { metricName?: string }).metricName === `${name}${suffix}` && matches(series))
      .reduce((total, series) => total + series.value, 0);
  return { count: pick('_count'), sum: pick('_sum') };
}

async function counter(registry: Registry, name: string, labels: Record<string, string>) {
  const metric = await registry.getSingleMetric(name)?.get();
  const series = metric?.values.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return series?.value ?? 0;
}

describe('Observatory', () => {
  it('turns hand-made tap datagrams, in any arrival order, into entropies per node and per route', async () => {
    const { observatory, registry } = watch();
    const datagrams = TRACE.map(([atMs, from, to, packets]) => encodeTapEvent(atMs, from, to, 2640 * packets, packets));
    // UDP may reorder within the slack: feed them backwards.
    // The events of one turn come in one datagram, a line each.
    const [first, ...rest] = [...datagrams].reverse();
    assert.deepEqual(observatory.ingest(Buffer.concat([first as Buffer, Buffer.from('\n'), rest[0] as Buffer])), [
      'accepted',
      'accepted',
    ]);
    for (const datagram of rest.slice(1)) assert.deepEqual(observatory.ingest(datagram), ['accepted']);
    observatory.advance(1100); // watermark 850: nothing yet
    assert.equal((await histogram(registry, 'mixlab_anonymity_entropy_bits', { scope: 'route' })).count, 0);
    observatory.advance(2000);

    for (const layer of ['1', '2', '3']) {
      const perNode = await histogram(registry, 'mixlab_anonymity_entropy_bits', { scope: 'node', layer });
      assert.deepEqual(perNode, { count: 2, sum: 2 }, `layer ${layer}: two packets, 1 bit each (a batch of 2)`);
    }
    assert.equal((await histogram(registry, 'mixlab_anonymity_entropy_bits', { scope: 'node' })).count, 6);
    assert.deepEqual(await histogram(registry, 'mixlab_anonymity_entropy_bits', { scope: 'route' }), {
      count: 2,
      sum: 2,
    });
    assert.deepEqual(await histogram(registry, 'mixlab_anonymity_effective_set_size', { scope: 'route' }), {
      count: 2,
      sum: 4,
    });
    assert.deepEqual(await histogram(registry, 'mixlab_anonymity_degree', { scope: 'route' }), { count: 2, sum: 2 });
    assert.equal(await counter(registry, 'mixlab_observer_tap_events_total', { outcome: 'accepted' }), TRACE.length);
    assert.equal(await counter(registry, 'mixlab_observer_clients', {}), 2);

    const estimates = observatory.estimates();
    assert.deepEqual(estimates.clients, [
      { name: 'client-1', endpoint: ALICE },
      { name: 'client-2', endpoint: BOB },
      { name: 'client-3', endpoint: RECIPIENT },
    ]);
    assert.deepEqual(
      estimates.pushes.map(({ to, order, senders, entropyBits }) => ({ to, order, senders, entropyBits })),
      [1, 2].map((order) => ({
        to: 'client-3',
        order,
        senders: { 'client-1': 0.5, 'client-2': 0.5 },
        entropyBits: 1,
      })),
    );
    assert.equal(estimates.deliveries.length, 2);
    assert.equal(estimates.deliveries[0]?.from, 'mix-3-abc');
  });

  it('links every message to its sender when nodes do not mix (threshold:n=1)', () => {
    const { observatory } = watch('threshold:n=1');
    const trace: [number, string, string, number][] = [
      [1000, ALICE, GATEWAY, 1],
      [1001, GATEWAY, MIX(1), 1],
      [1002, MIX(1), MIX(2), 1],
      [1003, MIX(2), MIX(3), 1],
      [1004, MIX(3), GATEWAY, 1],
      [1005, GATEWAY, RECIPIENT, 1],
      [1100, BOB, GATEWAY, 1],
      [1101, GATEWAY, MIX(1), 1],
      [1102, MIX(1), MIX(2), 1],
      [1103, MIX(2), MIX(3), 1],
      [1104, MIX(3), GATEWAY, 1],
      [1105, GATEWAY, RECIPIENT, 1],
    ];
    for (const [atMs, from, to, packets] of trace) observatory.ingest(encodeTapEvent(atMs, from, to, 2640, packets));
    observatory.advance(5000);
    const { pushes, clients } = observatory.estimates();
    // Slots go in order of first sight: Alice, the recipient, then Bob.
    const slot = (endpoint: string) => clients.find((client) => client.endpoint === endpoint)?.name as string;
    assert.deepEqual(
      pushes.map(({ senders, entropyBits }) => ({ senders, entropyBits })),
      [
        { senders: { [slot(ALICE)]: 1 }, entropyBits: 0 },
        { senders: { [slot(BOB)]: 1 }, entropyBits: 0 },
      ],
    );
  });

  it('counts malformed, late and unmapped datagrams and feeds none of them to the model', async () => {
    const { observatory, registry } = watch();
    const extra = Buffer.from(JSON.stringify({ atMs: 1000, from: ALICE, to: GATEWAY, bytes: 1, packets: 1, id: 'x' }));
    assert.deepEqual(observatory.ingest(extra), ['malformed']);
    assert.deepEqual(observatory.ingest(Buffer.from('not json')), ['malformed']);
    // A datagram with one bad line is dropped whole (counted once), its good line with it.
    const good = encodeTapEvent(1000, ALICE, GATEWAY, 2640, 1);
    assert.deepEqual(observatory.ingest(Buffer.concat([good, Buffer.from('\n'), extra])), ['malformed']);
    // Neither side known, nor next to a gateway: no client slot for it.
    observatory.ingest(encodeTapEvent(1000, '10.9.9.9:8080', MIX(2), 2640, 1));
    observatory.advance(2000);
    assert.deepEqual(observatory.ingest(encodeTapEvent(1700, ALICE, GATEWAY, 2640, 1)), ['late']);
    assert.equal(await counter(registry, 'mixlab_observer_tap_events_total', { outcome: 'malformed' }), 3);
    assert.equal(await counter(registry, 'mixlab_observer_tap_events_total', { outcome: 'unmapped' }), 1);
    assert.equal(await counter(registry, 'mixlab_observer_tap_events_total', { outcome: 'late' }), 1);
    assert.equal(await counter(registry, 'mixlab_observer_tap_events_total', { outcome: 'accepted' }), 0);
    assert.deepEqual(observatory.estimates().clients, []);
  });

  it('starts its model afresh only when the topology moves, not on a new epoch', async () => {
    const { observatory, registry, lines } = watch();
    assert.equal(observatory.setTopology({ ...TOPOLOGY, gateways: [] }), true, 'keeps following the last one');
    assert.equal(observatory.setTopology({ ...TOPOLOGY, epoch: 2 }), true);
    assert.equal(await counter(registry, 'mixlab_observer_model_resets_total', {}), 0);
    observatory.setTopology({ ...TOPOLOGY, layers: [[node(1)], [node(2), { ...node(4), layer: 2 }], [node(3)]] });
    assert.equal(await counter(registry, 'mixlab_observer_model_resets_total', {}), 1);
    assert.equal(lines.length, 2);
  });
});

describe('observer server', () => {
  it('serves the estimates, its metrics and its health', async () => {
    const { observatory, registry } = watch();
    for (const [atMs, from, to, packets] of TRACE) observatory.ingest(encodeTapEvent(atMs, from, to, 2640, packets));
    observatory.advance(2000);
    const app = buildServer({ observatory, registry });
    const estimates = (await app.inject('/v1/estimates')).json();
    assert.equal(estimates.pushes.length, 2);
    assert.deepEqual(estimates.nodes, [
      { name: 'mix-1-abc', layer: 1 },
      { name: 'mix-2-abc', layer: 2 },
      { name: 'mix-3-abc', layer: 3 },
    ]);
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /mixlab_anonymity_entropy_bits_count\{node="observer",scope="route"\} 2/);
    assert.match(
      metrics,
      /mixlab_anonymity_entropy_bits_sum\{node="observer",scope="node",layer="2",mix_node="mix-2-abc"\} 2/,
    );
    assert.equal((await app.inject('/health')).statusCode, 200);
    await app.close();
  });

  it('serves the named wire trace in pages, WireEvent fields only, and overwrites the oldest', async () => {
    const trace = new TraceRecorder(6);
    const { observatory, registry } = watch('threshold:n=2', trace);
    for (const [atMs, from, to, packets] of TRACE) observatory.ingest(encodeTapEvent(atMs, from, to, 2640, packets));
    observatory.advance(2000);
    const app = buildServer({ observatory, registry, trace });
    const first = (await app.inject('/v1/trace?since=0&limit=2')).json();
    // 9 recorded, 6 kept: the first three were overwritten.
    assert.equal(first.dropped, 3);
    assert.equal(first.from, 3);
    assert.equal(first.next, 5);
    assert.deepEqual(first.events[0], { atMs: 1011, from: 'gateway-1', to: 'mix-1-abc', bytes: 2640, packets: 1 });
    for (const event of first.events)
      assert.deepEqual(Object.keys(event).sort(), ['atMs', 'bytes', 'from', 'packets', 'to']);
    const rest = (await app.inject(`/v1/trace?since=${first.next}`)).json();
    assert.deepEqual(
      rest.events.map((event: { to: string }) => event.to),
      ['mix-3-abc', 'gateway-1', 'client-3', 'client-3'],
    );
    assert.equal(rest.next, 9);
    assert.deepEqual(rest.gateways, ['gateway-1']);
    assert.equal((await app.inject('/v1/trace?since=-1')).statusCode, 400);
    await app.close();
  });

  it('exports the attack scores of its file, follows the file and takes no scores over HTTP', async () => {
    const { observatory, registry } = watch();
    const directory = await mkdtemp(join(tmpdir(), 'observer-scores-'));
    const file = join(directory, 'attacks.json');
    const score = (successRatio: number) => ({
      scores: [{ attack: 'timing', strategy: 'threshold:n=1', successRatio }],
    });
    await writeFile(file, JSON.stringify(score(0.97)));
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (_: object, message: string) => warnings.push(message) };
    const follower = followAttackScores(file, attackScoreGauge(registry), log, 20);
    await follower.loaded;
    const app = buildServer({ observatory, registry });
    const metric = async () => (await app.inject('/metrics')).body;
    assert.match(
      await metric(),
      /mixlab_attack_success_ratio\{attack="timing",strategy="threshold:n=1",node="observer"\} 0.97/,
    );
    // No route sets them.
    const post = await app.inject({ method: 'POST', url: '/v1/attack-scores', payload: score(0) });
    assert.equal(post.statusCode, 404);
    // A new run's file is picked up by itself.
    await writeFile(file, JSON.stringify(score(0.5)));
    await waitFor(async () => /node="observer"\} 0.5\b/.test(await metric()));
    // A broken file is reported and the last good scores stay, also on an explicit reload (SIGHUP).
    await writeFile(file, JSON.stringify({ scores: [{ attack: 'timing', strategy: 'x', successRatio: 2 }] }));
    await follower.reload();
    assert.ok(warnings.length > 0);
    assert.match(await metric(), /node="observer"\} 0.5\b/);
    follower.close();
    await app.close();
    await rm(directory, { recursive: true });
  });
});
