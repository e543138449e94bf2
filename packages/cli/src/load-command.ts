/**
 * `mixlab load`: simulated clients send Poisson traffic through the gateway to each
 * other; prints progress while it runs and a summary at the end.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  GatewayClient,
  type LoadProgress,
  type LoadSettings,
  type LoadSummary,
  MixnetClient,
  parseDuration,
  runLoad,
} from '@mixlab/client';
import { generateKeyPair } from '@mixlab/crypto';

export const LOAD_USAGE = `load --clients N --rate R --duration D [--drain D] [--strategy LABEL] [--json FILE]
       [--drop-rate R] [--loop-rate R]
      N simulated clients, each with its own key pair and mailbox, each sending R messages
      per second (Poisson; R is per client, so N x R in total) to a random other simulated
      client for D (30s, 2m, or bare seconds), then waiting up to --drain (default 30s) for
      stragglers. --drop-rate and --loop-rate add Loopix cover per client per second (drop
      to the sink, loops to itself). --strategy labels the summary with what the mix nodes
      run; --json writes the summary to FILE.`;

export interface LoadArgs {
  readonly clients?: string | undefined;
  readonly rate?: string | undefined;
  readonly duration?: string | undefined;
  readonly drain?: string | undefined;
  readonly strategy?: string | undefined;
  readonly 'drop-rate'?: string | undefined;
  readonly 'loop-rate'?: string | undefined;
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
    durationMs: parseDuration(args.duration, '--duration'),
    drainMs: parseDuration(args.drain ?? '30s', '--drain', { allowZero: true }),
    strategy: args.strategy,
  };
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

export interface LoadCommandOptions {
  readonly gateway: string;
  /** The pinned directory key every simulated client verifies the topology with. */
  readonly directoryKey?: string | undefined;
  readonly settings: LoadSettings;
  readonly jsonFile?: string | undefined;
  readonly out?: NodeJS.WriteStream;
}

/** Runs the load against `gateway`; Ctrl-C stops sending early and still prints the summary. */
export async function loadCommand({
  gateway,
  directoryKey,
  settings,
  jsonFile,
  out = process.stdout,
}: LoadCommandOptions) {
  const tty = out.isTTY === true;
  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  out.write(
    `load: ${settings.clients} clients x ${settings.ratePerClient} msg/s for ${settings.durationMs / 1000} s through ${gateway}${tty ? ' (Ctrl-C stops early)' : ''}\n`,
  );
  let progressShown = false;
  const errors = new Map<string, number>();
  try {
    const { summary } = await runLoad({
      ...settings,
      connect: () => new MixnetClient(gateway, { directoryKey }),
      generateKeys: generateKeyPair,
      signal: stop.signal,
      progressIntervalMs: tty ? 1000 : 5000,
      onProgress: (progress) => {
        const line = formatProgress(progress, settings);
        out.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
        progressShown = true;
      },
      onError: (error) => {
        // Each distinct reason once, so a down gateway does not flood the terminal.
        const seen = errors.get(error.message) ?? 0;
        errors.set(error.message, seen + 1);
        if (seen === 0) out.write(`${tty && progressShown ? '\n' : ''}mixlab: ${error.message}\n`);
      },
    });
    if (tty && progressShown) out.write('\n');
    out.write(`${formatSummary(summary)}\n`);
    // Measurement only: counts of what only these clients know (which packets were cover).
    await new GatewayClient(gateway)
      .report({
        originated: { message: summary.sent, drop: summary.cover?.drops ?? 0, loop: summary.cover?.loopsSent ?? 0 },
        loops: summary.cover
          ? { sent: summary.cover.loopsSent, returned: summary.cover.loopsReturned, lost: summary.cover.loopsLost }
          : {},
      })
      .catch((error: Error) => out.write(`mixlab: counts not reported to the gateway: ${error.message}\n`));
    if (jsonFile) {
      await mkdir(dirname(jsonFile), { recursive: true });
      await writeFile(jsonFile, `${JSON.stringify(summary, null, 2)}\n`);
      out.write(`summary written to ${jsonFile}\n`);
    }
    return summary;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
