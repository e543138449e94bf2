import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, envChoice, envInt, envOptionalInt, envString, envUrl } from './env.ts';

function throwsConfig(read: () => unknown, message: string): void {
  assert.throws(read, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.message, message);
    return true;
  });
}

describe('ConfigError', () => {
  it('is an Error named ConfigError', () => {
    const error = new ConfigError('X is required');
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.message, 'X is required');
  });
});

describe('envString', () => {
  it('returns the value, trimmed', () => {
    assert.equal(envString({ NAME: 'mix-1' }, 'NAME'), 'mix-1');
    assert.equal(envString({ NAME: '  mix-1 \n' }, 'NAME', 'fallback'), 'mix-1');
  });

  it('uses the fallback when the variable is unset, empty or blank', () => {
    for (const env of [{}, { NAME: '' }, { NAME: '   ' }, { NAME: undefined }]) {
      assert.equal(envString(env, 'NAME', 'fallback'), 'fallback');
    }
  });

  it('throws when required and unset or blank', () => {
    throwsConfig(() => envString({}, 'NODE_ID'), 'NODE_ID is required');
    throwsConfig(() => envString({ NODE_ID: ' ' }, 'NODE_ID'), 'NODE_ID is required');
  });
});

describe('envInt', () => {
  it('parses integers within the bounds, inclusive', () => {
    assert.equal(envInt({ PORT: '1' }, 'PORT', 8080, 1, 65535), 1);
    assert.equal(envInt({ PORT: '65535' }, 'PORT', 8080, 1, 65535), 65535);
    assert.equal(envInt({ PORT: ' 9000 ' }, 'PORT', 8080, 1, 65535), 9000);
    assert.equal(envInt({ OFFSET: '-5' }, 'OFFSET', 0, -10, 10), -5);
    assert.equal(envInt({ N: '007' }, 'N', 1, 1, 10), 7);
  });

  it('returns the fallback when unset or blank', () => {
    assert.equal(envInt({}, 'PORT', 8080, 1, 65535), 8080);
    assert.equal(envInt({ PORT: '' }, 'PORT', 8080, 1, 65535), 8080);
  });

  it('throws when required and unset, giving the range', () => {
    throwsConfig(() => envInt({}, 'LAYER', undefined, 1, 16), 'LAYER is required (an integer from 1 to 16)');
  });

  for (const text of ['0', '65536', '-1', '1.5', '1e3', '0x10', 'abc', '12abc', '+5', '1 000', 'Infinity']) {
    it(`rejects "${text}", quoting it`, () => {
      throwsConfig(
        () => envInt({ PORT: text }, 'PORT', 8080, 1, 65535),
        `PORT must be an integer from 1 to 65535, got "${text}"`,
      );
    });
  }
});

describe('envOptionalInt', () => {
  it('is undefined when unset, blank or "off"', () => {
    for (const env of [
      {},
      { MAX_WAIT_MS: '' },
      { MAX_WAIT_MS: ' ' },
      { MAX_WAIT_MS: 'off' },
      { MAX_WAIT_MS: ' off ' },
    ]) {
      assert.equal(envOptionalInt(env, 'MAX_WAIT_MS', 1, 3_600_000), undefined);
    }
  });

  it('parses an integer within the bounds', () => {
    assert.equal(envOptionalInt({ MAX_WAIT_MS: '1' }, 'MAX_WAIT_MS', 1, 3_600_000), 1);
    assert.equal(envOptionalInt({ MAX_WAIT_MS: '3600000' }, 'MAX_WAIT_MS', 1, 3_600_000), 3_600_000);
  });

  it('rejects values out of range or not integers, with the envInt message', () => {
    for (const text of ['0', '3600001', 'OFF', 'none', '2.5']) {
      throwsConfig(
        () => envOptionalInt({ MAX_WAIT_MS: text }, 'MAX_WAIT_MS', 1, 3_600_000),
        `MAX_WAIT_MS must be an integer from 1 to 3600000, got "${text}"`,
      );
    }
  });
});

describe('envUrl', () => {
  it('accepts http and https URLs and strips trailing slashes', () => {
    assert.equal(envUrl({ U: 'http://directory:8080' }, 'U'), 'http://directory:8080');
    assert.equal(envUrl({ U: 'https://gw.example/base/' }, 'U'), 'https://gw.example/base');
    assert.equal(envUrl({ U: 'http://directory:8080///' }, 'U'), 'http://directory:8080');
    assert.equal(envUrl({ U: ' http://a:1 ' }, 'U'), 'http://a:1');
  });

  it('uses the fallback when unset, and normalises it too', () => {
    assert.equal(envUrl({}, 'DIRECTORY_URL', 'http://directory:8080/'), 'http://directory:8080');
    assert.equal(envUrl({ DIRECTORY_URL: '' }, 'DIRECTORY_URL', 'http://directory:8080'), 'http://directory:8080');
  });

  it('throws when required and unset', () => {
    throwsConfig(() => envUrl({}, 'DIRECTORY_URL'), 'DIRECTORY_URL is required');
  });

  for (const text of [
    'directory:8080x y',
    'not a url',
    '/v1/nodes',
    'ftp://files.example',
    'ws://gw:8080',
    'file:///etc',
  ]) {
    it(`rejects "${text}"`, () => {
      throwsConfig(
        () => envUrl({ DIRECTORY_URL: text }, 'DIRECTORY_URL'),
        `DIRECTORY_URL must be an http(s) URL, got "${text}"`,
      );
    });
  }

  it('rejects a bad fallback as well', () => {
    throwsConfig(() => envUrl({}, 'DELIVERY_URL', 'gateway'), 'DELIVERY_URL must be an http(s) URL, got "gateway"');
  });
});

describe('envChoice', () => {
  const formats = ['onion', 'sphinx'] as const;

  it('returns a listed value, trimmed, or the fallback when unset or blank', () => {
    assert.equal(envChoice({ F: 'sphinx' }, 'F', formats, 'onion'), 'sphinx');
    assert.equal(envChoice({ F: ' sphinx ' }, 'F', formats, 'onion'), 'sphinx');
    assert.equal(envChoice({}, 'F', formats, 'onion'), 'onion');
    assert.equal(envChoice({ F: '' }, 'F', formats, 'onion'), 'onion');
  });

  it('rejects anything else, listing the choices; matching is case-sensitive', () => {
    throwsConfig(
      () => envChoice({ PACKET_FORMAT: 'Sphinx' }, 'PACKET_FORMAT', formats, 'onion'),
      'PACKET_FORMAT must be one of onion, sphinx, got "Sphinx"',
    );
    throwsConfig(
      () => envChoice({ PACKET_FORMAT: 'garlic' }, 'PACKET_FORMAT', formats, 'onion'),
      'PACKET_FORMAT must be one of onion, sphinx, got "garlic"',
    );
  });
});
