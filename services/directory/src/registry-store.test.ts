import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { cryptoReady } from '@mixlab/crypto';
import { NodeRegistry } from './node-registry.ts';
import { SqliteRegistryStore } from './registry-store.ts';
import {
  EPOCH_LENGTH_MS,
  LIVENESS_TIMEOUT_MS,
  MAX_SKEW_MS,
  SCHEDULE,
  TEST_ENROLLMENT,
  TestClock,
  TestGateway,
  TestNode,
} from './test-support.ts';

await cryptoReady();
const GATEWAY = new TestGateway('gateway-1');

describe('the directory across a restart (its registry file reopened)', () => {
  let root: string;
  let files = 0;
  before(async () => {
    await cryptoReady();
    root = await mkdtemp(join(tmpdir(), 'mixlab-registry-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A registry file of its own, and a way to (re)start a directory on it. */
  function directory(clock: TestClock) {
    const path = join(root, `registry-${++files}.sqlite`);
    let store: SqliteRegistryStore | undefined;
    return {
      path,
      start(options: { lengthMs?: number; onStoreError?: (error: Error) => void } = {}): NodeRegistry {
        store?.close(); // the previous process is gone
        store = SqliteRegistryStore.open(path).store;
        return new NodeRegistry({
          layerCount: 3,
          schedule: { ...SCHEDULE, lengthMs: options.lengthMs ?? SCHEDULE.lengthMs },
          livenessTimeoutMs: LIVENESS_TIMEOUT_MS,
          maxSkewMs: MAX_SKEW_MS,
          enrollment: TEST_ENROLLMENT,
          now: clock.now,
          store,
          ...(options.onStoreError ? { onStoreError: options.onStoreError } : {}),
        });
      },
    };
  }

  /** Three nodes, one per layer, and the gateway, registered at the clock's time. */
  function register(registry: NodeRegistry, clock: TestClock): TestNode[] {
    const nodes = [1, 2, 3].map((layer) => new TestNode(`mix-${layer}`, layer));
    for (const node of nodes) assert.ok(registry.register(node.descriptor(clock.nowMs)).ok);
    assert.ok(registry.registerGateway(GATEWAY.descriptor(clock.nowMs)).ok);
    return nodes;
  }

  it('serves the same topology at once: every node with its last-seen time, and the gateways', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    const first = dir.start();
    register(first, clock);
    const before = first.document();
    clock.advance(3_000); // the restart
    const again = dir.start();
    assert.deepEqual(again.restored, { nodes: 3, gateways: 1, forgotten: [] });
    assert.deepEqual(again.document(), before);
    assert.deepEqual(again.registered(), first.registered());
    assert.deepEqual(
      again.liveness().map((layer) => layer.alive),
      [1, 1, 1],
    );
  });

  it('keeps liveness: a node silent beyond the timeout is dead after the restart until it registers again', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    const first = dir.start();
    const [node1, node2] = register(first, clock);
    clock.advance(LIVENESS_TIMEOUT_MS - 5_000);
    assert.ok(first.register(node2!.descriptor(clock.nowMs)).ok, 'a heartbeat, saved with its time');
    clock.advance(10_000);
    const again = dir.start();
    assert.deepEqual(
      again.document().layers.map((nodes) => nodes.map((node) => node.id)),
      [[], ['mix-2'], []],
    );
    assert.ok(again.register(node1!.descriptor(clock.nowMs)).ok);
    assert.deepEqual(
      again.liveness().map((layer) => layer.alive),
      [1, 1, 0],
    );
  });

  it('keeps refusing replayed descriptors and another identity under a known id', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    const first = dir.start();
    const [node1] = register(first, clock);
    const seen = node1!.descriptor(clock.advance(1_000));
    assert.ok(first.register(seen).ok);
    const again = dir.start();
    const verdict = (value: unknown) => {
      const result = again.register(value);
      return result.ok ? 'ok' : result.reason;
    };
    assert.equal(verdict(seen), 'replayed');
    assert.equal(verdict(new TestNode('mix-1', 1).descriptor(clock.advance(1))), 'conflicting');
    assert.equal(verdict(node1!.descriptor(clock.nowMs)), 'ok');
  });

  it('forgets a node or gateway silent for more than an epoch, and one whose stored descriptor no longer verifies', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    const first = dir.start();
    register(first, clock);
    const late = new TestNode('mix-2b', 2);
    clock.advance(EPOCH_LENGTH_MS);
    assert.ok(first.register(late.descriptor(clock.nowMs, { epochs: [3_000_001, 3_000_002] })).ok);
    const db = new DatabaseSync(dir.path);
    db.exec(
      "UPDATE nodes SET descriptor = replace(descriptor, 'http://mix-2b:8080', 'http://evil:8080') WHERE id = 'mix-2b'",
    );
    db.close();
    clock.advance(1);
    const again = dir.start();
    assert.deepEqual(
      again.restored.forgotten.map(({ id, reason }) => [id, reason]),
      [
        ['mix-1', 'silent_for_an_epoch'],
        ['mix-2', 'silent_for_an_epoch'],
        ['mix-2b', 'forged'],
        ['mix-3', 'silent_for_an_epoch'],
        ['gateway-1', 'silent_for_an_epoch'],
      ],
    );
    assert.deepEqual(again.registered(), []);
    assert.equal(again.restored.gateways, 0);
    assert.deepEqual(dir.start().restored, { nodes: 0, gateways: 0, forgotten: [] }, 'forgotten on disk too');
  });

  it('forgets every node when the epoch length changed: their key epochs named other times', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    register(dir.start(), clock);
    const again = dir.start({ lengthMs: EPOCH_LENGTH_MS / 2 });
    assert.deepEqual(
      again.restored.forgotten.map(({ reason }) => reason),
      ['schedule_changed', 'schedule_changed', 'schedule_changed'],
    );
    assert.equal(again.registered().length, 0);
  });

  it('migrates a registry file of version 1: nodes kept, its unsigned gateways forgotten', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    const node = new TestNode('mix-1', 1);
    const db = new DatabaseSync(dir.path);
    db.exec(`
      CREATE TABLE mixlab_schema (application TEXT NOT NULL, version INTEGER NOT NULL);
      INSERT INTO mixlab_schema VALUES ('mixlab-directory-registry', 1);
      CREATE TABLE nodes (id TEXT PRIMARY KEY, descriptor TEXT NOT NULL, last_seen_ms INTEGER NOT NULL);
      CREATE TABLE gateways (id TEXT PRIMARY KEY, url TEXT NOT NULL);
      CREATE TABLE epoch_schedule (genesis_ms INTEGER NOT NULL, length_ms INTEGER NOT NULL);
      INSERT INTO gateways VALUES ('gateway-1', 'http://evil:8080');`);
    db.prepare('INSERT INTO nodes VALUES (?, ?, ?)').run(
      'mix-1',
      JSON.stringify(node.descriptor(clock.nowMs)),
      clock.nowMs,
    );
    db.close();
    const registry = dir.start();
    assert.deepEqual(registry.restored, { nodes: 1, gateways: 0, forgotten: [] });
    assert.ok(registry.registerGateway(GATEWAY.descriptor(clock.nowMs)).ok);
    assert.equal(dir.start().restored.gateways, 1);
  });

  it('accepts a registration it cannot save, and reports the failure', () => {
    const clock = new TestClock();
    const dir = directory(clock);
    const errors: Error[] = [];
    const registry = dir.start({ onStoreError: (error) => errors.push(error) });
    const db = new DatabaseSync(dir.path);
    db.exec("CREATE TRIGGER fail BEFORE INSERT ON nodes BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END");
    db.close();
    assert.ok(registry.register(new TestNode('mix-1', 1).descriptor(clock.nowMs)).ok);
    assert.equal(registry.registered().length, 1);
    assert.match(String(errors[0]), /disk I\/O error/);
  });
});
