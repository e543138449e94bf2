import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { N1Attack } from './n1-attack.ts';

function setUp(threshold = 3) {
  const log: string[] = [];
  const attack: N1Attack = new N1Attack({
    threshold,
    pass: async (path, body) => {
      log.push(`pass ${path} ${new TextDecoder().decode(body)}`);
    },
    // As the gateway does: the submission comes back as a request of that many packets, sealed.
    inject: async (count) => {
      log.push(`inject ${count}`);
      await attack.request('/v1/packets', new TextEncoder().encode(`own×${count}`), count);
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
    assert.deepEqual(
      log.splice(0),
      ['pass /v1/packets honest-1', 'inject 2', 'pass /v1/packets own×2'],
      'two own packets flush the one pooled: known by their count, passed while holding',
    );
    await attack.request('/v1/packets', body('honest-2'), 1);
    await attack.request('/v1/deliveries', body('loop'), 1);
    assert.deepEqual(log, [], 'held');
    attack.target();
    await attack.request('/v1/packets', body('target'), 1);
    assert.deepEqual(
      log.splice(0),
      ['pass /v1/packets target', 'inject 2', 'pass /v1/packets own×2'],
      'the batch: target and two own',
    );
    await attack.request('/v1/packets', body('honest-3'), 1);
    assert.deepEqual(log, [], 'armed for one request only');
    assert.deepEqual(attack.status, {
      phase: 'holding',
      passed: 6,
      pooled: 0,
      held: 3,
      injected: 4,
      targets: 1,
      refused: 0,
    });
    await attack.stop();
    assert.deepEqual(log, ['pass /v1/packets honest-2', 'pass /v1/deliveries loop', 'pass /v1/packets honest-3']);
    assert.equal(attack.status.pooled, 2);
  });

  it('holds a request of another size while its own are due, and expects its own no longer once the gateway answered', async () => {
    const log: string[] = [];
    let honestFirst: Promise<void> = Promise.resolve();
    const attack: N1Attack = new N1Attack({
      threshold: 3,
      pass: async (path, body) => {
        log.push(`pass ${path} ${new TextDecoder().decode(body)}`);
      },
      inject: async (count) => {
        honestFirst = attack.request('/v1/packets', new TextEncoder().encode('honest'), 1);
        await attack.request('/v1/packets', new TextEncoder().encode('own'), count);
      },
    });
    await attack.request('/v1/packets', new TextEncoder().encode('first'), 1);
    await attack.start();
    await honestFirst;
    assert.deepEqual(log, ['pass /v1/packets first', 'pass /v1/packets own']);
    assert.equal(attack.status.held, 1, 'the honest one packet was held, not taken for its own two');
    await attack.request('/v1/packets', new TextEncoder().encode('two more'), 2);
    assert.equal(attack.status.held, 2, 'no own request is due any more');
  });

  it("releases every held request on stop, counting those the node refuses (held past a box's 30 s)", async () => {
    const passed: string[] = [];
    const attack = new N1Attack({
      threshold: 3,
      pass: async (_path, body) => {
        const text = new TextDecoder().decode(body);
        if (text === 'stale') throw new Error('answered 401: stale');
        passed.push(text);
      },
      inject: async () => {},
    });
    await attack.start();
    for (const text of ['one', 'stale', 'two']) await attack.request('/v1/packets', new TextEncoder().encode(text), 1);
    await attack.stop();
    assert.deepEqual(passed, ['one', 'two']);
    assert.equal(attack.status.refused, 1);
    assert.equal(attack.status.passed, 2);
  });

  it('injects nothing when the pool is already empty, and refuses a target before the start', async () => {
    const { attack, log } = setUp();
    assert.throws(() => attack.target(), /start the attack first/);
    await attack.start();
    assert.deepEqual(log, []);
  });
});
