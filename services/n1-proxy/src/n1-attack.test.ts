import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { N1Attack } from './n1-attack.ts';

function setUp(threshold = 3) {
  const log: string[] = [];
  const attack = new N1Attack({
    threshold,
    pass: async (path, body) => {
      log.push(`pass ${path} ${new TextDecoder().decode(body)}`);
    },
    inject: async (count) => {
      log.push(`inject ${count}`);
    },
  });
  const body = (text: string) => new TextEncoder().encode(text);
  return { attack, log, body };
}

describe('N1Attack', () => {
  it('passes everything while idle, counting what is pooled at the node', async () => {
    const { attack, log, body } = setUp();
    await attack.request('/v1/packets', body('a'), 1);
    await attack.request('/v1/deliveries', body('loop'), 1);
    assert.deepEqual(log, ['pass /v1/packets a', 'pass /v1/deliveries loop']);
    assert.equal(attack.status.pooled, 1, 'deliveries are not pooled');
  });

  it('flushes, holds the honest, lets the target in with n − 1 of its own, and releases on stop', async () => {
    const { attack, log, body } = setUp();
    await attack.request('/v1/packets', body('honest-1'), 1);
    await attack.start();
    assert.deepEqual(log.splice(0), ['pass /v1/packets honest-1', 'inject 2'], 'two own packets flush the one pooled');
    await attack.request('/v1/packets', body('honest-2'), 1);
    await attack.request('/v1/deliveries', body('loop'), 1);
    assert.deepEqual(log, [], 'held');
    attack.target();
    await attack.request('/v1/packets', body('target'), 1);
    assert.deepEqual(log.splice(0), ['pass /v1/packets target', 'inject 2'], 'the batch: target and two own');
    await attack.request('/v1/packets', body('honest-3'), 1);
    assert.deepEqual(log, [], 'armed for one request only');
    assert.deepEqual(attack.status, { phase: 'holding', passed: 6, pooled: 0, held: 3, injected: 4, targets: 1 });
    await attack.stop();
    assert.deepEqual(log, ['pass /v1/packets honest-2', 'pass /v1/deliveries loop', 'pass /v1/packets honest-3']);
    assert.equal(attack.status.pooled, 2);
  });

  it('injects nothing when the pool is already empty, and refuses a target before the start', async () => {
    const { attack, log } = setUp();
    assert.throws(() => attack.target(), /start the attack first/);
    await attack.start();
    assert.deepEqual(log, []);
  });
});
