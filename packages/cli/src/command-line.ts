/**
 * The command line of `mixlab`, parsed and checked before anything runs: every error
 * names the flag or the MIXLAB_* variable the user set, and `--help` prints the usage of
 * the command it follows. No I/O here, so it is tested directly.
 */
import { parseArgs } from 'node:util';
import { parseAddress } from '@mixlab/client';
import { type LoadArgs, parseLoadArgs } from '@mixlab/load';
import { ATTACK_USAGE, ATTACKS, type AttackName, type AttackSettings } from './attack-command.ts';
import { LOAD_USAGE } from './load-command.ts';
import type { SendSettings } from './send-command.ts';

export const COMMANDS = ['topology', 'send', 'listen', 'load', 'attack'] as const;
export type Command = (typeof COMMANDS)[number];

const GLOBAL_OPTIONS = `options (every command):
  --gateway URL   client gateway (default $MIXLAB_GATEWAY or https://127.0.0.1:8080)
  --directory-key HEX
                  the directory's public key, pinned: only a topology it signed is used
                  (default $MIXLAB_DIRECTORY_KEY; with compose:
                  export MIXLAB_DIRECTORY_KEY=$(docker compose exec directory cat /data/directory.pub))
  -h, --help      this command's usage`;

const SEND_USAGE = `send --to ADDRESS [--no-ack] [--ack-timeout SECONDS] [--attempts N] [--reveal-send-time] TEXT
      send TEXT to the recipient whose address is ADDRESS (what \`mixlab listen\` prints), wait
      for its acknowledgement and retransmit when none comes, --attempts N (3) sends in all.
      Each attempt waits twice its route's expected round trip and 2 s (from the strategies
      the nodes publish in the topology; 20 s when a node publishes none), or --ack-timeout
      SECONDS. A send the network cannot take yet (gateway unreachable, a layer without a
      node, 429/503) counts as a lost packet: it is retried after the same wait (or the
      gateway's Retry-After). --no-ack sends once without waiting. --reveal-send-time
      seals the send time into the message so that listen can show its latency: a leak (the
      recipient, with a view of the gateway, can match it to its submission), off by default`;

const COMMAND_USAGE: Readonly<Record<Command, string>> = {
  topology: `topology
      print the mix nodes of every layer (verified against the pinned directory key)`,
  send: SEND_USAGE,
  listen: `listen [--key FILE] [--give-up-after N]
      print this client's address, then every message it receives (with its latency when the
      sender revealed its send time); --key FILE is its key
      (default $MIXLAB_KEY or ~/.mixlab/key.json; created if missing). When the gateway goes
      away it says so on stderr and reconnects with backoff (0.5 s doubling to 30 s); with
      --give-up-after N it exits 1 after N failed reconnections in a row (default: never)`,
  load: LOAD_USAGE,
  attack: ATTACK_USAGE,
};

/** `mixlab <command> --help`. */
export function commandUsage(command: Command): string {
  return `usage: mixlab [--gateway URL] [--directory-key HEX] ${COMMAND_USAGE[command]}\n\n${GLOBAL_OPTIONS}`;
}

/** `mixlab --help`, `mixlab help`. */
export const USAGE = `usage: mixlab [--gateway URL] [--directory-key HEX] <command> [options]

commands:
  topology                 print the mix nodes of every layer
  send --to ADDRESS TEXT   send TEXT to ADDRESS, wait for its acknowledgement, retransmit
  listen [--key FILE]      print this client's address, then every message it receives
  load --clients N --rate R --duration D
                           simulated clients send Poisson traffic to each other; a summary
  attack timing|size|disclosure --observer URL [--truth FILE]
                           a passive attack on the wire trace the observer recorded

${GLOBAL_OPTIONS}

\`mixlab <command> --help\` prints the usage of one command.`;

/** What the shell gave: where a value came from matters for the error that names it. */
export interface Invocation {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default key file: ~/.mixlab/key.json. */
  readonly defaultKeyFile: string;
}

export interface Common {
  readonly gateway: string;
  readonly directoryKey: string | undefined;
}

export type Parsed =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'error'; readonly message: string }
  | ({ readonly kind: 'topology' } & Common)
  | ({ readonly kind: 'send'; readonly settings: SendSettings } & Common)
  | ({ readonly kind: 'listen'; readonly keyFile: string; readonly giveUpAfter: number | undefined } & Common)
  | ({
      readonly kind: 'load';
      readonly settings: ReturnType<typeof parseLoadArgs>;
      readonly jsonFile: string | undefined;
      readonly truthFile: string | undefined;
    } & Common)
  | ({ readonly kind: 'attack'; readonly settings: AttackSettings } & Common);

const OPTIONS = {
  gateway: { type: 'string' },
  'directory-key': { type: 'string' },
  to: { type: 'string' },
  'no-ack': { type: 'boolean' },
  'reveal-send-time': { type: 'boolean' },
  'ack-timeout': { type: 'string' },
  attempts: { type: 'string' },
  key: { type: 'string' },
  'give-up-after': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  clients: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  drain: { type: 'string' },
  'drop-rate': { type: 'string' },
  'loop-rate': { type: 'string' },
  strategy: { type: 'string' },
  json: { type: 'string' },
  seed: { type: 'string' },
  truth: { type: 'string' },
  observer: { type: 'string' },
  'bin-ms': { type: 'string' },
  'window-ms': { type: 'string' },
  'shrink-bytes': { type: 'string' },
  target: { type: 'string' },
  friends: { type: 'string' },
  'round-ms': { type: 'string' },
  'lag-ms': { type: 'string' },
} as const;

/** The flags each command takes besides --gateway, --directory-key and --help. */
const COMMAND_FLAGS: Readonly<Record<Command, readonly string[]>> = {
  topology: [],
  send: ['to', 'no-ack', 'ack-timeout', 'attempts', 'reveal-send-time'],
  listen: ['key', 'give-up-after'],
  load: ['clients', 'rate', 'duration', 'drain', 'drop-rate', 'loop-rate', 'strategy', 'json', 'seed', 'truth'],
  attack: [
    'observer',
    'truth',
    'json',
    'bin-ms',
    'window-ms',
    'shrink-bytes',
    'target',
    'friends',
    'round-ms',
    'lag-ms',
  ],
};

class UsageError extends Error {}

/** A value given as `--flag`, else as the variable `name`, else `fallback`; `source` names where it came from. */
function setting(
  flag: string,
  given: string | undefined,
  env: Invocation['env'],
  variable: string,
  fallback?: string,
): { value: string | undefined; source: string } {
  if (given !== undefined) return { value: given, source: `--${flag}` };
  const fromEnv = env[variable];
  if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable };
  return { value: fallback, source: `--${flag}` };
}

function gatewayUrl(text: string, source: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  // https only: the gateway proves its identity key over TLS, and sessions ride in headers.
  if (url?.protocol !== 'https:') {
    throw new UsageError(`${source} must be the gateway's https URL, e.g. https://127.0.0.1:8080, got "${text}"`);
  }
  return text;
}

function directoryKey(text: string | undefined, source: string): string | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(text.trim())) {
    throw new UsageError(
      `${source} must be the directory's public key, 64 hex characters (it prints it at start-up; ` +
        `with compose: docker compose exec directory cat /data/directory.pub), got "${text}"`,
    );
  }
  return text.trim();
}

/** A number flag: undefined when not given; `integer` asks for a whole number. */
function numberFlag(values: Record<string, unknown>, flag: string, min: number, integer = false): number | undefined {
  const text = values[flag] as string | undefined;
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${flag} must be ${integer ? 'a whole number' : 'a number'} >= ${min}, got "${text}"`);
  }
  return value;
}

function attackSettings(values: Record<string, string | boolean | undefined>, rest: string[]): AttackSettings {
  const [name, ...extra] = rest;
  if (name === undefined || !(ATTACKS as readonly string[]).includes(name)) {
    throw new UsageError(`attack needs one of ${ATTACKS.join(', ')}, got "${name ?? ''}"`);
  }
  if (extra.length > 0) throw new UsageError(`attack takes one name, got "${rest.join(' ')}"`);
  const observer = values.observer as string | undefined;
  if (observer === undefined)
    throw new UsageError('attack needs --observer URL (the observer, e.g. http://127.0.0.1:8090)');
  let url: URL | undefined;
  try {
    url = new URL(observer);
  } catch {
    // reported below
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new UsageError(`--observer must be the observer's http(s) URL, got "${observer}"`);
  }
  if (name === 'disclosure' && values.target === undefined) {
    throw new UsageError('attack disclosure needs --target CLIENT (a client slot, e.g. client-3)');
  }
  return {
    attack: name as AttackName,
    observerUrl: observer,
    truthFile: values.truth as string | undefined,
    jsonFile: values.json as string | undefined,
    binMs: numberFlag(values, 'bin-ms', 0.001),
    windowMs: numberFlag(values, 'window-ms', 0.001),
    shrinkBytes: numberFlag(values, 'shrink-bytes', Number.NEGATIVE_INFINITY, true),
    target: values.target as string | undefined,
    friends: numberFlag(values, 'friends', 1, true),
    roundMs: numberFlag(values, 'round-ms', 0.001),
    lagMs: numberFlag(values, 'lag-ms', 0),
  };
}

function sendSettings(values: Record<string, string | boolean | undefined>, rest: string[]): SendSettings {
  const to = values.to as string | undefined;
  if (to === undefined) throw new UsageError('send needs --to ADDRESS (the address `mixlab listen` prints)');
  try {
    parseAddress(to);
  } catch (error) {
    throw new UsageError(`--to: ${(error as Error).message}`);
  }
  if (rest.length === 0) throw new UsageError('send needs the TEXT to send');
  const ackTimeoutText = values['ack-timeout'] as string | undefined;
  const attemptsText = (values.attempts as string | undefined) ?? '3';
  const ackTimeout = Number(ackTimeoutText);
  const attempts = Number(attemptsText);
  if (
    ackTimeoutText !== undefined &&
    (ackTimeoutText.trim() === '' || !(ackTimeout > 0) || !Number.isFinite(ackTimeout))
  ) {
    throw new UsageError(`--ack-timeout must be a positive number of seconds, got "${ackTimeoutText}"`);
  }
  if (!/^\s*\d+\s*$/.test(attemptsText) || attempts < 1) {
    throw new UsageError(`--attempts must be a whole number >= 1, got "${attemptsText}"`);
  }
  return {
    to,
    text: rest.join(' '),
    acknowledge: !values['no-ack'],
    ackTimeoutMs: ackTimeoutText === undefined ? undefined : ackTimeout * 1000,
    attempts,
    revealSendTime: values['reveal-send-time'] === true,
  };
}

/** Parses and checks a whole command line; a mistake of the user is a `kind: 'error'` result, never a throw. */
export function parseCommandLine(invocation: Invocation): Parsed {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...invocation.argv], allowPositionals: true, options: OPTIONS }));
  } catch (error) {
    // node:util names the option ("Unknown option '--x'", "Option '--to <value>' argument missing").
    return { kind: 'error', message: `${(error as Error).message}\n${USAGE}` };
  }
  const [first, ...rest] = positionals;
  if (first === undefined || first === 'help') {
    const topic = rest[0];
    if (first === 'help' && topic !== undefined && (COMMANDS as readonly string[]).includes(topic)) {
      return { kind: 'help', text: commandUsage(topic as Command) };
    }
    return values.help || first === 'help' ? { kind: 'help', text: USAGE } : { kind: 'error', message: USAGE };
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    return { kind: 'error', message: `unknown command "${first}"\n${USAGE}` };
  }
  const command = first as Command;
  if (values.help) return { kind: 'help', text: commandUsage(command) };
  try {
    const foreign = Object.keys(values).filter(
      (flag) => !['gateway', 'directory-key', 'help', ...COMMAND_FLAGS[command]].includes(flag),
    );
    if (foreign.length > 0) {
      throw new UsageError(`${command} does not take ${foreign.map((flag) => `--${flag}`).join(', ')}`);
    }
    const gateway = setting(
      'gateway',
      values.gateway as string | undefined,
      invocation.env,
      'MIXLAB_GATEWAY',
      'https://127.0.0.1:8080',
    );
    const key = setting(
      'directory-key',
      values['directory-key'] as string | undefined,
      invocation.env,
      'MIXLAB_DIRECTORY_KEY',
    );
    const common: Common = {
      gateway: gatewayUrl(gateway.value as string, gateway.source),
      directoryKey: directoryKey(key.value, key.source),
    };
    switch (command) {
      case 'topology':
        if (rest.length > 0) throw new UsageError(`topology takes no arguments, got "${rest.join(' ')}"`);
        return { kind: 'topology', ...common };
      case 'send':
        return { kind: 'send', settings: sendSettings(values, rest), ...common };
      case 'listen': {
        if (rest.length > 0) throw new UsageError(`listen takes no arguments, got "${rest.join(' ')}"`);
        const keyFile = setting(
          'key',
          values.key as string | undefined,
          invocation.env,
          'MIXLAB_KEY',
          invocation.defaultKeyFile,
        );
        const giveUpText = values['give-up-after'] as string | undefined;
        if (giveUpText !== undefined && !/^\s*[1-9]\d*\s*$/.test(giveUpText)) {
          throw new UsageError(
            `--give-up-after must be a whole number >= 1 of failed reconnections, got "${giveUpText}"`,
          );
        }
        const giveUpAfter = giveUpText === undefined ? undefined : Number(giveUpText);
        return { kind: 'listen', keyFile: keyFile.value as string, giveUpAfter, ...common };
      }
      case 'load': {
        if (rest.length > 0) throw new UsageError(`load takes no arguments, got "${rest.join(' ')}"`);
        let settings: ReturnType<typeof parseLoadArgs>;
        try {
          settings = parseLoadArgs(values as LoadArgs);
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        return {
          kind: 'load',
          settings,
          jsonFile: values.json as string | undefined,
          truthFile: values.truth as string | undefined,
          ...common,
        };
      }
      case 'attack':
        return { kind: 'attack', settings: attackSettings(values, rest), ...common };
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { kind: 'error', message: `${error.message}\n${commandUsage(command)}` };
  }
}
