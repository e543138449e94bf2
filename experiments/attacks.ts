/**
 * `npm run experiment -- attacks` (or `npm run experiment:attacks`): the attack lab against
 * real containers. For each strategy (and the onion format once), a fresh cascade under seeded
 * `mixlab load` traffic; the timing and size attacks read only the observer's wire trace and
 * are scored against the load generator's truth afterwards. The statistical disclosure attack
 * runs live on a threshold cascade whose load plants a target with m friends (with and
 * without client drop cover), next to the seeded simulation of @mixlab/attacks; paired runs
 * with and without cover (client drops, node loops) score the timing attack and a cover
 * distinguisher. Writes docs/experiments/attacks.{md,json} and two SVG plots; the observer
 * follows attacks.json for the dashboard's Attacks row.
 *
 *   npm run experiment -- attacks [--duration 40s --drain 10s --clients 6 --rate 1 --only timed,onion --parts linking,disclosure,cover]
 *   node experiments/attacks.ts --render docs/experiments/attacks.json
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { scoreDeliveries } from '@mixlab/anonymity';
import {
  coverLabels,
  type DisclosureModel,
  disclosureRoundsNeeded,
  evaluateDistinguisher,
  joinTruth,
  type LinkingSummary,
  rolesOfTrace,
  scoreLinking,
  simulateDisclosure,
  submissionShapes,
  traceEnds,
} from '@mixlab/attacks';
import { disclosureAttack, linkingAttack } from '@mixlab/cli/attack';
import { cryptoReady } from '@mixlab/crypto';
import { percentile } from '@mixlab/load';
import { parseDuration, seededRandom } from '@mixlab/runtime';
import { REPO_ROOT } from '@mixlab/testbed';
import { type AttackRunCapture, captureAttackRun, targetSlot } from './attack-run.ts';
import {
  type AttacksRun,
  type CoverSide,
  DISCLOSURE_SIMULATION_SEEDS,
  type DisclosureLiveRow,
  type DisclosurePoint,
  type LinkScore,
  type LiveResult,
  nMinusOneScores,
  writeAttacksReport,
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
/** Danezis' model live: N = 8 clients, m = 2 friends, threshold batches of b = 4 at every layer. */
const DISCLOSURE_LIVE = {
  clients: 8,
  friends: 2,
  batchSize: 4,
  ratePerClient: 1.5,
  durationMs: 75_000,
  drainMs: 10_000,
  seed: 12,
};
/** Client drop cover per client per second in the live disclosure runs (0: none). */
const DISCLOSURE_DROP_RATES = [0, 0.75, 1.5];
/** Paired runs, same seed and schedule, without and with cover: the compose strategy and node loop rate. */
const COVER_PAIR = { strategy: 'threshold:n=3,maxWait=1s', dropRatePerClient: 1, nodeLoopRate: 0.5 };
const DISCLOSURE = { recipients: 100, batchSize: 10, friends: 5 };
const DISCLOSURE_SEEDS = DISCLOSURE_SIMULATION_SEEDS;
const DISCLOSURE_BUDGET = 100;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'attacks'),
  options: {
    duration: { type: 'string', default: '40s' },
    drain: { type: 'string', default: '10s' },
    clients: { type: 'string', default: '6' },
    rate: { type: 'string', default: '1' },
    only: { type: 'string' },
    // Which parts run live: linking (timing and size per strategy), disclosure, cover.
    parts: { type: 'string', default: 'linking,disclosure,cover' },
    out: { type: 'string', default: join(REPO_ROOT, 'docs', 'experiments') },
    render: { type: 'string' },
    // Only the disclosure simulation: no containers.
    'simulation-only': { type: 'boolean', default: false },
  },
});

if (values.render) {
  await writeAttacksReport(dirname(values.render), JSON.parse(await readFile(values.render, 'utf8')) as AttacksRun);
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
    const { rounds, undisclosed, medianRounds, p10Rounds, p90Rounds } = disclosureSimulation(
      { ...DISCLOSURE, coverShare },
      DISCLOSURE_SEEDS,
    );
    const stretch = 1 / (1 - coverShare);
    return {
      coverShare,
      seeds: DISCLOSURE_SEEDS,
      medianRounds,
      p10Rounds,
      p90Rounds,
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
const parts = new Set(values['simulation-only'] ? [] : values.parts.split(','));
const chosen = !parts.has('linking')
  ? []
  : values.only
    ? CONFIGURATIONS.filter((c) =>
        values.only?.split(',').some((only) => c.strategy.startsWith(only) || c.packetFormat === only),
      )
    : CONFIGURATIONS;
if (chosen.length === 0 && values.only) throw new Error(`--only ${values.only} matches none of the configurations`);

await cryptoReady();
const startedAt = new Date();
// The live n − 1 part is its own experiment (experiments/n-minus-one.ts): kept from the last report.
const previousNMinusOne = await readFile(join(values.out, 'attacks.json'), 'utf8').then(
  (text) => (JSON.parse(text) as AttacksRun).nMinusOne,
  () => undefined,
);
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

log('statistical disclosure: seeded simulation');
const disclosure = disclosurePoints();
for (const p of disclosure)
  log(`  q = ${p.coverShare}: median ${p.medianRounds} rounds (${p.p10Rounds}-${p.p90Rounds})`);

const live: LiveResult[] = [];
const disclosureRows: DisclosureLiveRow[] = [];
const coverSides: CoverSide[] = [];
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
  await writeAttacksReport(values.out, assemble());
}

/** The statistical disclosure attack live: rounds are the first layer's batches on the wire. */
async function disclosureLive(dropRatePerClient: number): Promise<DisclosureLiveRow> {
  const { clients, friends, batchSize, ...rest } = DISCLOSURE_LIVE;
  const strategy = `threshold:n=${batchSize}`;
  const name = `disclosure (drop cover ${dropRatePerClient}/s)`;
  try {
    const capture = await captureAttackRun({
      strategy,
      packetFormat: 'sphinx',
      clients,
      ...rest,
      bodyBytes: BODY_BYTES,
      plantedTarget: { client: 0, friends },
      ...(dropRatePerClient > 0 ? { dropRatePerClient } : {}),
      log: (line) => log(`${name}: ${line}`),
    });
    const target = targetSlot(capture);
    if (!target) throw new Error('the planted target was not found on the wire');
    const result = disclosureAttack(capture.trace, { target, friends }, capture.truth);
    const drops = capture.truth.cover?.length ?? 0;
    const coverShare = drops / Math.max(drops + capture.summary.sent, 1);
    const model = { recipients: result.recipients, batchSize, friends };
    const stretch = 1 / (1 - coverShare);
    const simulated = disclosureSimulation({ ...model, coverShare }, DISCLOSURE_SEEDS);
    return {
      strategy,
      dropRatePerClient,
      coverShare,
      sent: capture.summary.sent,
      drops,
      recipients: result.recipients,
      friends,
      meanBatch: result.meanBatch,
      rounds: result.rounds,
      targetRounds: result.targetRounds,
      targetRoundsToDisclose: result.score?.targetRoundsToDisclose ?? null,
      roundsToDisclose: result.score?.roundsToDisclose ?? null,
      inTopAtEnd: result.score?.inTop ?? 0,
      disclosedAtEnd: result.score?.disclosed ?? false,
      closedForm: [1, 2, 3].map((l) => disclosureRoundsNeeded(model, l) * stretch),
      simulatedMedian: simulated.medianRounds,
      simulatedP10: simulated.p10Rounds,
      simulatedP90: simulated.p90Rounds,
    };
  } catch (error) {
    log(`${name}: failed: ${(error as Error).message}`);
    return { strategy, dropRatePerClient, error: (error as Error).message.split('\n')[0] ?? 'unknown' };
  }
}

/** One side of the cover pair: the timing attack, the observer, and (with cover) the cover distinguisher. */
async function coverSide(withCover: boolean): Promise<CoverSide> {
  const name = `cover pair (${withCover ? 'with' : 'without'} cover)`;
  try {
    const capture = await captureAttackRun({
      strategy: COVER_PAIR.strategy,
      packetFormat: 'sphinx',
      ...load,
      seed: SEED,
      bodyBytes: BODY_BYTES,
      ...(withCover ? { dropRatePerClient: COVER_PAIR.dropRatePerClient, nodeLoopRate: COVER_PAIR.nodeLoopRate } : {}),
      log: (line) => log(`${name}: ${line}`),
    });
    const roles = rolesOfTrace(capture.trace);
    const join = joinTruth(capture.truth, capture.trace.events, roles);
    const timing = linkingAttack('timing', capture.trace);
    const observer = scoreDeliveries(capture.observerEstimates, join.records, capture.senders).summary;
    const labels = coverLabels(capture.truth, capture.trace.events, roles, join);
    const { submissions } = traceEnds(capture.trace.events, roles);
    const shapes = submissionShapes(submissions);
    const samples = submissions.flatMap((_, i) =>
      labels[i] === undefined ? [] : [{ features: shapes[i] as (string | number)[], positive: labels[i] as boolean }],
    );
    const distinguisher = withCover ? evaluateDistinguisher(samples, seededRandom(SEED).fork('folds')) : undefined;
    const nodeLinks = capture.trace.events.filter(
      (e) => roles.nodes.some((n) => n.name === e.from) && roles.nodes.some((n) => n.name === e.to),
    );
    return {
      withCover,
      sent: capture.summary.sent,
      delivered: capture.summary.delivered,
      drops: capture.truth.cover?.length ?? 0,
      ...(capture.summary.latencyMs ? { latencyP50Ms: capture.summary.latencyMs.p50Ms } : {}),
      timing: linkScore(scoreLinking(timing.estimates, join.records, capture.senders).summary),
      observerTop1: observer.top1Accuracy,
      nodeLinkRequests: nodeLinks.length,
      nodeLinkPacketsPerRequest: nodeLinks.reduce((sum, e) => sum + e.packets, 0) / Math.max(nodeLinks.length, 1),
      ...(distinguisher ? { coverDistinguisher: distinguisher } : {}),
    };
  } catch (error) {
    log(`${name}: failed: ${(error as Error).message}`);
    return { withCover, error: (error as Error).message.split('\n')[0] ?? 'unknown' };
  }
}

function disclosureSimulation(model: DisclosureModel & { coverShare: number }, seeds: number) {
  const rounds: number[] = [];
  let undisclosed = 0;
  for (let seed = 0; seed < seeds; seed++) {
    const run = simulateDisclosure(seededRandom(seed), { ...model, maxRounds: 1500 });
    if (run.roundsToDisclose === undefined) undisclosed++;
    else rounds.push(run.roundsToDisclose);
  }
  rounds.sort((a, b) => a - b);
  return {
    rounds,
    undisclosed,
    medianRounds: percentile(rounds, 50),
    p10Rounds: percentile(rounds, 10),
    p90Rounds: percentile(rounds, 90),
  };
}

if (parts.has('disclosure')) {
  for (const rate of DISCLOSURE_DROP_RATES) {
    log(`live disclosure, drop cover ${rate}/s per client: starting the cascade`);
    const row = await disclosureLive(rate);
    disclosureRows.push(row);
    log(`  ${JSON.stringify(row)}`);
    await writeAttacksReport(values.out, assemble());
  }
}
if (parts.has('cover')) {
  for (const withCover of [false, true]) {
    log(`cover pair, ${withCover ? 'with' : 'without'} cover: starting the cascade`);
    const side = await coverSide(withCover);
    coverSides.push(side);
    log(`  ${JSON.stringify(side)}`);
    await writeAttacksReport(values.out, assemble());
  }
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
    ...coverSides
      .filter((side) => side.timing)
      .map((side) => ({
        attack: 'timing',
        strategy: `${COVER_PAIR.strategy} ${side.withCover ? 'with' : 'without'} cover`,
        successRatio: side.timing?.top1 as number,
      })),
    ...disclosure.map((p) => ({
      attack: 'disclosure',
      strategy: `drop cover q=${p.coverShare}`,
      successRatio: p.successWithinBudget,
    })),
    ...nMinusOneScores(previousNMinusOne?.rows ?? []),
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
    disclosureLive: { ...DISCLOSURE_LIVE, rows: disclosureRows },
    coverPair: { ...COVER_PAIR, sides: coverSides },
    ...(previousNMinusOne ? { nMinusOne: previousNMinusOne } : {}),
    scores,
  };
}

const run = assemble();
await writeAttacksReport(values.out, run);
log(`finished in ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`);
process.exit(0);
