/**
 * `mixlab load`: simulated clients send Poisson traffic through the gateway to each
 * other; prints progress while it runs and a summary at the end.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MixnetClient } from '@mixlab/client';
import { generateKeyPair } from '@mixlab/crypto';
import { formatProgress, formatSummary, type LoadSettings, runLoad } from '@mixlab/load';

export const LOAD_USAGE = `load --clients N --rate R --duration D [--drain D] [--strategy LABEL] [--json FILE]
       [--drop-rate R] [--loop-rate R] [--seed N] [--truth FILE]
      N simulated clients, each with its own key pair and mailbox, each sending R messages
      per second (Poisson; R is per client, so N x R in total) to a random other simulated
      client for D (30s, 2m, or bare seconds), then waiting up to --drain (default 30s) for
      stragglers. --drop-rate and --loop-rate add Loopix cover per client per second (drop
      to the sink, loops to itself). --strategy labels the summary with what the mix nodes
      run; --json writes the summary to FILE. --seed N (0 to 2^32 - 1) draws send times,
      recipients, routes, hop delays and cover timing from N, to repeat a traffic pattern.
      --truth FILE writes who sent what to whom and when (the ground truth \`mixlab attack
      --truth FILE\` scores an attack against; no attack reads it).`;

export interface LoadCommandOptions {
  readonly gateway: string;
  /** The pinned directory key every simulated client verifies the topology with. */
  readonly directoryKey?: string | undefined;
  readonly settings: LoadSettings;
  readonly jsonFile?: string | undefined;
  readonly truthFile?: string | undefined;
  readonly out?: NodeJS.WriteStream;
}

/** Runs the load against `gateway`; Ctrl-C stops sending early and still prints the summary. */
export async function loadCommand({
  gateway,
  directoryKey,
  settings,
  jsonFile,
  truthFile,
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
    const { summary, truth } = await runLoad({
      ...settings,
      connect: (random) => new MixnetClient(gateway, { directoryKey, random }),
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
    // A client of its own: the report goes over a checked connection, under a session.
    const reporter = new MixnetClient(gateway, { directoryKey });
    await reporter.gateway
      .report({
        originated: { message: summary.sent, drop: summary.cover?.drops ?? 0, loop: summary.cover?.loopsSent ?? 0 },
        loops: summary.cover
          ? { sent: summary.cover.loopsSent, returned: summary.cover.loopsReturned, lost: summary.cover.loopsLost }
          : {},
      })
      .catch((error: Error) => out.write(`mixlab: counts not reported to the gateway: ${error.message}\n`));
    await reporter.dispatcher.close();
    if (jsonFile) {
      await mkdir(dirname(jsonFile), { recursive: true });
      await writeFile(jsonFile, `${JSON.stringify(summary, null, 2)}\n`);
      out.write(`summary written to ${jsonFile}\n`);
    }
    if (truthFile) {
      await mkdir(dirname(truthFile), { recursive: true });
      await writeFile(truthFile, `${JSON.stringify(truth)}\n`);
      out.write(`truth written to ${truthFile}\n`);
    }
    return summary;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
