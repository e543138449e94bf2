import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { cryptoReady, generateSigningKeyPair, type SigningKeyPair, signDetached, toHex } from '@mixlab/crypto';
import { createServiceRegistry, DIRECTORY_REJECTION_REASONS, directoryMetrics } from '@mixlab/metrics';
import { seriesValue } from '@mixlab/metrics/test-support';
import {
  descriptorSigningBytes,
  type SignedTopology,
  signDescriptor,
  type TopologyDocument,
  verifyTopology,
} from '@mixlab/topology';
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { loadOrCreateDirectoryKey } from './directory-key.ts';
import { type Enrollment, EnrollmentDirectory, readEnrollmentFolder } from './enrollment.ts';
import { buildServer } from './server.ts';
import {
  EPOCH,
  EPOCH_LENGTH_MS,
  EPOCH_START,
  LIVENESS_TIMEOUT_MS,
  MAX_SKEW_MS,
  TestClock,
  TestGateway,
  TestNode,
  testRegistry,
} from './test-support.ts';
import { TopologyPublisher } from './topology-publisher.ts';

// The refusal cases below sign descriptors while the suite is defined.
await cryptoReady();

interface Directory {
  app: FastifyInstance;
  registry: Registry;
  clock: TestClock;
  publisher: TopologyPublisher;
  key: SigningKeyPair;
  logs: Record<string, unknown>[];
}

/** The document of a topology a client accepts under `pinned` at `nowMs`; fails the test on a rejection. */
function accepted(signed: SignedTopology, pinned: string, nowMs: number): TopologyDocument {
  const verdict = verifyTopology(signed, { pinnedDirectoryKey: pinned, nowMs });
  if (!verdict.ok) assert.fail(`the topology was refused (${verdict.reason}): ${verdict.problem}`);
  return verdict.document;
}

const rejectedNode = { kind: 'node', outcome: 'rejected', reason: 'not_enrolled' };

function startDirectory(
  key: SigningKeyPair = generateSigningKeyPair(),
  clock = new TestClock(),
  enrollment?: Enrollment,
): Directory {
  const registry = createServiceRegistry({ node: 'directory' });
  const publisher = new TopologyPublisher(key.secretKey);
  const logs: Record<string, unknown>[] = [];
  const app = buildServer({
    nodes: testRegistry(clock, enrollment),
    directoryKey: key,
    registry,
    metrics: directoryMetrics(registry, 3),
    publisher,
    livenessCheckMs: 20,
    logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line)) } },
  });
  return { app, registry, clock, publisher, key, logs };
}

describe('directory server', () => {
  let d: Directory;
  beforeEach(() => {
    d = startDirectory();
  });

  const register = (payload: unknown) =>
    d.app.inject({
      method: 'POST',
      url: '/v1/nodes',
      headers: { 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
  const registerGateway = (payload: unknown) =>
    d.app.inject({
      method: 'POST',
      url: '/v1/gateways',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
  const signedTopology = async (): Promise<SignedTopology> => {
    const response = await d.app.inject({ method: 'GET', url: '/v1/topology' });
    assert.equal(response.statusCode, 200);
    return response.json();
  };
  /** The topology as a client takes it: verified against the pinned directory key at the test clock. */
  const topology = async (): Promise<TopologyDocument> =>
    accepted(await signedTopology(), toHex(d.key.publicKey), d.clock.nowMs);
  const layerIds = async () => (await topology()).layers.map((nodes) => nodes.map((node) => node.id));
  const counted = (outcome: 'accepted' | 'rejected', reason: string, kind: 'node' | 'gateway' = 'node') =>
    seriesValue(d.registry, 'mixlab_directory_registrations_total', { kind, outcome, reason });
  const nodeGauge = async (state: 'alive' | 'dead') =>
    Promise.all(['1', '2', '3'].map((layer) => seriesValue(d.registry, 'mixlab_directory_nodes', { layer, state })));
  /** Every registration counter, as `reason: count`, leaving out zeros. */
  const counters = async (kind: 'node' | 'gateway' = 'node') => {
    const result: Record<string, number> = {};
    for (const reason of ['ok', ...DIRECTORY_REJECTION_REASONS]) {
      const value = await counted(reason === 'ok' ? 'accepted' : 'rejected', reason, kind);
      if (value > 0) result[reason] = value;
    }
    return result;
  };

  describe('registration', () => {
    it('accepts a signed descriptor (201) and lists it in the signed topology, which verifies under the directory key', async () => {
      const node = new TestNode('mix-1', 1);
      const response = await register(node.descriptor(d.clock.nowMs));
      assert.equal(response.statusCode, 201);
      assert.deepEqual(response.json(), { id: 'mix-1', replaced: false, epoch: EPOCH });
      const signed = await signedTopology();
      assert.equal(signed.directoryKey, toHex(d.key.publicKey));
      const document = accepted(signed, toHex(d.key.publicKey), d.clock.nowMs);
      assert.deepEqual(document, {
        version: 1,
        epoch: EPOCH,
        validFrom: EPOCH_START,
        validUntil: EPOCH_START + EPOCH_LENGTH_MS,
        layers: [
          [
            {
              id: 'mix-1',
              layer: 1,
              url: 'http://mix-1:8080',
              identityKey: node.identityKey,
              publicKey: node.mixingKey(EPOCH),
              nextPublicKey: node.mixingKey(EPOCH + 1),
            },
          ],
          [],
          [],
        ],
        gateways: [],
      });
      assert.deepEqual(await counters(), { ok: 1 });
      assert.deepEqual(await nodeGauge('alive'), [1, 0, 0]);
    });

    it('refuses the topology under another pinned key', async () => {
      await register(new TestNode('mix-1', 1).descriptor(d.clock.nowMs));
      const signed = await signedTopology();
      const verdict = verifyTopology(signed, {
        pinnedDirectoryKey: toHex(generateSigningKeyPair().publicKey),
        nowMs: d.clock.nowMs,
      });
      assert.equal(verdict.ok ? 'accepted' : verdict.reason, 'wrong-key');
    });

    it('lists the strategy a node signed into its descriptor (JSON bodies keep it through the schema)', async () => {
      const node = new TestNode('mix-1', 1);
      const strategy = 'pool:t=1000ms,min=5,fraction=0.6';
      assert.equal((await register(node.descriptor(d.clock.nowMs, { strategy }))).statusCode, 201);
      assert.equal((await topology()).layers[0]?.[0]?.strategy, strategy);
      const long = await register({ ...node.descriptor(d.clock.advance(1)), strategy: 'x'.repeat(201) });
      assert.equal(long.statusCode, 400);
    });

    it('replaces a node that re-registers with a newer issuedAt (200): one entry, new url and keys', async () => {
      const node = new TestNode('mix-1', 1);
      assert.equal((await register(node.descriptor(d.clock.nowMs))).statusCode, 201);
      d.clock.advance(3_000);
      const response = await register(
        node.descriptor(d.clock.nowMs, { url: 'http://10.0.0.7:9000', epochs: [EPOCH, EPOCH + 1] }),
      );
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { id: 'mix-1', replaced: true, epoch: EPOCH });
      const layer = (await topology()).layers[0];
      assert.equal(layer?.length, 1);
      assert.equal(layer?.[0]?.url, 'http://10.0.0.7:9000');
      assert.deepEqual(await counters(), { ok: 2 });
    });

    it('moves a node that re-registers in another layer', async () => {
      const node = new TestNode('mix-1', 1);
      await register(node.descriptor(d.clock.nowMs));
      assert.equal((await register(node.descriptor(d.clock.advance(1), { layer: 3 }))).statusCode, 200);
      assert.deepEqual(await layerIds(), [[], [], ['mix-1']]);
      assert.deepEqual(await nodeGauge('alive'), [0, 0, 1]);
    });

    it('groups the topology by layer, each layer sorted by id', async () => {
      for (const [id, layer] of [
        ['c', 2],
        ['b', 1],
        ['a', 2],
        ['z', 3],
        ['a2', 1],
        ['Y', 3],
      ] as const) {
        assert.equal((await register(new TestNode(id, layer).descriptor(d.clock.nowMs))).statusCode, 201);
      }
      assert.deepEqual(await layerIds(), [
        ['a2', 'b'],
        ['a', 'c'],
        ['Y', 'z'],
      ]);
    });

    it('accepts a signed gateway descriptor and lists the gateway with its identity key in the signed topology', async () => {
      const gateway = new TestGateway('gw-1');
      const first = await registerGateway(gateway.descriptor(d.clock.nowMs));
      assert.equal(first.statusCode, 201);
      assert.deepEqual(first.json(), { id: 'gw-1', replaced: false });
      const moved = await registerGateway(gateway.descriptor(d.clock.advance(1), { url: 'http://gw-1:9091' }));
      assert.deepEqual(moved.json(), { id: 'gw-1', replaced: true });
      assert.deepEqual((await topology()).gateways, [
        { id: 'gw-1', url: 'http://gw-1:9091', identityKey: gateway.identityKey },
      ]);
      assert.deepEqual(await counters('gateway'), { ok: 2 });
    });
  });

  describe('gateway registrations refused', () => {
    const gateway = new TestGateway('gateway-1');
    const refusals: [string, () => unknown, number, string][] = [
      ['an unsigned descriptor', () => ({ ...gateway.unsigned(d.clock.nowMs), signature: '' }), 400, 'unsigned'],
      ['the old unsigned { id, url }', () => ({ id: 'gateway-1', url: 'http://evil:8081' }), 400, 'unsigned'],
      [
        'a url changed after signing',
        () => ({ ...gateway.descriptor(d.clock.nowMs), url: 'http://evil:8081' }),
        400,
        'forged',
      ],
      ['a stale descriptor', () => gateway.descriptor(d.clock.nowMs - MAX_SKEW_MS - 1), 400, 'stale'],
      [
        'an unenrolled gateway',
        () => new TestGateway('gateway-2', { enrolled: false }).descriptor(d.clock.nowMs),
        403,
        'not_enrolled',
      ],
    ];
    for (const [name, body, status, reason] of refusals) {
      it(`refuses ${name}: ${status} ${reason}, counted, logged with the id`, async () => {
        const response = await registerGateway(body());
        assert.equal(response.statusCode, status, response.body);
        assert.equal(response.json().reason, reason);
        assert.deepEqual(await counters('gateway'), { [reason]: 1 });
        assert.deepEqual(await counters('node'), {});
        const log = d.logs.find((line) => line.msg === 'registration rejected');
        assert.equal(log?.kind, 'gateway');
        assert.equal(log?.reason, reason);
        assert.ok(typeof log?.id === 'string' && log.id.startsWith('gateway-'));
        assert.deepEqual((await topology()).gateways, []);
      });
    }

    it('refuses a re-registration of gateway-1 under another key (not enrolled for it): 403, the first one stays', async () => {
      assert.equal((await registerGateway(gateway.descriptor(d.clock.nowMs))).statusCode, 201);
      const impostor = new TestGateway('gateway-1', { enrolled: false });
      const response = await registerGateway(impostor.descriptor(d.clock.advance(1), { url: 'http://evil:8081' }));
      assert.equal(response.statusCode, 403);
      assert.equal(response.json().error, 'not_enrolled');
      assert.deepEqual(await counters('gateway'), { ok: 1, not_enrolled: 1 });
      assert.deepEqual((await topology()).gateways, [
        { id: 'gateway-1', url: 'http://gateway-1:8081', identityKey: gateway.identityKey },
      ]);
    });
  });

  describe('enrollment (a real ENROLLMENT_DIR)', () => {
    let folder: string;
    let e: Directory;
    let slept: number[] = [];
    before(async () => {
      folder = await mkdtemp(join(tmpdir(), 'mixlab-enrollment-'));
    });
    after(() => rm(folder, { recursive: true, force: true }));
    beforeEach(async () => {
      await rm(folder, { recursive: true, force: true });
      await mkdir(folder);
      slept = [];
      const enrollment = new EnrollmentDirectory({
        read: () => readEnrollmentFolder(folder),
        now: () => e.clock.nowMs,
        minRereadMs: 500,
        sleep: async (ms) => {
          slept.push(ms);
          e.clock.advance(ms);
        },
      });
      e = startDirectory(undefined, new TestClock(), enrollment);
      await enrollment.reload();
    });
    const post = (url: string, payload: unknown) => e.app.inject({ method: 'POST', url, payload: payload as object });
    const enroll = (id: string, key: string) => writeFile(join(folder, `${id}.pub`), `${key}\n`);

    it('refuses an unenrolled node with 403 not_enrolled, then admits it once its file appears, without a restart', async () => {
      const node = new TestNode('mix-layer-1-abc', 1, { enrolled: false });
      const refused = await post('/v1/nodes', node.descriptor(e.clock.nowMs));
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().error, 'not_enrolled');
      assert.equal(refused.json().reason, 'not_enrolled');
      assert.match(refused.json().message, /node mix-layer-1-abc is not enrolled: .*mix-layer-1-abc\.pub/);
      assert.equal(await seriesValue(e.registry, 'mixlab_directory_registrations_total', rejectedNode), 1);
      const log = e.logs.find((line) => line.msg === 'registration rejected');
      assert.equal(log?.id, 'mix-layer-1-abc');

      await enroll(node.id, node.identityKey);
      // Read at most every 500 ms: the refused registration waited 500 ms for a reading after the
      // first; the node retrying 100 ms later waits 400 ms for the next one, and is admitted.
      const admitted = await post('/v1/nodes', node.descriptor(e.clock.advance(100)));
      assert.equal(admitted.statusCode, 201, admitted.body);
      assert.deepEqual(slept, [500, 400]);
      assert.deepEqual(
        (await e.app.inject({ method: 'GET', url: '/v1/topology' }))
          .json()
          .document.layers[0].map((listed: { id: string }) => listed.id),
        ['mix-layer-1-abc'],
      );
    });

    it('admits an enrolled gateway, refuses it under a key enrolled for another id, and reads uppercase keys', async () => {
      const gateway = new TestGateway('gateway-1', { enrolled: false });
      const node = new TestNode('mix-1', 1, { enrolled: false });
      await enroll('gateway-1', gateway.identityKey.toUpperCase());
      await enroll('mix-1', node.identityKey);
      await writeFile(join(folder, 'broken.pub'), 'not a key');
      assert.equal((await post('/v1/gateways', gateway.descriptor(e.clock.nowMs))).statusCode, 201);
      assert.equal((await post('/v1/nodes', node.descriptor(e.clock.nowMs))).statusCode, 201);
      // The gateway's key under the node's id: enrolled keys bind one id each.
      const swapped = signDescriptor(
        { ...new TestNode('mix-2', 2).unsigned(e.clock.nowMs), id: 'mix-1', identityKey: gateway.identityKey },
        gateway.identity.secretKey,
      );
      const refused = await post('/v1/nodes', swapped);
      assert.equal(refused.statusCode, 403);
      assert.match(refused.json().message, /node mix-1 is enrolled with identity key [0-9a-f]{64}, not /);
    });
  });

  describe('refused registrations: the reason, the problem, counted under the reason, nothing stored', () => {
    const node = new TestNode('mix-1', 1);
    const other = new TestNode('mix-1', 1);
    const issuedAt = EPOCH_START + 100_000; // the TestClock's start

    const signedByAnotherKey = () => {
      const unsigned = node.unsigned(issuedAt);
      return {
        ...unsigned,
        signature: toHex(signDetached(descriptorSigningBytes(unsigned), other.identity.secretKey)),
      };
    };
    const withoutSignature = () => {
      const { signature: _omitted, ...rest } = node.descriptor(issuedAt);
      return rest;
    };
    const cases: {
      name: string;
      body: () => unknown;
      status: number;
      reason: string;
      problem: RegExp;
      /** The error code, when not descriptor_rejected. */
      code?: string;
    }[] = [
      {
        name: 'a signature by another key',
        body: signedByAnotherKey,
        status: 400,
        reason: 'forged',
        problem: /does not verify/,
      },
      {
        name: 'a url changed after signing',
        body: () => ({ ...node.descriptor(issuedAt), url: 'http://evil:8080' }),
        status: 400,
        reason: 'forged',
        problem: /altered or signed with another key/,
      },
      {
        name: 'a mixing key changed after signing',
        body: () => {
          const descriptor = node.descriptor(issuedAt);
          return {
            ...descriptor,
            mixingKeys: [{ epoch: EPOCH, publicKey: 'ee'.repeat(32) }, descriptor.mixingKeys[1]],
          };
        },
        status: 400,
        reason: 'forged',
        problem: /does not verify/,
      },
      {
        name: 'an issuedAt changed after signing',
        body: () => ({ ...node.descriptor(issuedAt), issuedAt: issuedAt + 1 }),
        status: 400,
        reason: 'forged',
        problem: /does not verify/,
      },
      { name: 'no signature', body: withoutSignature, status: 400, reason: 'unsigned', problem: /no signature/ },
      {
        name: 'an empty signature',
        body: () => ({ ...node.descriptor(issuedAt), signature: '' }),
        status: 400,
        reason: 'unsigned',
        problem: /no signature/,
      },
      {
        name: 'a null signature',
        body: () => ({ ...node.descriptor(issuedAt), signature: null }),
        status: 400,
        reason: 'unsigned',
        problem: /no signature/,
      },
      {
        name: 'an old unsigned descriptor { id, layer, url, publicKey }',
        body: () => ({ id: 'mix-1', layer: 1, url: 'http://mix-1:8080', publicKey: 'a'.repeat(64) }),
        status: 400,
        reason: 'unsigned',
        problem: /no signature/,
      },
      {
        name: `an issuedAt ${MAX_SKEW_MS + 1} ms old`,
        body: () => node.descriptor(issuedAt - MAX_SKEW_MS - 1),
        status: 400,
        reason: 'stale',
        problem: /issued 30001 ms ago/,
      },
      {
        name: `an issuedAt ${MAX_SKEW_MS + 1} ms ahead`,
        body: () => node.descriptor(issuedAt + MAX_SKEW_MS + 1),
        status: 400,
        reason: 'stale',
        problem: /in the future/,
      },
      {
        name: 'no mixing key for the current epoch',
        body: () => node.descriptor(issuedAt, { epochs: [EPOCH - 1] }),
        status: 400,
        reason: 'stale',
        problem: /none for the current epoch/,
      },
      {
        name: 'layer 4 in a network of 3 layers',
        body: () => node.descriptor(issuedAt, { layer: 4 }),
        status: 400,
        reason: 'malformed',
        problem: /layer must be an integer from 1 to 3, got 4/,
      },
      {
        name: 'a non-http url',
        body: () => node.descriptor(issuedAt, { url: 'ftp://mix-1:21' }),
        status: 400,
        reason: 'malformed',
        problem: /url must be http or https/,
      },
      {
        name: 'a layer given as a string',
        body: () => ({ ...node.descriptor(issuedAt), layer: '1' }),
        status: 400,
        reason: 'malformed',
        problem: /body\/layer must be integer/,
      },
      {
        name: 'an extra field',
        body: () => ({ ...node.descriptor(issuedAt), role: 'exit' }),
        status: 400,
        reason: 'malformed',
        problem: /must NOT have additional properties/,
      },
      {
        name: 'a missing field',
        body: () => {
          const { issuedAt: _omitted, ...rest } = node.descriptor(issuedAt);
          return rest;
        },
        status: 400,
        reason: 'malformed',
        problem: /must have required property 'issuedAt'/,
      },
      {
        name: 'an uppercase identity key',
        body: () => ({ ...node.descriptor(issuedAt), identityKey: node.identityKey.toUpperCase() }),
        status: 400,
        reason: 'malformed',
        problem: /body\/identityKey must match pattern/,
      },
      {
        name: 'three mixing keys',
        body: () => {
          const descriptor = node.descriptor(issuedAt, { epochs: [EPOCH, EPOCH + 1] });
          return {
            ...descriptor,
            mixingKeys: [...descriptor.mixingKeys, { epoch: EPOCH + 2, publicKey: 'c'.repeat(64) }],
          };
        },
        status: 400,
        reason: 'malformed',
        problem: /must NOT have more than 2 items/,
      },
      {
        name: 'mixing keys out of order',
        body: () => {
          const descriptor = node.descriptor(issuedAt);
          return { ...descriptor, mixingKeys: [...descriptor.mixingKeys].reverse() };
        },
        status: 400,
        reason: 'malformed',
        problem: /strictly ascending/,
      },
      {
        name: 'a body that is not an object',
        body: () => [1, 2],
        status: 400,
        reason: 'malformed',
        problem: /body must be object/,
      },
      {
        name: 'a body that is not JSON',
        body: () => '{"id": "mix-1",',
        status: 400,
        reason: 'malformed',
        problem: /JSON/,
        code: 'invalid_request',
      },
      {
        name: 'a body over 4096 bytes',
        body: () => ({ ...node.descriptor(issuedAt), url: `http://mix-1/${'x'.repeat(4096)}` }),
        status: 413,
        reason: 'malformed',
        problem: /too large/i,
        code: 'body_too_large',
      },
    ];

    for (const { name, body, status, reason, problem, code = 'descriptor_rejected' } of cases) {
      it(`refuses ${name}: ${status} ${reason}`, async () => {
        const response = await register(body());
        assert.equal(response.statusCode, status);
        const answer = response.json();
        assert.equal(answer.reason, reason);
        assert.equal(answer.error, code);
        assert.match(answer.message, new RegExp(`^${reason} descriptor: `));
        assert.ok(Array.isArray(answer.problems) && answer.problems.length > 0);
        assert.ok(
          answer.problems.some((text: string) => problem.test(text)),
          `${JSON.stringify(answer.problems)} matches ${problem}`,
        );
        assert.deepEqual(await counters(), { [reason]: 1 });
        assert.deepEqual(await layerIds(), [[], [], []]);
        const logged = d.logs.filter((line) => line.msg === 'registration rejected');
        assert.equal(logged.length, 1, 'logged once');
        assert.equal(logged[0]?.reason, reason);
      });
    }

    it('accepts an issuedAt exactly the allowed skew away', async () => {
      assert.equal((await register(node.descriptor(issuedAt - MAX_SKEW_MS))).statusCode, 201);
      assert.equal((await register(new TestNode('mix-2', 1).descriptor(issuedAt + MAX_SKEW_MS))).statusCode, 201);
    });

    it('refuses a replayed descriptor (the same, or an older one) with 409 and keeps the registered one', async () => {
      const first = node.descriptor(issuedAt);
      assert.equal((await register(first)).statusCode, 201);
      const again = await register(first);
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().reason, 'replayed');
      const older = await register(node.descriptor(issuedAt - 1, { url: 'http://old:8080' }));
      assert.equal(older.statusCode, 409);
      assert.equal(older.json().reason, 'replayed');
      assert.deepEqual(await counters(), { ok: 1, replayed: 2 });
      assert.equal((await topology()).layers[0]?.[0]?.url, 'http://mix-1:8080');
    });

    it('refuses a conflicting descriptor (same id, another identity key) with 409, even when issued later', async () => {
      assert.equal((await register(node.descriptor(issuedAt))).statusCode, 201);
      d.clock.advance(1_000);
      const response = await register(other.descriptor(d.clock.nowMs, { url: 'http://impostor:8080' }));
      assert.equal(response.statusCode, 409);
      assert.equal(response.json().error, 'descriptor_conflict');
      assert.equal(response.json().reason, 'conflicting');
      assert.match(response.json().problems[0], /registered with identity key/);
      assert.deepEqual(await counters(), { ok: 1, conflicting: 1 });
      const entry = (await topology()).layers[0]?.[0];
      assert.equal(entry?.identityKey, node.identityKey);
      assert.equal(entry?.url, 'http://mix-1:8080');
    });
  });

  describe('liveness', () => {
    it('drops a node silent for longer than the timeout from the next topology and counts it dead; a heartbeat brings it back', async () => {
      const quiet = new TestNode('quiet', 1);
      const chatty = new TestNode('chatty', 2);
      await register(quiet.descriptor(d.clock.nowMs));
      await register(chatty.descriptor(d.clock.nowMs));
      for (let i = 0; i < 3; i++) {
        d.clock.advance(LIVENESS_TIMEOUT_MS / 3);
        assert.equal((await register(chatty.descriptor(d.clock.nowMs))).statusCode, 200);
      }
      assert.deepEqual(await layerIds(), [['quiet'], ['chatty'], []]);
      d.clock.advance(1);
      assert.deepEqual(await layerIds(), [[], ['chatty'], []]);
      assert.deepEqual(await nodeGauge('alive'), [0, 1, 0]);
      assert.deepEqual(await nodeGauge('dead'), [1, 0, 0]);
      assert.equal(d.logs.filter((line) => line.id === 'quiet' && /liveness timeout/.test(String(line.msg))).length, 1);
      assert.equal((await register(quiet.descriptor(d.clock.nowMs))).statusCode, 200);
      assert.deepEqual(await layerIds(), [['quiet'], ['chatty'], []]);
      assert.deepEqual(await nodeGauge('dead'), [0, 0, 0]);
    });

    it('re-evaluates the gauge on a timer, without topology requests', async () => {
      await register(new TestNode('a', 3).descriptor(d.clock.nowMs));
      assert.deepEqual(await nodeGauge('alive'), [0, 0, 1]);
      d.clock.advance(LIVENESS_TIMEOUT_MS + 1);
      // The check runs every 20 ms on real timers; a loaded machine may run it late, never not at all.
      for (let waited = 0; (await nodeGauge('alive'))[2] !== 0 && waited < 5_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.deepEqual(await nodeGauge('alive'), [0, 0, 0]);
      assert.deepEqual(await nodeGauge('dead'), [0, 0, 1]);
    });
  });

  describe('epochs', () => {
    it('follows the clock across an epoch boundary: new epoch, new window, nodes without a key for it drop out', async () => {
      const rotating = new TestNode('rotating', 1);
      const stuck = new TestNode('stuck', 1);
      d.clock.nowMs = EPOCH_START + EPOCH_LENGTH_MS - 2_000;
      await register(rotating.descriptor(d.clock.nowMs));
      await register(stuck.descriptor(d.clock.nowMs, { epochs: [EPOCH] }));
      const before = await signedTopology();
      assert.equal(before.document.epoch, EPOCH);
      assert.deepEqual(
        before.document.layers[0]?.map((node) => node.id),
        ['rotating', 'stuck'],
      );
      assert.equal(await seriesValue(d.registry, 'mixlab_directory_epoch'), EPOCH);

      d.clock.advance(2_000);
      const document = await topology();
      assert.equal(document.epoch, EPOCH + 1);
      assert.equal(document.validFrom, EPOCH_START + EPOCH_LENGTH_MS);
      assert.equal(document.validUntil, EPOCH_START + 2 * EPOCH_LENGTH_MS);
      assert.deepEqual(document.layers[0], [
        {
          id: 'rotating',
          layer: 1,
          url: 'http://rotating:8080',
          identityKey: rotating.identityKey,
          publicKey: rotating.mixingKey(EPOCH + 1),
        },
      ]);
      assert.equal(await seriesValue(d.registry, 'mixlab_directory_epoch'), EPOCH + 1);
      // The previous epoch's topology is expired for a client now.
      const verdict = verifyTopology(before, { pinnedDirectoryKey: toHex(d.key.publicKey), nowMs: d.clock.nowMs });
      assert.equal(verdict.ok ? 'accepted' : verdict.reason, 'expired');
      // A heartbeat with only the old epoch's key is stale now; one with the new keys is accepted.
      const stale = await register(stuck.descriptor(d.clock.nowMs, { epochs: [EPOCH] }));
      assert.equal(stale.json().reason, 'stale');
      assert.equal(
        (await register(stuck.descriptor(d.clock.nowMs, { epochs: [EPOCH + 1, EPOCH + 2] }))).statusCode,
        200,
      );
      assert.deepEqual(await layerIds(), [['rotating', 'stuck'], [], []]);
    });

    it('signs again only when the epoch or the membership changed', async () => {
      const node = new TestNode('mix-1', 1);
      const second = new TestNode('mix-2', 2);
      await register(node.descriptor(d.clock.nowMs));
      const first = await signedTopology();
      assert.deepEqual(await signedTopology(), first);
      d.clock.advance(1_000);
      await register(node.descriptor(d.clock.nowMs)); // a heartbeat: nothing in the topology changes
      assert.deepEqual(await signedTopology(), first);
      assert.equal(d.publisher.signatures, 1);
      await register(second.descriptor(d.clock.nowMs));
      assert.notEqual((await signedTopology()).signature, first.signature);
      assert.equal(d.publisher.signatures, 2);
      d.clock.nowMs = EPOCH_START + EPOCH_LENGTH_MS;
      await register(node.descriptor(d.clock.nowMs, { epochs: [EPOCH + 1] }));
      assert.equal((await register(second.descriptor(d.clock.nowMs, { epochs: [EPOCH + 1] }))).statusCode, 200);
      assert.equal((await signedTopology()).document.epoch, EPOCH + 1);
      assert.equal(d.publisher.signatures, 3);
    });
  });

  describe('the directory key', () => {
    let dataDir: string;
    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'mixlab-directory-'));
    });
    after(() => rm(dataDir, { recursive: true, force: true }));

    it('persists across two server instances on the same DATA_DIR', async () => {
      const first = await loadOrCreateDirectoryKey(dataDir);
      const one = startDirectory(first.keyPair);
      const pinned = first.publicKeyHex;
      const topologyOf = async (directory: Directory) =>
        (await directory.app.inject({ method: 'GET', url: '/v1/topology' })).json();
      const fromOne = await topologyOf(one);
      await one.app.close();

      const second = await loadOrCreateDirectoryKey(dataDir);
      assert.equal(second.created, false);
      const two = startDirectory(second.keyPair);
      const fromTwo = await topologyOf(two);
      await two.app.close();
      for (const signed of [fromOne, fromTwo]) {
        assert.equal(signed.directoryKey, pinned);
        accepted(signed, pinned, one.clock.nowMs);
      }
    });
  });

  describe('metrics and health', () => {
    it('starts every registration series and every node series at zero', async () => {
      for (const kind of ['node', 'gateway'] as const) {
        assert.equal(await counted('accepted', 'ok', kind), 0);
        for (const reason of DIRECTORY_REJECTION_REASONS) assert.equal(await counted('rejected', reason, kind), 0);
      }
      assert.deepEqual(await nodeGauge('alive'), [0, 0, 0]);
      assert.deepEqual(await nodeGauge('dead'), [0, 0, 0]);
    });

    it('serves /health', async () => {
      const response = await d.app.inject({ method: 'GET', url: '/health' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { status: 'ok' });
    });

    it('serves /metrics in the Prometheus text format with the service labels', async () => {
      await register(new TestNode('mix-1', 1).descriptor(d.clock.nowMs));
      await register({ ...new TestNode('mix-2', 1).descriptor(d.clock.nowMs), signature: '' });
      const response = await d.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], d.registry.contentType);
      const lines = response.body.split('\n');
      assert.ok(lines.includes('# TYPE mixlab_directory_registrations_total counter'));
      assert.ok(
        lines.includes(
          'mixlab_directory_registrations_total{kind="node",outcome="accepted",reason="ok",node="directory"} 1',
        ),
      );
      assert.ok(
        lines.includes(
          'mixlab_directory_registrations_total{kind="node",outcome="rejected",reason="unsigned",node="directory"} 1',
        ),
      );
      assert.ok(
        lines.includes(
          'mixlab_directory_registrations_total{kind="node",outcome="rejected",reason="forged",node="directory"} 0',
        ),
      );
      assert.ok(lines.includes('mixlab_directory_nodes{layer="1",state="alive",node="directory"} 1'));
      assert.ok(lines.includes('mixlab_directory_nodes{layer="2",state="dead",node="directory"} 0'));
      assert.ok(lines.includes(`mixlab_directory_epoch{node="directory"} ${EPOCH}`));
      assert.ok(lines.some((line) => line.startsWith('mixlab_process_')));
    });
  });
});
