import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@mixlab/service-kit';
import { readDirectoryConfig } from './config.ts';

describe('readDirectoryConfig', () => {
  it('has defaults for everything', () => {
    assert.deepEqual(readDirectoryConfig({}), {
      port: 8080,
      layerCount: 3,
      dataDir: '/data',
      epochLengthMs: 600_000,
      livenessTimeoutMs: 15_000,
      maxSkewMs: 30_000,
      enrollmentDir: '/enrollment',
      logLevel: 'info',
    });
  });

  it('reads every variable', () => {
    const env = {
      PORT: '9000',
      LAYERS: '5',
      DATA_DIR: '/tmp/dir',
      EPOCH_LENGTH_MS: '60000',
      LIVENESS_TIMEOUT_MS: '3000',
      MAX_SKEW_MS: '0',
      ENROLLMENT_DIR: '/tmp/enrolled',
      LOG_LEVEL: 'debug',
    };
    assert.deepEqual(readDirectoryConfig(env), {
      port: 9000,
      layerCount: 5,
      dataDir: '/tmp/dir',
      epochLengthMs: 60_000,
      livenessTimeoutMs: 3_000,
      maxSkewMs: 0,
      enrollmentDir: '/tmp/enrolled',
      logLevel: 'debug',
    });
  });

  it('names the variable of an invalid value', () => {
    for (const [name, value] of [
      ['EPOCH_LENGTH_MS', '0'],
      ['LIVENESS_TIMEOUT_MS', 'soon'],
      ['MAX_SKEW_MS', '-1'],
      ['LAYERS', '0'],
      ['LOG_LEVEL', 'loud'],
    ] as const) {
      assert.throws(
        () => readDirectoryConfig({ [name]: value }),
        (error: unknown) => error instanceof ConfigError && error.message.startsWith(name),
      );
    }
  });
});
