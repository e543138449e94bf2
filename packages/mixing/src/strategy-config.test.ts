import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scriptedRandom } from '@mixlab/runtime';
import { BinomialStrategy } from './binomial.ts';
import { ExponentialStrategy } from './exponential.ts';
import { strategyNames } from './mix-strategy.ts';
import { PoolStrategy } from './pool.ts';
import {
  createStrategy,
  formatStrategyConfig,
  parseStrategyConfig,
  type StrategyConfig,
  StrategyConfigError,
  strategyConfigExamples,
} from './strategy-config.ts';
import { harness, sorted } from './test-harness.ts';
import { ThresholdStrategy } from './threshold.ts';
import { ThresholdAndTimedStrategy } from './threshold-and-timed.ts';
import { ThresholdOrTimedStrategy } from './threshold-or-timed.ts';
import { TimedStrategy } from './timed.ts';

describe('parseStrategyConfig', () => {
  const valid: [string, StrategyConfig][] = [
    ['threshold:n=10,maxWait=2000ms', { name: 'threshold', threshold: 10, maxWaitMs: 2000 }],
    ['threshold:n=10', { name: 'threshold', threshold: 10 }],
    ['threshold:maxWait=2s,n=1', { name: 'threshold', threshold: 1, maxWaitMs: 2000 }],
    ['timed:t=500ms', { name: 'timed', intervalMs: 500 }],
    ['timed:t=1.5s', { name: 'timed', intervalMs: 1500 }],
    ['timed:t=.25s', { name: 'timed', intervalMs: 250 }],
    ['threshold-or-timed:n=10,t=1s', { name: 'threshold-or-timed', threshold: 10, intervalMs: 1000 }],
    ['threshold-and-timed:t=2s,n=3', { name: 'threshold-and-timed', threshold: 3, intervalMs: 2000 }],
    ['pool:t=1s,min=20,fraction=0.6', { name: 'pool', intervalMs: 1000, minPool: 20, fraction: 0.6 }],
    ['pool:t=1s,min=0,fraction=1', { name: 'pool', intervalMs: 1000, minPool: 0, fraction: 1 }],
    ['binomial:t=1s,p=0.3', { name: 'binomial', intervalMs: 1000, probability: 0.3 }],
    ['exponential:mean=200ms', { name: 'exponential', delay: 'drawn', meanDelayMs: 200 }],
    ['exponential:mean=200ms,delay=drawn', { name: 'exponential', delay: 'drawn', meanDelayMs: 200 }],
    ['exponential:delay=sender', { name: 'exponential', delay: 'sender' }],
    ['exponential:delay=sender,mean=1s', { name: 'exponential', delay: 'sender', meanDelayMs: 1000 }],
    [' pool : t = 1s , min = 5 , fraction = .5 ', { name: 'pool', intervalMs: 1000, minPool: 5, fraction: 0.5 }],
  ];
  for (const [text, expected] of valid) {
    it(`parses "${text}"`, () => {
      assert.deepEqual(parseStrategyConfig(text), expected);
    });
  }

  it('has a parsable example for every strategy', () => {
    assert.deepEqual(Object.keys(strategyConfigExamples).sort(), [...strategyNames].sort());
    for (const name of strategyNames) assert.equal(parseStrategyConfig(strategyConfigExamples[name]).name, name);
  });

  const prefix = (text: string): string => `invalid mixing strategy "${text}": `;
  const t = 't = a duration > 0 with a unit, like 500ms or 1.5s';

  it('says exactly what is wrong and what is valid', () => {
    const cases: [string, string][] = [
      [
        '',
        'no strategy name; valid names: threshold, timed, threshold-or-timed, threshold-and-timed, pool, binomial, exponential',
      ],
      [
        'mixmaster:t=1s',
        'unknown strategy "mixmaster"; valid names: threshold, timed, threshold-or-timed, threshold-and-timed, pool, binomial, exponential',
      ],
      ['timed:interval=1s', `timed has no parameter "interval"; valid for timed: ${t}; e.g. timed:t=500ms`],
      [
        'timed',
        `timed needs t (period, a duration > 0 with a unit, like 500ms or 1.5s); valid for timed: ${t}; e.g. timed:t=500ms`,
      ],
      ['timed:', `nothing after "timed:"; valid for timed: ${t}; e.g. timed:t=500ms`],
      ['timed:t', `t has no value; valid for timed: ${t}; e.g. timed:t=500ms`],
      ['timed:t=', `t has no value; valid for timed: ${t}; e.g. timed:t=500ms`],
      ['timed:t=1s,t=2s', 't is given twice'],
      ['timed:t=500', 't must be a duration > 0 with a unit, like 500ms or 1.5s, got "500"'],
      ['threshold:n=0', 'n must be a whole number >= 1, got "0"'],
      ['pool:t=1s,min=-1,fraction=0.6', 'min must be a whole number >= 0, got "-1"'],
      ['binomial:t=1s,p=1.5', 'p must be a number in (0, 1], like 0.3, got "1.5"'],
      ['exponential:delay=random', 'delay must be drawn or sender, got "random"'],
      [
        'exponential',
        'exponential needs mean (e.g. mean=200ms) to draw delays, or delay=sender to use the delay each packet carries',
      ],
    ];
    for (const [text, reason] of cases) {
      assert.throws(
        () => parseStrategyConfig(text),
        (error: unknown) => {
          assert.ok(error instanceof StrategyConfigError);
          assert.equal(error.message, prefix(text) + reason);
          return true;
        },
        text,
      );
    }
  });

  it('rejects bad values of every kind', () => {
    const bad: [string, RegExp][] = [
      ['threshold:n=-1', /n must be a whole number >= 1, got "-1"/],
      ['threshold:n=1.5', /n must be a whole number >= 1, got "1.5"/],
      ['threshold:n=ten', /n must be a whole number >= 1/],
      ['threshold:n=10abc', /n must be a whole number >= 1/],
      ['threshold:n=99999999999999999999', /n must be a whole number >= 1/],
      ['threshold:n=10,maxWait=0ms', /maxWait must be a duration > 0/],
      ['threshold:n=10,maxWait=2000', /maxWait must be a duration > 0 with a unit/],
      ['threshold:maxWait=1s', /threshold needs n \(batch size/],
      ['Threshold:n=3', /unknown strategy "Threshold"/],
      ['timed:t=5m', /t must be a duration/],
      ['timed:t=-1s', /t must be a duration/],
      ['timed:t=1e3ms', /t must be a duration/],
      ['timed:t=1s,', /empty parameter in "t=1s,"/],
      ['timed:=1s', /empty parameter/],
      ['threshold-or-timed:n=10', /threshold-or-timed needs t/],
      ['threshold-and-timed:t=1s', /threshold-and-timed needs n/],
      ['pool:t=1s,min=1.5,fraction=0.6', /min must be a whole number >= 0/],
      ['pool:t=1s,min=20,fraction=0', /fraction must be a number in \(0, 1\]/],
      ['pool:t=1s,min=20,fraction=60%', /fraction must be a number in \(0, 1\]/],
      ['pool:t=1s,fraction=0.6', /pool needs min \(packets always kept/],
      [
        'pool:t=1s,min=20,fraction=0.6,p=0.3',
        /pool has no parameter "p"; valid for pool: t = .*; min = .*; fraction = /,
      ],
      ['binomial:t=1s', /binomial needs p/],
      ['binomial:t=1s,p=0', /p must be a number in \(0, 1\]/],
      ['exponential:mean=0ms', /mean must be a duration > 0/],
      ['exponential:delay=drawn', /exponential needs mean/],
    ];
    for (const [text, message] of bad) {
      assert.throws(() => parseStrategyConfig(text), message, text);
    }
  });
});

describe('formatStrategyConfig', () => {
  it('writes the canonical string, which parses back to the same config', () => {
    const cases: [string, string][] = [
      ['threshold:n=10,maxWait=2s', 'threshold:n=10,maxWait=2000ms'],
      ['threshold:n=10', 'threshold:n=10'],
      ['timed:t=1.5s', 'timed:t=1500ms'],
      ['threshold-or-timed:t=1s,n=10', 'threshold-or-timed:n=10,t=1000ms'],
      ['threshold-and-timed:n=3,t=2s', 'threshold-and-timed:n=3,t=2000ms'],
      ['pool:t=1s,min=20,fraction=0.6', 'pool:t=1000ms,min=20,fraction=0.6'],
      ['binomial:t=1s,p=0.3', 'binomial:t=1000ms,p=0.3'],
      ['exponential:mean=200ms', 'exponential:mean=200ms'],
      ['exponential:delay=sender', 'exponential:delay=sender'],
    ];
    for (const [text, canonical] of cases) {
      const config = parseStrategyConfig(text);
      assert.equal(formatStrategyConfig(config), canonical);
      assert.deepEqual(parseStrategyConfig(canonical), config);
    }
  });
});

describe('createStrategy', () => {
  it('builds the class each strategy name stands for', () => {
    const classes = {
      threshold: ThresholdStrategy,
      timed: TimedStrategy,
      'threshold-or-timed': ThresholdOrTimedStrategy,
      'threshold-and-timed': ThresholdAndTimedStrategy,
      pool: PoolStrategy,
      binomial: BinomialStrategy,
      exponential: ExponentialStrategy,
    };
    for (const name of strategyNames) {
      const h = harness<number>();
      const strategy = createStrategy(parseStrategyConfig(strategyConfigExamples[name]), h.context);
      assert.ok(strategy instanceof classes[name], name);
      assert.equal(strategy.name, name);
      strategy.stop();
      assert.equal(h.clock.pendingTimers, 0, `${name} left timers behind`);
    }
  });

  it('passes the parameters through: threshold with maxWait', () => {
    const h = harness<number>();
    const mix = createStrategy<number>(parseStrategyConfig('threshold:n=3,maxWait=2s'), h.context);
    mix.add(1);
    mix.add(2);
    mix.add(3);
    mix.add(4);
    h.clock.advance(2000);
    assert.deepEqual(h.batches.map(sorted), [[1, 2, 3], [4]]);
    assert.deepEqual(h.releasedAt, [0, 2000]);
  });

  it('passes the parameters through: pool period, minimum and fraction', () => {
    const h = harness<number>();
    const mix = createStrategy<number>(parseStrategyConfig('pool:t=1.5s,min=2,fraction=0.5'), h.context);
    for (let item = 0; item < 8; item++) mix.add(item);
    h.clock.advance(1500);
    assert.deepEqual(
      h.batches.map((batch) => batch.length),
      [3],
    );
    assert.deepEqual(h.releasedAt, [1500]);
  });

  it('builds an exponential mix that draws delays with the configured mean', () => {
    const h = harness<string>(scriptedRandom([0.5]));
    const mix = createStrategy<string>(parseStrategyConfig('exponential:mean=1s'), h.context, {
      delayOf: () => 5, // ignored: the config says drawn
    });
    mix.add('a');
    h.clock.advance(10_000);
    assert.deepEqual(h.releasedAt, [1000 * Math.LN2]);
  });

  it('builds an exponential mix that reads the sender-chosen delay', () => {
    const h = harness<{ delayMs: number }>();
    const mix = createStrategy(parseStrategyConfig('exponential:delay=sender'), h.context, {
      delayOf: (packet: { delayMs: number }) => packet.delayMs,
    });
    mix.add({ delayMs: 70 });
    h.clock.advance(100);
    assert.deepEqual(h.releasedAt, [70]);
  });

  it('refuses delay=sender without a way to read the delay', () => {
    const h = harness<string>();
    assert.throws(
      () => createStrategy(parseStrategyConfig('exponential:delay=sender'), h.context),
      (error: unknown) =>
        error instanceof StrategyConfigError && /pass \{ delayOf \} to createStrategy/.test(error.message),
    );
  });

  it('still validates a config built in code rather than parsed', () => {
    const h = harness<number>();
    assert.throws(
      () => createStrategy({ name: 'pool', intervalMs: 1000, minPool: -1, fraction: 0.5 }, h.context),
      /minPool must be a non-negative integer, got -1/,
    );
  });
});
