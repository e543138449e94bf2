/** Every service's main.ts reads its configuration with readConfigOrExit: one line, exit code 78. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EX_CONFIG } from './env.ts';

const root = join(import.meta.dirname, '..', '..', '..');

function start(service: string, env: Record<string, string>) {
  const result = spawnSync(process.execPath, [join(root, 'services', service, 'src', 'main.ts')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return {
    status: result.status,
    lines: result.stderr.split('\n').filter((line) => line !== ''),
    stdout: result.stdout,
  };
}

describe('a configuration error at start', () => {
  const cases: [service: string, env: Record<string, string>, line: string][] = [
    [
      'directory',
      { LOG_LEVEL: 'loud' },
      'directory: configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [
      'client-gateway',
      { LOG_LEVEL: 'verbose' },
      'client-gateway: configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    ],
    [
      'mix-node',
      { LAYER: '1', LOG_LEVEL: 'INFO' },
      'mix-node: configuration error: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "INFO"',
    ],
    ['mix-node', { LAYER: '0' }, 'mix-node: configuration error: LAYER must be an integer from 1 to 16, got "0"'],
    [
      'directory',
      { PORT: 'http' },
      'directory: configuration error: PORT must be an integer from 1 to 65535, got "http"',
    ],
  ];
  for (const [service, env, line] of cases) {
    it(`${service} with ${JSON.stringify(env)} prints one line and exits ${EX_CONFIG}`, () => {
      const { status, lines, stdout } = start(service, env);
      assert.equal(status, EX_CONFIG);
      assert.deepEqual(lines, [line]);
      assert.equal(stdout, '');
    });
  }

  it('mix-node with a bad STRATEGY names the variable, on one line, and exits 78', () => {
    const { status, lines } = start('mix-node', { LAYER: '1', STRATEGY: 'threshold:n=zero' });
    assert.equal(status, EX_CONFIG);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^mix-node: configuration error: STRATEGY: .*n/);
  });
});
