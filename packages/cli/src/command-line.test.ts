import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { COMMANDS, commandUsage, type Parsed, parseCommandLine, USAGE } from './command-line.ts';
import type { SendSettings } from './send-command.ts';
import { closedPort } from './test-support.ts';

const KEY = 'ab'.repeat(32);

const parse = (argv: string[], env: Record<string, string> = {}): Parsed =>
  parseCommandLine({ argv, env, defaultKeyFile: '/home/me/.mixlab/key.json' });
/** The first line of an error: the one that names what to fix (the usage follows). */
const error = (parsed: Parsed): string => {
  assert.equal(parsed.kind, 'error', JSON.stringify(parsed));
  return (parsed as { message: string }).message.split('\n')[0] as string;
};

describe('parseCommandLine: help', () => {
  it('prints the overview for --help, -h, help, and no command (the last as an error)', () => {
    for (const argv of [['--help'], ['-h'], ['help']]) assert.deepEqual(parse(argv), { kind: 'help', text: USAGE });
    assert.deepEqual(parse([]), { kind: 'error', message: USAGE });
  });

  for (const command of COMMANDS) {
    it(`prints the usage of ${command} for "${command} --help" and "help ${command}"`, () => {
      const text = commandUsage(command);
      assert.match(text, new RegExp(`^usage: mixlab \\[--gateway URL\\] \\[--directory-key HEX\\] ${command}\\b`));
      assert.deepEqual(parse([command, '--help']), { kind: 'help', text });
      assert.deepEqual(parse(['help', command]), { kind: 'help', text });
      // --help wins over a bad value, so a confused user still gets the usage.
      assert.deepEqual(parse([command, '--directory-key', 'nope', '-h']), { kind: 'help', text });
    });
  }
});

describe('parseCommandLine: errors name what the user set', () => {
  it('names --directory-key or MIXLAB_DIRECTORY_KEY, never an internal field', () => {
    assert.match(error(parse(['topology', '--directory-key', 'xyz'])), /^--directory-key must be .*64 hex.*got "xyz"$/);
    const fromEnv = error(parse(['topology'], { MIXLAB_DIRECTORY_KEY: 'g'.repeat(64) }));
    assert.match(fromEnv, /^MIXLAB_DIRECTORY_KEY must be /);
    assert.doesNotMatch(fromEnv, /pinnedDirectoryKey/);
    // The flag overrides the variable, and is what gets named.
    assert.match(
      error(parse(['topology', '--directory-key', '12'], { MIXLAB_DIRECTORY_KEY: KEY })),
      /^--directory-key /,
    );
  });

  it('names --gateway or MIXLAB_GATEWAY', () => {
    assert.match(error(parse(['topology', '--gateway', 'gateway:8080'])), /^--gateway must be .*got "gateway:8080"$/);
    assert.match(
      error(parse(['topology', '--gateway', 'http://127.0.0.1:8080'])),
      /^--gateway must be the gateway's https URL, e\.g\. https:\/\/127\.0\.0\.1:8080, got "http:\/\/127\.0\.0\.1:8080"$/,
    );
    assert.match(error(parse(['topology'], { MIXLAB_GATEWAY: 'ftp://gw' })), /^MIXLAB_GATEWAY must be /);
  });

  it('names the send flags', () => {
    assert.equal(error(parse(['send', 'hi'])), 'send needs --to ADDRESS (the address `mixlab listen` prints)');
    assert.match(error(parse(['send', '--to', 'bob', 'hi'])), /^--to: an address is 64 hex characters/);
    assert.equal(error(parse(['send', '--to', KEY])), 'send needs the TEXT to send');
    assert.match(error(parse(['send', '--to', KEY, '--ack-timeout', '0', 'hi'])), /^--ack-timeout must be /);
    assert.match(error(parse(['send', '--to', KEY, '--attempts', '1.5', 'hi'])), /^--attempts must be /);
  });

  it('names the load flags', () => {
    assert.equal(
      error(parse(['load', '--rate', '1', '--duration', '5s'])),
      'load needs --clients N (simulated clients, e.g. 4)',
    );
    assert.match(error(parse(['load', '--clients', '2', '--rate', '1', '--duration', 'soon'])), /^--duration "soon"/);
  });

  it('names unknown options, flags of another command, and unknown commands', () => {
    assert.match(error(parse(['topology', '--bogus'])), /'--bogus'/);
    assert.equal(error(parse(['topology', '--to', KEY])), 'topology does not take --to');
    assert.equal(error(parse(['listen', '--clients', '2'])), 'listen does not take --clients');
    assert.equal(error(parse(['sned'])), 'unknown command "sned"');
  });
});

describe('parseCommandLine: attack', () => {
  it('takes an attack name, the observer and the analysis flags', () => {
    const parsed = parse([
      'attack',
      'timing',
      '--observer',
      'http://127.0.0.1:8090',
      '--truth',
      't.json',
      '--bin-ms',
      '2',
    ]);
    assert.equal(parsed.kind, 'attack');
    const { settings } = parsed as Extract<Parsed, { kind: 'attack' }>;
    assert.equal(settings.attack, 'timing');
    assert.equal(settings.observerUrl, 'http://127.0.0.1:8090');
    assert.equal(settings.truthFile, 't.json');
    assert.equal(settings.binMs, 2);
    assert.equal(settings.windowMs, undefined);
  });

  it('names what is missing or wrong', () => {
    assert.match(
      error(parse(['attack', 'guess', '--observer', 'http://o'])),
      /^attack needs one of timing, size, disclosure/,
    );
    assert.match(error(parse(['attack', 'size'])), /^attack needs --observer URL/);
    assert.match(error(parse(['attack', 'size', '--observer', 'observer:8080'])), /^--observer must be/);
    assert.match(error(parse(['attack', 'disclosure', '--observer', 'http://o'])), /needs --target CLIENT/);
    assert.match(error(parse(['attack', 'timing', '--observer', 'http://o', '--bin-ms', '0'])), /^--bin-ms must be/);
    assert.match(
      error(parse(['attack', 'timing', '--observer', 'http://o', '--clients', '3'])),
      /does not take --clients/,
    );
  });
});

describe('parseCommandLine: settings', () => {
  it('takes flags over MIXLAB_* variables over defaults', () => {
    assert.deepEqual(parse(['topology']), {
      kind: 'topology',
      gateway: 'https://127.0.0.1:8080',
      directoryKey: undefined,
    });
    assert.deepEqual(parse(['topology'], { MIXLAB_GATEWAY: 'https://gw:1', MIXLAB_DIRECTORY_KEY: KEY }), {
      kind: 'topology',
      gateway: 'https://gw:1',
      directoryKey: KEY,
    });
    assert.deepEqual(
      parse(['listen', '--gateway', 'https://gw:2'], { MIXLAB_GATEWAY: 'https://gw:1', MIXLAB_KEY: '/k' }),
      {
        kind: 'listen',
        gateway: 'https://gw:2',
        directoryKey: undefined,
        keyFile: '/k',
        giveUpAfter: undefined,
      },
    );
    assert.equal((parse(['listen', '--give-up-after', '5']) as { giveUpAfter: number }).giveUpAfter, 5);
    assert.match(error(parse(['listen', '--give-up-after', '0'])), /^--give-up-after must be a whole number >= 1/);
    assert.equal((parse(['listen']) as { keyFile: string }).keyFile, '/home/me/.mixlab/key.json');
  });

  it('builds the send settings', () => {
    assert.deepEqual(parse(['send', '--to', KEY, '--no-ack', '--attempts', '2', 'hello', 'there']), {
      kind: 'send',
      gateway: 'https://127.0.0.1:8080',
      directoryKey: undefined,
      settings: {
        to: KEY,
        text: 'hello there',
        acknowledge: false,
        ackTimeoutMs: undefined,
        attempts: 2,
        revealSendTime: false,
      },
    });
    const timed = parse(['send', '--to', KEY, '--ack-timeout', '2.5', 'hi']) as { settings: SendSettings };
    assert.equal(timed.settings.ackTimeoutMs, 2_500);
    const revealing = parse(['send', '--to', KEY, '--reveal-send-time', 'hi']) as { settings: SendSettings };
    assert.equal(revealing.settings.revealSendTime, true);
    const misplaced = parse(['listen', '--reveal-send-time']);
    assert.equal(misplaced.kind, 'error');
    assert.match((misplaced as { message: string }).message, /--reveal-send-time/);
  });
});

describe('the mixlab executable', () => {
  const main = join(import.meta.dirname, 'main.ts');
  const run = (...argv: string[]) =>
    spawnSync(process.execPath, [main, ...argv], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });

  it('prints a command usage on stdout and exits 0', () => {
    const result = run('send', '--help');
    assert.equal(result.status, 0);
    assert.equal(result.stdout, `${commandUsage('send')}\n`);
  });

  it('reports a bad flag on stderr, naming it, and exits 2 before any network use', () => {
    const result = run('topology', '--directory-key', 'not-hex');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^mixlab: --directory-key must be /);
    assert.equal(result.stdout, '');
  });

  it('says in one line that the gateway cannot be reached, and what to check; exits 1', async () => {
    const gateway = await closedPort();
    const result = run('topology', '--gateway', gateway, '--directory-key', KEY);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `mixlab: cannot reach the gateway at ${gateway} (ECONNREFUSED: nothing listens there): is it running ` +
        '(docker compose ps client-gateway), and is --gateway or MIXLAB_GATEWAY its published URL?\n',
    );
  });
});
