import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '@mixlab/runtime';
import { N1Attack, type TargetWatch } from './n1-attack.ts';

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
      plan: undefined,
      rounds: [],
      following: false,
      failedRounds: 0,
      lastError: undefined,
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

  it('refuses the round-based attack without a clock and a watch, and bad plans', async () => {
    const { attack } = setUp();
    await assert.rejects(attack.start({ perRound: 5, roundMs: 1000 }), /needs a clock and a watch/);
    const rounds = roundsSetUp([]);
    await assert.rejects(rounds.attack.start({ perRound: 0, roundMs: 1000 }), /perRound/);
    await assert.rejects(rounds.attack.start({ perRound: 5, roundMs: 0 }), /roundMs/);
  });
});

/** Lets the attack's promise chains run (fake HTTP answers at once). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A round-based attack on a ManualClock; `sightings[i]`: what the watch of the i-th target answers per check. */
function roundsSetUp(sightings: (number | undefined)[][]) {
  const clock = new ManualClock();
  const log: string[] = [];
  const checks: number[] = [];
  let follows = 0;
  const attack: N1Attack = new N1Attack({
    threshold: 1,
    clock,
    pass: async (path, body) => {
      log.push(`pass ${path} ${new TextDecoder().decode(body)}`);
    },
    inject: async (count) => {
      log.push(`inject ${count}`);
      await attack.request('/v1/packets', new TextEncoder().encode(`own×${count}`), count);
    },
    follow: async (): Promise<TargetWatch> => {
      const answers = sightings[follows] ?? [];
      const index = follows++;
      log.push(`follow ${index}`);
      let asked = 0;
      return {
        check: async () => {
          checks[index] = (checks[index] ?? 0) + 1;
          return answers[asked++];
        },
      };
    },
  });
  const advance = async (ms: number) => {
    clock.advance(ms);
    for (let i = 0; i < 5; i++) await settle();
  };
  return { attack, log, checks, advance, body: (text: string) => new TextEncoder().encode(text) };
}

describe('N1Attack, round-based (pool, binomial, timed)', () => {
  it('floods N own packets per round, holds the honest, and passes the target after N − 1 of its own', async () => {
    const { attack, log, advance, body } = roundsSetUp([[undefined, undefined, 3]]);
    await attack.start({ perRound: 4, roundMs: 1000 });
    await advance(0);
    assert.deepEqual(log.splice(0), ['inject 4', 'pass /v1/packets own×4'], 'round 0 at once');
    await attack.request('/v1/packets', body('honest'), 1);
    await advance(999);
    assert.deepEqual(log.splice(0), [], 'the honest request is held, no round before its time');
    await advance(1);
    assert.deepEqual(log.splice(0), ['inject 4', 'pass /v1/packets own×4']);

    attack.target();
    await attack.request('/v1/packets', body('target'), 1);
    assert.deepEqual(log.splice(0), [], 'the target waits for the next round');
    assert.equal(attack.status.following, true);
    assert.throws(() => attack.target(), /has not left yet/);
    await advance(1000);
    assert.deepEqual(
      log.splice(0),
      ['follow 0', 'inject 3', 'pass /v1/packets own×3', 'pass /v1/packets target'],
      'watched from before it passes; N enter in its round too',
    );
    await advance(1000);
    assert.equal(attack.status.following, true);
    await advance(1000);
    assert.deepEqual(attack.status.rounds, [3], 'the watch said 3 rounds on its third look');
    assert.equal(attack.status.following, false);
    log.splice(0);
    await advance(1000);
    assert.deepEqual(log, ['inject 4', 'pass /v1/packets own×4'], 'the flood goes on for the next target');

    await attack.stop();
    assert.deepEqual(log.slice(2), ['pass /v1/packets honest'], 'released on stop');
    const status = attack.status;
    assert.equal(status.plan, undefined);
    assert.equal(status.injected, 4 + 4 + 3 + 4 + 4 + 4);
    log.splice(0);
    await advance(5000);
    assert.deepEqual(log, [], 'no rounds after the stop');
  });

  it('keeps to its schedule when a round fails, and counts the failure', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const attack = new N1Attack({
      threshold: 1,
      clock,
      pass: async () => {},
      inject: async () => {
        calls++;
        if (calls === 2) throw new Error('gateway said 503');
      },
      follow: async () => ({ check: async () => undefined }),
    });
    await attack.start({ perRound: 2, roundMs: 500 });
    for (let i = 0; i < 3; i++) {
      clock.advance(i === 0 ? 0 : 500);
      await settle();
    }
    assert.equal(calls, 3);
    assert.equal(attack.status.failedRounds, 1);
    assert.equal(attack.status.lastError, 'gateway said 503');
    await attack.stop();
  });

  it('keeps the target for a later round while the wire cannot be watched', async () => {
    const clock = new ManualClock();
    const passed: string[] = [];
    let watchable = false;
    const attack = new N1Attack({
      threshold: 1,
      clock,
      pass: async (_path, body) => {
        passed.push(new TextDecoder().decode(body));
      },
      inject: async () => {},
      follow: async () => {
        if (!watchable) throw new Error('observer answered 503');
        return { check: async () => 1 };
      },
    });
    await attack.start({ perRound: 1, roundMs: 1000 });
    attack.target();
    await attack.request('/v1/packets', new TextEncoder().encode('target'), 1);
    clock.advance(1000);
    await settle();
    assert.deepEqual(passed, [], 'not passed unwatched');
    assert.equal(attack.status.lastError, 'observer answered 503');
    assert.equal(attack.status.following, true);
    watchable = true;
    clock.advance(1000);
    await settle();
    assert.deepEqual(passed, ['target']);
    assert.deepEqual(attack.status.rounds, [1]);
    await attack.stop();
  });

  it('passes a target held for the next round on stop, with the rest', async () => {
    const { attack, log, advance, body } = roundsSetUp([]);
    await attack.start({ perRound: 1, roundMs: 1000 });
    await advance(0);
    await assert.rejects(attack.start(), /stop it first/, 'no flush while the rounds run');
    await assert.rejects(attack.start({ perRound: 1, roundMs: 1000 }), /stop it first/);
    attack.target();
    await attack.request('/v1/packets', body('target'), 2);
    await attack.request('/v1/deliveries', body('loop'), 1);
    log.splice(0);
    await attack.stop();
    assert.deepEqual(log, ['pass /v1/deliveries loop', 'pass /v1/packets target']);
    assert.equal(attack.status.following, false);
    await attack.start();
    assert.equal(attack.status.phase, 'holding', 'the threshold flush may follow once stopped');
  });
});
