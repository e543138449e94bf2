/** Every service's main.ts reads its configuration with readConfigOrExit: one line, exit code 78. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EX_CONFIG, EX_DATAERR } from './env.ts';

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

describe('a state file that cannot be used at start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mixlab-state-exit-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const cases: [service: string, file: string, env: Record<string, string>][] = [
    ['client-gateway', 'gateway/mailboxes.sqlite', { DATA_DIR: join(dataDir, 'gateway') }],
    ['directory', 'directory/registry.sqlite', { DATA_DIR: join(dataDir, 'directory') }],
    [
      'mix-node',
      'nodes/mix-1-test/mixing-keys.sqlite',
      { DATA_DIR: join(dataDir, 'nodes'), LAYER: '1', NODE_ID: 'mix-1-test', ADVERTISED_URL: 'http://127.0.0.1:1' },
    ],
  ];
  for (const [service, file, env] of cases) {
    it(`${service} with a damaged ${file.split('/').at(-1)} prints one line naming it and exits ${EX_DATAERR}`, () => {
      const path = join(dataDir, file);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, 'not a database, but long enough to look like a header to SQLite: '.repeat(4));
      const { status, lines } = start(service, { ...env, PORT: '1', DIRECTORY_URL: 'http://127.0.0.1:1' });
      assert.equal(status, EX_DATAERR, lines.join('\n'));
      assert.equal(lines.length, 1, lines.join('\n'));
      const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      assert.match(
        lines[0] ?? '',
        new RegExp(
          `^${service}: state error: ${escaped} cannot be used as mixlab-[a-z-]+ state: it is not a SQLite database .*Restore it from a backup, or move it away`,
        ),
      );
    });
  }
});
