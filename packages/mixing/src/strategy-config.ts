import { parseDuration } from '@mixlab/runtime';
import { BinomialStrategy } from './binomial.ts';
import { ExponentialStrategy } from './exponential.ts';
import { type MixStrategy, type StrategyContext, type StrategyName, strategyNames } from './mix-strategy.ts';
import { PoolStrategy } from './pool.ts';
import { ThresholdStrategy } from './threshold.ts';
import { ThresholdAndTimedStrategy } from './threshold-and-timed.ts';
import { ThresholdOrTimedStrategy } from './threshold-or-timed.ts';
import { TimedStrategy } from './timed.ts';

/** Where an exponential mix takes each packet's delay from. */
export type DelaySource = 'drawn' | 'sender';

/** A parsed, validated strategy configuration; `name` says which fields are present. */
export type StrategyConfig =
  | { readonly name: 'threshold'; readonly threshold: number; readonly maxWaitMs?: number }
  | { readonly name: 'timed'; readonly intervalMs: number }
  | { readonly name: 'threshold-or-timed'; readonly threshold: number; readonly intervalMs: number }
  | { readonly name: 'threshold-and-timed'; readonly threshold: number; readonly intervalMs: number }
  | { readonly name: 'pool'; readonly intervalMs: number; readonly minPool: number; readonly fraction: number }
  | { readonly name: 'binomial'; readonly intervalMs: number; readonly probability: number }
  | { readonly name: 'exponential'; readonly delay: DelaySource; readonly meanDelayMs?: number };

/** One valid configuration string per strategy, for help texts and error messages. */
export const strategyConfigExamples: Readonly<Record<StrategyName, string>> = {
  threshold: 'threshold:n=10,maxWait=2000ms',
  timed: 'timed:t=500ms',
  'threshold-or-timed': 'threshold-or-timed:n=10,t=1s',
  'threshold-and-timed': 'threshold-and-timed:n=10,t=1s',
  pool: 'pool:t=1s,min=20,fraction=0.6',
  binomial: 'binomial:t=1s,p=0.3',
  exponential: 'exponential:mean=200ms',
};

/** A configuration string that does not describe a valid strategy; the message says why. */
export class StrategyConfigError extends Error {
  override readonly name = 'StrategyConfigError';
}

type ParameterKind = 'count' | 'count0' | 'duration' | 'unit' | 'delay';

const kindHelp: Record<ParameterKind, string> = {
  count: 'a whole number >= 1',
  count0: 'a whole number >= 0',
  duration: 'a duration > 0 with a unit, like 500ms or 1.5s',
  unit: 'a number in (0, 1], like 0.3',
  delay: 'drawn or sender',
};

interface ParameterSpec {
  readonly kind: ParameterKind;
  readonly required: boolean;
  readonly meaning: string;
}

const n: ParameterSpec = { kind: 'count', required: true, meaning: 'batch size' };
const t: ParameterSpec = { kind: 'duration', required: true, meaning: 'period' };

const parameterSpecs: Readonly<Record<StrategyName, Readonly<Record<string, ParameterSpec>>>> = {
  threshold: { n, maxWait: { kind: 'duration', required: false, meaning: 'flush after the first packet' } },
  timed: { t },
  'threshold-or-timed': { n, t },
  'threshold-and-timed': { n, t },
  pool: {
    t,
    min: { kind: 'count0', required: true, meaning: 'packets always kept' },
    fraction: { kind: 'unit', required: true, meaning: 'share of the excess sent per tick' },
  },
  binomial: { t, p: { kind: 'unit', required: true, meaning: 'chance each packet leaves per tick' } },
  exponential: {
    mean: { kind: 'duration', required: false, meaning: 'mean of the drawn delay' },
    delay: { kind: 'delay', required: false, meaning: 'where the delay comes from, default drawn' },
  },
};

const COUNT = /^\d+$/;
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;

function isStrategyName(name: string): name is StrategyName {
  return (strategyNames as readonly string[]).includes(name);
}

/**
 * Parses one configuration string: `name[:key=value[,key=value]...]`, e.g.
 * `pool:t=1s,min=20,fraction=0.6`. Throws a StrategyConfigError that quotes the input,
 * says what is wrong and what would be valid.
 */
export function parseStrategyConfig(text: string): StrategyConfig {
  const fail = (reason: string): never => {
    throw new StrategyConfigError(`invalid mixing strategy "${text}": ${reason}`);
  };
  const colon = text.indexOf(':');
  const name = (colon === -1 ? text : text.slice(0, colon)).trim();
  if (!isStrategyName(name)) {
    return fail(
      name === ''
        ? `no strategy name; valid names: ${strategyNames.join(', ')}`
        : `unknown strategy "${name}"; valid names: ${strategyNames.join(', ')}`,
    );
  }
  const specs = parameterSpecs[name];
  const valid = `valid for ${name}: ${describeParameters(name)}; e.g. ${strategyConfigExamples[name]}`;
  const raw = new Map<string, string>();
  const list = colon === -1 ? '' : text.slice(colon + 1).trim();
  if (colon !== -1 && list === '') fail(`nothing after "${name}:"; ${valid}`);
  for (const part of list === '' ? [] : list.split(',')) {
    const equals = part.indexOf('=');
    const key = (equals === -1 ? part : part.slice(0, equals)).trim();
    const value = equals === -1 ? '' : part.slice(equals + 1).trim();
    if (key === '') fail(`empty parameter in "${list}"; write key=value pairs separated by commas; ${valid}`);
    if (!Object.hasOwn(specs, key)) fail(`${name} has no parameter "${key}"; ${valid}`);
    if (equals === -1 || value === '') fail(`${key} has no value; ${valid}`);
    if (raw.has(key)) fail(`${key} is given twice`);
    raw.set(key, value);
  }

  const values = new Map<string, number | DelaySource>();
  for (const [key, spec] of Object.entries(specs)) {
    const value = raw.get(key);
    if (value === undefined) {
      if (spec.required) fail(`${name} needs ${key} (${spec.meaning}, ${kindHelp[spec.kind]}); ${valid}`);
      continue;
    }
    const parsed = parseValue(spec.kind, value);
    if (parsed === undefined) fail(`${key} must be ${kindHelp[spec.kind]}, got "${value}"`);
    values.set(key, parsed as number | DelaySource);
  }
  const number = (key: string): number => values.get(key) as number;
  const optionalNumber = (key: string): number | undefined => values.get(key) as number | undefined;

  switch (name) {
    case 'threshold': {
      const maxWaitMs = optionalNumber('maxWait');
      return { name, threshold: number('n'), ...(maxWaitMs === undefined ? {} : { maxWaitMs }) };
    }
    case 'timed':
      return { name, intervalMs: number('t') };
    case 'threshold-or-timed':
    case 'threshold-and-timed':
      return { name, threshold: number('n'), intervalMs: number('t') };
    case 'pool':
      return { name, intervalMs: number('t'), minPool: number('min'), fraction: number('fraction') };
    case 'binomial':
      return { name, intervalMs: number('t'), probability: number('p') };
    case 'exponential': {
      const delay = (values.get('delay') as DelaySource | undefined) ?? 'drawn';
      const meanDelayMs = optionalNumber('mean');
      if (delay === 'drawn' && meanDelayMs === undefined) {
        fail(
          'exponential needs mean (e.g. mean=200ms) to draw delays, or delay=sender to use the delay each packet carries',
        );
      }
      return { name, delay, ...(meanDelayMs === undefined ? {} : { meanDelayMs }) };
    }
  }
}

function parseValue(kind: ParameterKind, value: string): number | DelaySource | undefined {
  switch (kind) {
    case 'count':
    case 'count0': {
      if (!COUNT.test(value)) return undefined;
      const count = Number(value);
      if (!Number.isSafeInteger(count) || (kind === 'count' && count < 1)) return undefined;
      return count;
    }
    case 'unit': {
      if (!DECIMAL.test(value)) return undefined;
      const unit = Number(value);
      return unit > 0 && unit <= 1 ? unit : undefined;
    }
    case 'duration': {
      try {
        return parseDuration(value, { units: ['ms', 's'] });
      } catch {
        return undefined; // the caller says what a duration must look like
      }
    }
    case 'delay':
      return value === 'drawn' || value === 'sender' ? value : undefined;
  }
}

function describeParameters(name: StrategyName): string {
  return Object.entries(parameterSpecs[name])
    .map(([key, spec]) => `${key}${spec.required ? '' : ' (optional)'} = ${kindHelp[spec.kind]}`)
    .join('; ');
}

/** The canonical configuration string for a config (durations in ms); parses back to an equal config. */
export function formatStrategyConfig(config: StrategyConfig): string {
  const parts: string[] = [];
  switch (config.name) {
    case 'threshold':
      parts.push(`n=${config.threshold}`);
      if (config.maxWaitMs !== undefined) parts.push(`maxWait=${config.maxWaitMs}ms`);
      break;
    case 'timed':
      parts.push(`t=${config.intervalMs}ms`);
      break;
    case 'threshold-or-timed':
    case 'threshold-and-timed':
      parts.push(`n=${config.threshold}`, `t=${config.intervalMs}ms`);
      break;
    case 'pool':
      parts.push(`t=${config.intervalMs}ms`, `min=${config.minPool}`, `fraction=${config.fraction}`);
      break;
    case 'binomial':
      parts.push(`t=${config.intervalMs}ms`, `p=${config.probability}`);
      break;
    case 'exponential':
      if (config.meanDelayMs !== undefined) parts.push(`mean=${config.meanDelayMs}ms`);
      if (config.delay !== 'drawn') parts.push(`delay=${config.delay}`);
      break;
  }
  return parts.length === 0 ? config.name : `${config.name}:${parts.join(',')}`;
}

/** What a strategy may need to know about the items it mixes. */
export interface StrategyItemAccess<T> {
  /** The delay a packet carries, for `exponential` with `delay=sender`. */
  readonly delayOf?: ((item: T) => number | undefined) | undefined;
}

/** Builds the strategy a config describes. */
export function createStrategy<T>(
  config: StrategyConfig,
  context: StrategyContext<T>,
  items: StrategyItemAccess<T> = {},
): MixStrategy<T> {
  switch (config.name) {
    case 'threshold':
      return new ThresholdStrategy<T>(config, context);
    case 'timed':
      return new TimedStrategy<T>(config, context);
    case 'threshold-or-timed':
      return new ThresholdOrTimedStrategy<T>(config, context);
    case 'threshold-and-timed':
      return new ThresholdAndTimedStrategy<T>(config, context);
    case 'pool':
      return new PoolStrategy<T>(config, context);
    case 'binomial':
      return new BinomialStrategy<T>(config, context);
    case 'exponential':
      if (config.delay === 'drawn') return new ExponentialStrategy<T>({ meanDelayMs: config.meanDelayMs }, context);
      if (!items.delayOf) {
        throw new StrategyConfigError(
          "exponential with delay=sender needs to read each packet's delay: pass { delayOf } to createStrategy",
        );
      }
      return new ExponentialStrategy<T>({ meanDelayMs: config.meanDelayMs, delayOf: items.delayOf }, context);
  }
}
