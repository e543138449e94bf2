/**
 * Reading configuration from the environment, once, in main.ts. Every reader
 * throws a ConfigError that names the variable and what would be valid;
 * `readConfigOrExit` turns it into one line on stderr and exit code 78.
 */
import { DatabaseFileError } from '@mixlab/runtime';

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === '' ? undefined : value;
}

export function envString(env: Env, name: string, fallback?: string): string {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) throw new ConfigError(`${name} is required`);
  return value;
}

/** An optional string; unset or empty mean undefined. */
export function envOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function envInt(env: Env, name: string, fallback: number | undefined, min: number, max: number): number {
  const text = raw(env, name);
  if (text === undefined) {
    if (fallback === undefined) throw new ConfigError(`${name} is required (an integer from ${min} to ${max})`);
    return fallback;
  }
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

/** An optional positive integer; unset, empty or "off" mean undefined. */
export function envOptionalInt(env: Env, name: string, min: number, max: number): number | undefined {
  const text = raw(env, name);
  if (text === undefined || text === 'off') return undefined;
  return envInt(env, name, undefined, min, max);
}

export function envUrl(env: Env, name: string, fallback?: string): string {
  const value = envString(env, name, fallback);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL, got "${value}"`);
  }
  return value.replace(/\/+$/, '');
}

export function envChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const value = raw(env, name) ?? fallback;
  if (!choices.includes(value as T)) {
    throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${value}"`);
  }
  return value as T;
}

/** A string that must match `pattern` (for ids that end up in packets and URLs). */
export function envPattern(env: Env, name: string, pattern: string, fallback?: string): string {
  const value = envString(env, name, fallback);
  if (!new RegExp(pattern).test(value)) throw new ConfigError(`${name} must match ${pattern}, got "${value}"`);
  return value;
}

/** A decimal number from `min` to `max` (rates, fractions). */
export function envNumber(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value < min || value > max) {
    throw new ConfigError(`${name} must be a number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** LOG_LEVEL, the same in every service: one of LOG_LEVELS, default info. */
export function envLogLevel(env: Env): LogLevel {
  return envChoice(env, 'LOG_LEVEL', LOG_LEVELS, 'info');
}

/** sysexits.h EX_CONFIG: the process ended because of its configuration. */
export const EX_CONFIG = 78;

/**
 * Runs `read` (a service's config reader) and returns its result; on a ConfigError it
 * prints one line naming the variable and what is valid, with no stack trace, and exits
 * with EX_CONFIG, so an operator sees the fix at once and a supervisor can tell a
 * misconfiguration from a crash. Any other error is a bug and is thrown as it is.
 */
export function readConfigOrExit<T>(service: string, read: () => T): T {
  return orExit(service, read, ConfigError, 'configuration error', EX_CONFIG);
}

/** sysexits.h EX_DATAERR: the process ended because its state on disk cannot be used. */
export const EX_DATAERR = 65;

/**
 * Runs `open` (what opens a service's state on disk) and returns its result; on a
 * DatabaseFileError (a damaged, foreign, newer or unwritable file) it prints that one
 * message, which names the file and what to do, and exits with EX_DATAERR. Nothing is
 * replaced or repaired. Any other error is thrown as it is.
 */
export function openStateOrExit<T>(service: string, open: () => T): T {
  return orExit(service, open, DatabaseFileError, 'state error', EX_DATAERR);
}

/** `run`'s result; an `expected` error becomes one line on stderr and exit code `code`. */
function orExit<T>(
  service: string,
  run: () => T,
  expected: new (message: string) => Error,
  label: string,
  code: number,
): T {
  try {
    return run();
  } catch (error) {
    if (!(error instanceof expected)) throw error;
    process.stderr.write(`${service}: ${label}: ${error.message}\n`);
    process.exit(code);
  }
}
