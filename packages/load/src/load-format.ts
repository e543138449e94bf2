/**
 * The pure part of `mixlab load` (the CLI keeps the wiring): its command line, and the
 * progress and summary lines it prints, shared with the experiments.
 */
import { parseDuration } from '@mixlab/runtime';
import type { LoadProgress, LoadSettings, LoadSummary } from './load-generator.ts';

export interface LoadArgs {
  readonly clients?: string | undefined;
  readonly rate?: string | undefined;
  readonly duration?: string | undefined;
  readonly drain?: string | undefined;
  readonly strategy?: string | undefined;
  readonly 'drop-rate'?: string | undefined;
  readonly 'loop-rate'?: string | undefined;
  readonly seed?: string | undefined;
}

/** Validates the command line of `mixlab load`; throws an Error naming the bad option. */
export function parseLoadArgs(args: LoadArgs): LoadSettings {
  if (args.clients === undefined) throw new Error('load needs --clients N (simulated clients, e.g. 4)');
  if (args.rate === undefined) throw new Error('load needs --rate R (messages per second per client, e.g. 2)');
  if (args.duration === undefined) throw new Error('load needs --duration D (e.g. 30s, 2m or 45)');
  const clients = Number(args.clients);
  if (!/^\s*\d+\s*$/.test(args.clients) || clients < 1) {
    throw new Error(`--clients must be a whole number >= 1, got "${args.clients}"`);
  }
  const rate = Number(args.rate);
  if (args.rate.trim() === '' || !Number.isFinite(rate) || rate <= 0) {
    throw new Error(`--rate must be a number of messages per second > 0 (per client), got "${args.rate}"`);
  }
  const coverRate = (flag: '--drop-rate' | '--loop-rate', text: string | undefined) => {
    const value = Number(text ?? '0');
    if (text?.trim() === '' || !Number.isFinite(value) || value < 0) {
      throw new Error(`${flag} must be a number of packets per second >= 0 (per client), got "${text}"`);
    }
    return value;
  };
  return {
    clients,
    ratePerClient: rate,
    dropRatePerClient: coverRate('--drop-rate', args['drop-rate']),
    loopRatePerClient: coverRate('--loop-rate', args['loop-rate']),
    durationMs: parseDuration(args.duration, { bareUnit: 's', what: '--duration' }),
    drainMs: parseDuration(args.drain ?? '30s', { bareUnit: 's', what: '--drain', allowZero: true }),
    strategy: args.strategy,
    ...(args.seed === undefined ? {} : { seed: parseSeed(args.seed) }),
  };
}

/** A seed for seededRandom: a whole number in [0, 2^32). */
function parseSeed(text: string): number {
  const seed = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || seed >= 2 ** 32) {
    throw new Error(`--seed must be a whole number in [0, 4294967295], got "${text}"`);
  }
  return seed;
}

const ms = (value: number | undefined) => (value === undefined ? '-' : `${Math.round(value)} ms`);

/** One progress line, without a line ending. */
export function formatProgress(progress: LoadProgress, settings: LoadSettings): string {
  const elapsed = `${(progress.elapsedMs / 1000).toFixed(1)}s/${settings.durationMs / 1000}s`;
  return [
    progress.phase === 'sending' ? elapsed : `draining ${(progress.elapsedMs / 1000).toFixed(1)}s`,
    `sent ${progress.sent}`,
    `delivered ${progress.delivered}`,
    `in flight ${progress.inFlight}`,
    `p50 ${ms(progress.p50Ms)}`,
  ].join('  ');
}

/** The summary as aligned lines of text. */
export function formatSummary(summary: LoadSummary): string {
  const percent = (part: number) => (summary.sent > 0 ? ` (${((100 * part) / summary.sent).toFixed(1)}%)` : '');
  const latency = summary.latencyMs;
  const rows: [string, string][] = [
    ['strategy', summary.strategy ?? '(not given; label it with --strategy)'],
    [
      'offered load',
      `${summary.clients} clients x ${summary.ratePerClient} msg/s = ${summary.offeredRate} msg/s for ${summary.durationSeconds} s (drain up to ${summary.drainSeconds} s)`,
    ],
    ['sent', `${summary.sent}${summary.sendErrors > 0 ? ` (${summary.sendErrors} sends failed)` : ''}`],
    ['delivered', `${summary.delivered}${percent(summary.delivered)}`],
    ['lost', `${summary.lost}${percent(summary.lost)}`],
    ['duplicates', String(summary.duplicates)],
    ...(summary.unexpected > 0 ? [['unexpected', String(summary.unexpected)] as [string, string]] : []),
    [
      'latency',
      latency
        ? `p50 ${ms(latency.p50Ms)}  p95 ${ms(latency.p95Ms)}  p99 ${ms(latency.p99Ms)}  (min ${ms(latency.minMs)}, mean ${ms(latency.meanMs)}, max ${ms(latency.maxMs)})`
        : '- (nothing delivered)',
    ],
    ['throughput', `${summary.throughput.toFixed(2)} msg/s delivered`],
    ...(summary.cover
      ? [
          [
            'cover',
            `${summary.cover.drops} drops, ${summary.cover.loopsSent} loops: ${summary.cover.loopsReturned} back, ${summary.cover.loopsLost} lost, ${summary.cover.loopsOutstanding} still out; loop round trip p50 ${ms(summary.cover.loopRoundTripMs?.p50Ms)}`,
          ] as [string, string],
        ]
      : []),
    ['elapsed', `${summary.elapsedSeconds.toFixed(1)} s`],
  ];
  return rows.map(([name, value]) => `${name.padEnd(13)}${value}`).join('\n');
}
