import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DurationError, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  const cli = { bareUnit: 's' } as const;

  it('takes bare seconds and ms, s, m, h units when bare seconds are allowed', () => {
    assert.equal(parseDuration('45', cli), 45_000);
    assert.equal(parseDuration('1.5', cli), 1500);
    assert.equal(parseDuration('30s', cli), 30_000);
    assert.equal(parseDuration('2m', cli), 120_000);
    assert.equal(parseDuration('250ms', cli), 250);
    assert.equal(parseDuration('.5s', cli), 500);
    assert.equal(parseDuration(' 1h ', cli), 3_600_000);
  });

  it('says what is accepted when the text is not a duration', () => {
    for (const text of ['', 'abc', '-5', '10 minutes', '5d', '1e3', 's', '3s2']) {
      assert.throws(
        () => parseDuration(text, { ...cli, what: '--duration' }),
        (error: Error) => {
          assert.ok(error instanceof DurationError);
          assert.match(error.message, /^--duration ".*" is not a duration \(seconds, or a number with a unit/);
          return true;
        },
      );
    }
  });

  it('refuses zero unless allowed', () => {
    assert.throws(
      () => parseDuration('0s', { ...cli, what: '--duration' }),
      /--duration must be greater than 0, got "0s"/,
    );
    assert.equal(parseDuration('0', { ...cli, allowZero: true }), 0);
  });

  it('requires a unit unless a bare unit is given, and accepts only the listed units', () => {
    const strict = { units: ['ms', 's'] } as const;
    assert.equal(parseDuration('500ms', strict), 500);
    assert.equal(parseDuration('1.5s', strict), 1500);
    assert.throws(() => parseDuration('500', strict), /"500" is not a duration \(a number with a unit: 500ms, 30s\)/);
    assert.throws(() => parseDuration('5m', strict), DurationError);
    assert.equal(parseDuration('250', { bareUnit: 'ms' }), 250);
  });
});
