/**
 * Reading configuration from the environment, once, in main.ts. Every reader
 * throws a ConfigError that names the variable and what would be valid.
 */
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
