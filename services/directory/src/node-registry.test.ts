import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cryptoReady } from '@mixlab/crypto';
import { signDescriptor } from '@mixlab/topology';
import type { NodeRegistry } from './node-registry.ts';
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

function setup() {
  const clock = new TestClock();
  return { clock, registry: testRegistry(clock) };
}

const ids = (registry: NodeRegistry) => registry.document().layers.map((nodes) => nodes.map((node) => node.id));

describe('NodeRegistry', () => {
  before(cryptoReady);

  it('accepts a verified descriptor and reports the epoch, then a newer one as a replacement', () => {
    const { clock, registry } = setup();
    const node = new TestNode('mix-1', 1);
    const first = registry.register(node.descriptor(clock.nowMs));
    assert.ok(first.ok);
    assert.deepEqual([first.replaced, first.changed, first.epoch], [false, true, EPOCH]);
    clock.advance(5_000);
    const heartbeat = registry.register(node.descriptor(clock.nowMs));
    assert.ok(heartbeat.ok);
    assert.deepEqual([heartbeat.replaced, heartbeat.changed], [true, false]);
    assert.equal(registry.node('mix-1')?.lastSeenMs, clock.nowMs);
    const moved = registry.register(node.descriptor(clock.advance(1), { url: 'http://10.0.0.9:8080' }));
    assert.ok(moved.ok);
    assert.equal(moved.changed, true);
  });

  it('passes on the verifier reasons, and decides replayed and conflicting itself', () => {
    const { clock, registry } = setup();
    const node = new TestNode('mix-1', 1);
    const descriptor = node.descriptor(clock.nowMs);
    assert.ok(registry.register(descriptor).ok);
    const verdict = (value: unknown) => {
      const result = registry.register(value);
      return result.ok ? 'ok' : result.reason;
    };
    assert.equal(verdict(descriptor), 'replayed');
    assert.equal(verdict(node.descriptor(clock.nowMs - 1)), 'replayed');
    assert.equal(verdict(new TestNode('mix-1', 1).descriptor(clock.nowMs + 1)), 'conflicting');
    assert.equal(verdict({ ...node.descriptor(clock.nowMs + 2), signature: undefined }), 'unsigned');
    assert.equal(verdict({ ...node.descriptor(clock.nowMs + 2), url: 'http://elsewhere:8080' }), 'forged');
    assert.equal(verdict(node.descriptor(clock.nowMs - MAX_SKEW_MS - 1)), 'stale');
    assert.equal(verdict(node.descriptor(clock.nowMs + 2, { epochs: [EPOCH + 1] })), 'stale');
    assert.equal(verdict(node.descriptor(clock.nowMs + 2, { layer: 4 })), 'malformed');
    assert.equal(registry.node('mix-1')?.descriptor.signature, descriptor.signature);
  });

  it('keeps a node in the topology while it was heard from within the timeout, inclusive', () => {
    const { clock, registry } = setup();
    assert.ok(registry.register(new TestNode('a', 1).descriptor(clock.nowMs)).ok);
    assert.ok(registry.register(new TestNode('b', 2).descriptor(clock.nowMs)).ok);
    clock.advance(LIVENESS_TIMEOUT_MS);
    assert.deepEqual(ids(registry), [['a'], ['b'], []]);
    assert.deepEqual(registry.liveness(), [
      { alive: 1, dead: 0 },
      { alive: 1, dead: 0 },
      { alive: 0, dead: 0 },
    ]);
    clock.advance(1);
    assert.deepEqual(ids(registry), [[], [], []]);
    assert.deepEqual(registry.liveness(), [
      { alive: 0, dead: 1 },
      { alive: 0, dead: 1 },
      { alive: 0, dead: 0 },
    ]);
  });

  it('builds the document of the current epoch: window, keys, nodes sorted by id in code-unit order', () => {
    const { clock, registry } = setup();
    const nodes = [new TestNode('b', 1), new TestNode('Z', 1), new TestNode('a', 1), new TestNode('c', 3)];
    for (const node of nodes) assert.ok(registry.register(node.descriptor(clock.nowMs)).ok);
    const gateways = [new TestGateway('gw-2'), new TestGateway('gw-1')];
    for (const gateway of gateways) assert.ok(registry.registerGateway(gateway.descriptor(clock.nowMs)).ok);
    const document = registry.document();
    assert.equal(document.version, 1);
    assert.equal(document.epoch, EPOCH);
    assert.equal(document.validFrom, EPOCH_START);
    assert.equal(document.validUntil, EPOCH_START + EPOCH_LENGTH_MS);
    assert.deepEqual(ids(registry), [['Z', 'a', 'b'], [], ['c']]);
    const c = nodes[3]!;
    assert.deepEqual(document.layers[2], [
      {
        id: 'c',
        layer: 3,
        url: 'http://c:8080',
        identityKey: c.identityKey,
        publicKey: c.mixingKey(EPOCH),
        nextPublicKey: c.mixingKey(EPOCH + 1),
      },
    ]);
    assert.deepEqual(document.gateways, [
      { id: 'gw-1', url: 'http://gw-1:8081', identityKey: gateways[1]?.identityKey },
      { id: 'gw-2', url: 'http://gw-2:8081', identityKey: gateways[0]?.identityKey },
    ]);
  });

  it('moves to the next epoch with the clock and leaves out nodes without a key for it', () => {
    const { clock, registry } = setup();
    const rotating = new TestNode('rotating', 1);
    const stuck = new TestNode('stuck', 1);
    clock.nowMs = EPOCH_START + EPOCH_LENGTH_MS - 5_000;
    assert.ok(registry.register(rotating.descriptor(clock.nowMs)).ok);
    assert.ok(registry.register(stuck.descriptor(clock.nowMs, { epochs: [EPOCH] })).ok);
    assert.deepEqual(ids(registry), [['rotating', 'stuck'], [], []]);
    clock.advance(5_000);
    const document = registry.document();
    assert.equal(document.epoch, EPOCH + 1);
    assert.equal(document.validFrom, EPOCH_START + EPOCH_LENGTH_MS);
    assert.deepEqual(ids(registry), [['rotating'], [], []]);
    assert.equal(document.layers[0]?.[0]?.publicKey, rotating.mixingKey(EPOCH + 1));
    assert.equal(document.layers[0]?.[0]?.nextPublicKey, undefined);
  });

  it('refuses an invalid gateway and replaces a re-registered one', () => {
    const { clock, registry } = setup();
    const gateway = new TestGateway('gw-1');
    const outcome = (value: unknown) => {
      const result = registry.registerGateway(value);
      return result.ok ? { replaced: result.replaced, changed: result.changed } : result;
    };
    assert.deepEqual(outcome(gateway.descriptor(clock.nowMs, { url: 'ftp://gw' })), {
      ok: false,
      reason: 'malformed',
      problem: 'descriptor of gateway gw-1 is malformed: url must be http or https, got ftp:',
    });
    assert.deepEqual(outcome(gateway.descriptor(clock.nowMs)), { replaced: false, changed: true });
    assert.deepEqual(outcome(gateway.descriptor(clock.advance(1), { url: 'http://gw-1:9090' })), {
      replaced: true,
      changed: true,
    });
    assert.deepEqual(outcome(gateway.descriptor(clock.advance(1), { url: 'http://gw-1:9090' })), {
      replaced: true,
      changed: false,
    });
    assert.deepEqual(registry.document().gateways, [
      { id: 'gw-1', url: 'http://gw-1:9090', identityKey: gateway.identityKey },
    ]);
  });

  it('binds a gateway id to its identity key and refuses replays, as for nodes', () => {
    const { clock, registry } = setup();
    const gateway = new TestGateway('gateway-1');
    const first = gateway.descriptor(clock.nowMs);
    assert.ok(registry.registerGateway(first).ok);
    const reason = (value: unknown) => {
      const result = registry.registerGateway(value);
      return result.ok ? 'ok' : result.reason;
    };
    assert.equal(reason(first), 'replayed');
    // Enrolled too (the test enrollment holds both keys): the binding refuses it.
    const impostor = new TestGateway('gateway-1');
    assert.equal(reason(impostor.descriptor(clock.advance(1), { url: 'http://evil:8081' })), 'conflicting');
    assert.equal(reason(new TestGateway('gateway-2', { enrolled: false }).descriptor(clock.nowMs)), 'not_enrolled');
    assert.equal(reason({ ...gateway.descriptor(clock.advance(1)), url: 'http://evil:8081' }), 'forged');
    assert.equal(reason({ ...gateway.unsigned(clock.nowMs), signature: '' }), 'unsigned');
    assert.equal(reason(gateway.descriptor(clock.nowMs - MAX_SKEW_MS - 1)), 'stale');
    assert.deepEqual(registry.document().gateways, [
      { id: 'gateway-1', url: 'http://gateway-1:8081', identityKey: gateway.identityKey },
    ]);
  });

  it('refuses a node whose identity key is not enrolled, and one enrolled under another id', () => {
    const { clock, registry } = setup();
    const outsider = new TestNode('mix-9', 1, { enrolled: false });
    const result = registry.register(outsider.descriptor(clock.nowMs));
    assert.equal(result.ok ? 'ok' : result.reason, 'not_enrolled');
    const enrolledElsewhere = new TestNode('mix-8', 1);
    const renamed = new TestNode('mix-7', 1, { enrolled: false });
    const stolenKey = registry.register(
      signDescriptor(
        { ...renamed.unsigned(clock.nowMs), identityKey: enrolledElsewhere.identityKey },
        enrolledElsewhere.identity.secretKey,
      ),
    );
    assert.equal(stolenKey.ok ? 'ok' : stolenKey.reason, 'not_enrolled', 'a key enrolls one id, not any');
    assert.deepEqual(ids(registry), [[], [], []]);
  });
});
