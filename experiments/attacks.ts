/**
 * `npm run experiment -- attacks` (or `npm run experiment:attacks`): the attack lab against
 * real containers. For each strategy (and the onion format once), a fresh cascade under seeded
 * `mixlab load` traffic; the timing and size attacks read only the observer's wire trace and
 * are scored against the load generator's truth afterwards. The statistical disclosure part
 * is the seeded simulation of @mixlab/attacks (rounds against drop-cover share), labelled as
 * such. Writes docs/experiments/attacks.{md,json} and two SVG plots; --push URL posts the
 * scores to a running observer (the dashboard's Attacks row).
 *
 *   npm run experiment -- attacks [--duration 40s --drain 10s --clients 6 --rate 1 --only timed,onion --push http://127.0.0.1:8090]
 *   node experiments/attacks.ts --render docs/experiments/attacks.json
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { scoreDeliveries } from '@mixlab/anonymity';
import {
  disclosureRoundsNeeded,
  joinTruth,
  type LinkingSummary,
  rolesOfTrace,
  scoreLinking,
  simulateDisclosure,
  traceEnds,
} from '@mixlab/attacks';
import { linkingAttack } from '@mixlab/cli/attack';
import { cryptoReady } from '@mixlab/crypto';
import { percentile } from '@mixlab/load';
import { parseDuration, seededRandom } from '@mixlab/runtime';
import { REPO_ROOT } from '@mixlab/testbed';
import { type AttackRunCapture, captureAttackRun } from './attack-run.ts';
import {
  type AttacksRun,
  type DisclosurePoint,
  type LinkScore,
  type LiveResult,
  renderAttacksMarkdown,
  renderDisclosureSvg,
  renderTimingSvg,
} from './attacks-report.ts';
import { machine } from './machine.ts';

/** No mixing, then three mixing strategies of similar delay; then the onion format once. */
const CONFIGURATIONS: readonly { strategy: string; packetFormat: 'sphinx' | 'onion' }[] = [
  { strategy: 'threshold:n=1', packetFormat: 'sphinx' },
  { strategy: 'timed:t=500ms', packetFormat: 'sphinx' },
  { strategy: 'pool:t=500ms,min=3,fraction=0.6', packetFormat: 'sphinx' },
  { strategy: 'exponential:mean=300ms', packetFormat: 'sphinx' },
  { strategy: 'timed:t=500ms', packetFormat: 'onion' },
];
const SEED = 10;
const BODY_BYTES = { min: 1, max: 1000 };
const COVER_SHARES = [0, 0.25, 0.5, 0.75, 0.9];
const DISCLOSURE = { recipients: 100, batchSize: 10, friends: 5 };
const DISCLOSURE_SEEDS = 200;
const DISCLOSURE_BUDGET = 100;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'attacks'),
  options: {
    duration: { type: 'string', default: '40s' },
    drain: { type: 'string', default: '10s' },
    clients: { type: 'string', default: '6' },
    rate: { type: 'string', default: '1' },
    only: { type: 'string' },
    push: { type: 'string' },
    out: { type: 'string', default: join(REPO_ROOT, 'docs', 'experiments') },
    render: { type: 'string' },
    // Only the disclosure simulation: no containers.
    'simulation-only': { type: 'boolean', default: false },
  },
});

async function writeReport(directory: string, run: AttacksRun): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'attacks.json'), `${JSON.stringify(run, null, 1)}\n`);
  await writeFile(join(directory, 'attacks.md'), renderAttacksMarkdown(run));
  await writeFile(join(directory, 'attacks-timing.svg'), renderTimingSvg(run));
  await writeFile(join(directory, 'attacks-disclosure.svg'), renderDisclosureSvg(run));
  console.log(`wrote ${join(directory, 'attacks.md')}, attacks.json, attacks-timing.svg, attacks-disclosure.svg`);
}

if (values.render) {
  await writeReport(dirname(values.render), JSON.parse(await readFile(values.render, 'utf8')) as AttacksRun);
  process.exit(0);
}

const linkScore = (summary: LinkingSummary): LinkScore => ({
  messages: summary.messages,
  top1: summary.top1Accuracy,
  meanRank: summary.meanRank,
  auc: summary.auc,
  randomTop1: summary.baseline.top1Accuracy,
  randomRank: summary.baseline.rank,
});

/**
 * Onion: a push is linked for sure when its submission's size is unique on the wire, else
 * guessed among the submissions of that size: top-1 = distinct submission sizes / submissions
 * (bodies are base64 in JSON on the wire, so about 4 bytes per 3 of body: lengths 1-1000 give
 * some 334 wire sizes, not 1000). Sphinx: one size, 1/N.
 */
function sizeTheory(capture: AttackRunCapture, packetFormat: string): number {
  if (packetFormat !== 'onion') return 1 / capture.senders.length;
  const { submissions } = traceEnds(capture.trace.events, rolesOfTrace(capture.trace));
  return new Set(submissions.map((submission) => submission.bytes)).size / Math.max(submissions.length, 1);
}

/** Every attack of one live run, scored; the attacks see only `capture.trace`. */
function analyse(capture: AttackRunCapture, strategy: string, packetFormat: string): LiveResult {
  const { trace, truth, summary } = capture;
  const timing = linkingAttack('timing', trace);
  const size = linkingAttack('size', trace);
  // The scorer's join: the only place where truth and trace meet.
  const join = joinTruth(truth, trace.events, rolesOfTrace(trace));
  const score = (estimates: Parameters<typeof scoreLinking>[0]) =>
    linkScore(scoreLinking(estimates, join.records, capture.senders).summary);
  const observer = scoreDeliveries(capture.observerEstimates, join.records, capture.senders).summary;
  return {
    strategy,
    packetFormat,
    startSeconds: capture.startSeconds,
    sent: summary.sent,
    delivered: summary.delivered,
    senders: capture.senders.length,
    ...(summary.latencyMs ? { latencyP50Ms: summary.latencyMs.p50Ms, latencyMeanMs: summary.latencyMs.meanMs } : {}),
    timing: { ...score(timing.estimates), modalDelayMs: timing.learned.modalDelayMs },
    size: {
      ...score(size.estimates),
      shrinkBytes: size.learned.shrinkBytes,
      theoryTop1: sizeTheory(capture, packetFormat),
      exitLinkSizes: size.exitLink?.sizes ?? [],
    },
    observer: {
      messages: observer.messages,
      top1: observer.top1Accuracy,
      meanRank: observer.meanRank,
      auc: Number.NaN,
      randomTop1: observer.baseline.top1Accuracy,
      randomRank: observer.baseline.rank,
    },
    unjoined: join.unjoined,
  };
}

function disclosurePoints(): DisclosurePoint[] {
  return COVER_SHARES.map((coverShare) => {
    const rounds: number[] = [];
    let undisclosed = 0;
    for (let seed = 0; seed < DISCLOSURE_SEEDS; seed++) {
      const run = simulateDisclosure(seededRandom(seed), { ...DISCLOSURE, coverShare, maxRounds: 1500 });
      if (run.roundsToDisclose === undefined) undisclosed++;
      else rounds.push(run.roundsToDisclose);
    }
    rounds.sort((a, b) => a - b);
    const stretch = 1 / (1 - coverShare);
    return {
      coverShare,
      seeds: DISCLOSURE_SEEDS,
      medianRounds: percentile(rounds, 50),
      p10Rounds: percentile(rounds, 10),
      p90Rounds: percentile(rounds, 90),
      undisclosed,
      closedFormL1: disclosureRoundsNeeded(DISCLOSURE, 1) * stretch,
      closedFormL2: disclosureRoundsNeeded(DISCLOSURE, 2) * stretch,
      successWithinBudget: rounds.filter((r) => r <= DISCLOSURE_BUDGET).length / DISCLOSURE_SEEDS,
    };
  });
}

const load = {
  clients: Number(values.clients),
  ratePerClient: Number(values.rate),
  durationMs: parseDuration(values.duration, { bareUnit: 's', what: '--duration' }),
  drainMs: parseDuration(values.drain, { bareUnit: 's', what: '--drain', allowZero: true }),
};
const chosen = values['simulation-only']
  ? []
  : values.only
    ? CONFIGURATIONS.filter((c) =>
        values.only?.split(',').some((only) => c.strategy.startsWith(only) || c.packetFormat === only),
      )
    : CONFIGURATIONS;
if (chosen.length === 0 && !values['simulation-only'])
  throw new Error(`--only ${values.only} matches none of the configurations`);

await cryptoReady();
const startedAt = new Date();
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

log('statistical disclosure: seeded simulation');
const disclosure = disclosurePoints();
for (const p of disclosure)
  log(`  q = ${p.coverShare}: median ${p.medianRounds} rounds (${p.p10Rounds}-${p.p90Rounds})`);

const live: LiveResult[] = [];
for (const [index, { strategy, packetFormat }] of chosen.entries()) {
  const name = `${strategy} (${packetFormat})`;
  log(`(${index + 1}/${chosen.length}) ${name}: starting the cascade`);
  const began = Date.now();
  try {
    const capture = await captureAttackRun({
      strategy,
      packetFormat,
      ...load,
      seed: SEED,
      bodyBytes: BODY_BYTES,
      log: (line) => log(`${name}: ${line}`),
    });
    const result = analyse(capture, strategy, packetFormat);
    live.push(result);
    log(
      `${name}: timing top-1 ${result.timing?.top1.toFixed(3)} (AUC ${result.timing?.auc.toFixed(3)}), ` +
        `size top-1 ${result.size?.top1.toFixed(3)}, observer top-1 ${result.observer?.top1.toFixed(3)}, ` +
        `${result.unjoined} unjoined`,
    );
  } catch (error) {
    log(`${name}: failed: ${(error as Error).message}`);
    live.push({ strategy, packetFormat, error: (error as Error).message.split('\n')[0] ?? 'unknown' });
  }
  log(`${name}: done in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  // Written after every configuration, so that a run cut short still leaves its results.
  await writeReport(values.out, assemble());
}

function assemble(): AttacksRun {
  const scores = [
    ...live
      .filter((r) => r.timing && r.packetFormat === 'sphinx')
      .map((r) => ({ attack: 'timing', strategy: r.strategy, successRatio: r.timing?.top1 as number })),
    ...live
      .filter((r) => r.size)
      .map((r) => ({
        attack: 'size',
        strategy: `${r.packetFormat} ${r.strategy}`,
        successRatio: r.size?.top1 as number,
      })),
    ...disclosure.map((p) => ({
      attack: 'disclosure',
      strategy: `drop cover q=${p.coverShare}`,
      successRatio: p.successWithinBudget,
    })),
  ].filter((s) => Number.isFinite(s.successRatio));
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: machine(),
    load: {
      clients: load.clients,
      ratePerClient: load.ratePerClient,
      durationSeconds: load.durationMs / 1000,
      drainSeconds: load.drainMs / 1000,
      seed: SEED,
      bodyBytes: BODY_BYTES,
    },
    live,
    disclosure: { simulated: true, ...DISCLOSURE, budgetRounds: DISCLOSURE_BUDGET, points: disclosure },
    scores,
  };
}

const run = assemble();
await writeReport(values.out, run);
if (values.push) {
  const response = await fetch(new URL('/v1/attack-scores', values.push), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ scores: run.scores }),
  });
  log(`scores posted to ${values.push}: ${response.status}`);
}
log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
process.exit(0);
