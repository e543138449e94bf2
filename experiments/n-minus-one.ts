/**
 * `npm run experiment -- n1`: the round-based n − 1 attack live, against mixes that release on
 * a clock (docs/attacks.md, "The n − 1 proxy"). Per strategy one cascade with the n1-proxy in
 * front of layer 1 (the strategy under test there; layers 2 and 3 `threshold:n=1`, so the
 * target's delivery times its release at layer 1). The proxy floods layer 1 with N own packets
 * per round; each trial names the next request the target's, a client sends one message, and
 * the proxy follows it on the observer's taps until it is pushed; the rounds it counted are
 * compared with the closed form of @mixlab/attacks (success by round r = 1 − retention^r).
 * Writes the `nMinusOne` part of docs/experiments/attacks.{json,md}, keeping the rest.
 *
 *   npm run experiment -- n1 [--trials 15 --only pool,binomial]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type RecordedTrace, rolesOfTrace, targetRetention } from '@mixlab/attacks';
import { MixnetClient, type ReceivedMessage } from '@mixlab/client';
import { cryptoReady, generateKeyPair } from '@mixlab/crypto';
import { parseStrategyConfig } from '@mixlab/mixing';
import { type Cascade, eventually, REPO_ROOT, startCascade } from '@mixlab/testbed';
import { type AttacksRun, type NMinusOneRow, nMinusOneScores, writeAttacksReport } from './attacks-report.ts';
import { machine } from './machine.ts';

/** N own packets per round; the pool keeps min = 10 of N + 10: retention 2/3 a round. */
const PER_ROUND = 5;
const STRATEGIES = ['timed:t=1s', 'pool:t=1s,min=10,fraction=1', 'binomial:t=1s,p=0.5'];
/** Rounds of flooding before the first target, so that the pool holds only the attacker's, in steady state. */
const WARM_UP_ROUNDS = 5;
/** The least distance between the proxy's own requests and layer 1's ticks it runs with. */
const TICK_CLEARANCE_MS = 100;
/** Rounds shown in the success-by-round columns. */
const SHOWN_ROUNDS = 5;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'n1'),
  options: {
    trials: { type: 'string', default: '15' },
    only: { type: 'string' },
    out: { type: 'string', default: join(REPO_ROOT, 'docs', 'experiments') },
  },
});
const trials = Number(values.trials);
if (!(Number.isSafeInteger(trials) && trials >= 1)) throw new Error(`--trials must be a whole number >= 1`);
const chosen = values.only
  ? STRATEGIES.filter((s) => values.only?.split(',').some((only) => s.startsWith(only)))
  : STRATEGIES;
if (chosen.length === 0) throw new Error(`--only ${values.only} matches none of ${STRATEGIES.join(', ')}`);

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

interface ProxyStatus {
  readonly rounds: readonly number[];
  readonly following: boolean;
  readonly injected: number;
  readonly held: number;
  readonly failedRounds: number;
  readonly lastError?: string;
}

async function control(cascade: Cascade, action: string, body?: object): Promise<ProxyStatus> {
  const response = await fetch(`${cascade.n1ProxyUrl}/attack${action}`, {
    method: action ? 'POST' : 'GET',
    ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`/attack${action} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as ProxyStatus;
}

/** Layer 1's input from the gateway and its releases, from the observer's trace. */
async function entryTraffic(cascade: Cascade) {
  const trace = (await (await fetch(`${cascade.observerUrl}/v1/trace?limit=100000`)).json()) as RecordedTrace;
  const roles = rolesOfTrace(trace);
  const layer = (wanted: number) => new Set(roles.nodes.filter((n) => n.layer === wanted).map((n) => n.name));
  const [entry, second, gateways] = [layer(1), layer(2), new Set(roles.gateways)];
  return {
    arrivals: trace.events.filter((e) => gateways.has(e.from) && entry.has(e.to)),
    releases: trace.events.filter((e) => entry.has(e.from) && second.has(e.to)),
  };
}

/** Layer 1's releases in the whole run, by size: with one injection per tick the pool's are all N. */
async function entryReleaseSizes(cascade: Cascade): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const e of (await entryTraffic(cascade)).releases) sizes[e.packets] = (sizes[e.packets] ?? 0) + 1;
  return sizes;
}

/**
 * How close the proxy's own requests land to layer 1's ticks (ms, the nearest of the last
 * few): too close, and latency jitter puts two in one tick and none in the next.
 */
async function tickClearanceMs(cascade: Cascade): Promise<number> {
  const { arrivals, releases } = await entryTraffic(cascade);
  const times = releases.map((e) => e.atMs);
  return Math.min(
    ...arrivals.slice(-3).map((a) => Math.min(...times.map((t) => Math.abs(t - a.atMs)))),
    Number.POSITIVE_INFINITY,
  );
}

async function runStrategy(strategy: string): Promise<NMinusOneRow> {
  const config = parseStrategyConfig(strategy);
  if (!('intervalMs' in config)) throw new Error(`${strategy} releases on no clock`);
  const roundMs = config.intervalMs;
  const began = Date.now();
  const cascade = await startCascade(
    { MIXLAB_STRATEGY: strategy, MIXLAB_LAYER_2_STRATEGY: 'threshold:n=1', MIXLAB_LAYER_3_STRATEGY: 'threshold:n=1' },
    { attack: true },
  );
  const startedMs = Date.now() - began;
  const measured: number[] = [];
  const delivered: number[] = [];
  let releaseSizes: Record<string, number> = {};
  let failedRounds = 0;
  let clearanceMs = Number.NaN;
  let error: string | undefined;
  const { gatewayUrl, directoryKey } = cascade;
  const sender = new MixnetClient(gatewayUrl, { directoryKey });
  const receiver = new MixnetClient(gatewayUrl, { directoryKey });
  const alice = generateKeyPair();
  const inbox: ReceivedMessage[] = [];
  const subscription = receiver.receive(alice, (message) => {
    inbox.push(message);
  });
  try {
    await subscription.opened;
    // The proxy's rounds are on its own clock: started again (a new phase) while its requests
    // land within TICK_CLEARANCE_MS of a tick.
    for (let attempt = 1; ; attempt++) {
      await control(cascade, '/start', { perRound: PER_ROUND, roundMs });
      await new Promise((resolve) => setTimeout(resolve, WARM_UP_ROUNDS * roundMs));
      clearanceMs = await tickClearanceMs(cascade);
      if (clearanceMs >= TICK_CLEARANCE_MS || attempt === 3) break;
      log(`${strategy}: own requests ${clearanceMs} ms from a tick; the attack starts again`);
      await control(cascade, '/stop');
      await new Promise((resolve) => setTimeout(resolve, roundMs * (0.3 + 0.4 * Math.random())));
    }
    for (let trial = 1; trial <= trials; trial++) {
      await control(cascade, '/target');
      const sentAt = Date.now();
      await sender.send(alice.publicKey, new TextEncoder().encode(`target ${trial}`));
      const status = await eventually(
        `the proxy to see target ${trial} leave`,
        async () => {
          const s = await control(cascade, '');
          return s.rounds.length === trial ? s : undefined;
        },
        60_000,
        250,
      );
      const rounds = status.rounds[trial - 1] as number;
      measured.push(rounds);
      await eventually(`target ${trial} in the inbox`, async () => (inbox.length === trial ? true : undefined), 10_000);
      const body = new TextDecoder().decode(inbox[trial - 1]?.body);
      if (body !== `target ${trial}`) throw new Error(`delivery ${trial} was "${body}", not the target's`);
      delivered.push(Date.now() - sentAt);
      log(`${strategy}: target ${trial} out after ${rounds} round(s)`);
    }
    const final = await control(cascade, '/stop');
    failedRounds = final.failedRounds;
    releaseSizes = await entryReleaseSizes(cascade);
  } catch (failure) {
    error = (failure as Error).message.split('\n')[0];
    log(`${strategy}: failed: ${error}`);
  } finally {
    subscription.close();
    await cascade.stop();
  }
  const retention = (r: number) => targetRetention(config, r, { attackerPerRound: PER_ROUND });
  const successByRound = Array.from({ length: SHOWN_ROUNDS }, (_, i) => ({
    rounds: i + 1,
    measured: measured.filter((r) => r <= i + 1).length / Math.max(measured.length, 1),
    closedForm: 1 - retention(i + 1),
  }));
  const perRoundRetention = retention(1);
  return {
    strategy,
    perRound: PER_ROUND,
    roundMs,
    planned: trials,
    trials: measured.length,
    rounds: measured,
    meanRounds: measured.reduce((a, b) => a + b, 0) / Math.max(measured.length, 1),
    // Rounds to leave are geometric: mean 1/(1 − retention).
    closedFormMeanRounds: perRoundRetention >= 1 ? Number.POSITIVE_INFINITY : 1 / (1 - perRoundRetention),
    perRoundRetention,
    successByRound,
    entryReleaseSizes: releaseSizes,
    tickClearanceMs: clearanceMs,
    failedRounds,
    meanDeliveryMs: delivered.reduce((a, b) => a + b, 0) / Math.max(delivered.length, 1),
    cascadeStartMs: startedMs,
    ...(error ? { error } : {}),
  };
}

await cryptoReady();
const startedAt = new Date();
const rows: NMinusOneRow[] = [];
for (const strategy of chosen) {
  log(`${strategy}: starting the cascade`);
  rows.push(await runStrategy(strategy));
  const row = rows.at(-1) as NMinusOneRow;
  log(
    `${strategy}: mean ${row.meanRounds.toFixed(2)} rounds over ${row.trials} (closed form ${row.closedFormMeanRounds.toFixed(2)}); ` +
      `layer-1 releases by size ${JSON.stringify(row.entryReleaseSizes)}`,
  );
}

const path = join(values.out, 'attacks.json');
const previous = JSON.parse(await readFile(path, 'utf8')) as AttacksRun;
const nMinusOne = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: machine(),
  rows,
};
const scores = [...previous.scores.filter((s) => s.attack !== 'n-1'), ...nMinusOneScores(rows)];
await writeAttacksReport(values.out, { ...previous, nMinusOne, scores });
log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
process.exit(0);
