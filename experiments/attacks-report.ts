/**
 * The attack lab's report: docs/experiments/attacks.md and two SVG plots (timing accuracy
 * against mixing delay; disclosure rounds against drop-cover share), rendered purely from the
 * run's JSON, so that `--render FILE` redraws them without containers; and their writer.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeXml, heading, num, text } from './plot.ts';
import type { Machine, RunLoad } from './report.ts';

/** A linking attack scored against the truth (the summary of scoreLinking). */
export interface LinkScore {
  readonly messages: number;
  readonly top1: number;
  readonly meanRank: number;
  readonly auc: number;
  /** Random guessing among the senders. */
  readonly randomTop1: number;
  readonly randomRank: number;
}

export interface LiveResult {
  readonly strategy: string;
  readonly packetFormat: string;
  readonly error?: string;
  readonly startSeconds?: number;
  readonly sent?: number;
  readonly delivered?: number;
  readonly senders?: number;
  /** End to end, send to first receipt (the load generator's own clock). */
  readonly latencyP50Ms?: number;
  readonly latencyMeanMs?: number;
  readonly timing?: LinkScore & { readonly modalDelayMs: number | undefined };
  readonly size?: LinkScore & {
    readonly shrinkBytes: number | undefined;
    /** The size theory: onion, the chance a message's size is unique enough; Sphinx, 1/N. */
    readonly theoryTop1: number;
    readonly exitLinkSizes: readonly { readonly bytes: number; readonly events: number }[];
  };
  /** The observer's exact-marginal posterior, scored the same way: what one push alone allows. */
  readonly observer?: LinkScore;
  /** Received messages the scorer could not place on the wire. */
  readonly unjoined?: number;
}

export interface DisclosurePoint {
  readonly coverShare: number;
  readonly seeds: number;
  /** Target rounds until all m friends are strictly on top; over the seeds that got there. */
  readonly medianRounds: number;
  readonly p10Rounds: number;
  readonly p90Rounds: number;
  readonly undisclosed: number;
  /** Danezis' closed form at l = 1 and l = 2, stretched by 1 / (1 − q) for the cover. */
  readonly closedFormL1: number;
  readonly closedFormL2: number;
  /** Seeds disclosed within `budgetRounds`: the success the dashboard shows. */
  readonly successWithinBudget: number;
}

/** The statistical disclosure attack on a live cascade (one run per drop-cover rate). */
export interface DisclosureLiveRow {
  readonly strategy: string;
  readonly dropRatePerClient: number;
  readonly error?: string;
  /** Drops / (drops + messages): the cover share q of the packets. */
  readonly coverShare?: number;
  readonly sent?: number;
  readonly drops?: number;
  /** N as the wire shows it: recipients pushed to. */
  readonly recipients?: number;
  readonly friends?: number;
  /** Submissions per round: b as the wire shows it. */
  readonly meanBatch?: number;
  readonly rounds?: number;
  readonly targetRounds?: number;
  /** Target rounds until the friends were first strictly on top; null: never within the run. */
  readonly targetRoundsToDisclose?: number | null;
  readonly roundsToDisclose?: number | null;
  readonly inTopAtEnd?: number;
  readonly disclosedAtEnd?: boolean;
  /** Danezis' closed form at l = 1, 2, 3, stretched by 1 / (1 − q). */
  readonly closedForm?: readonly number[];
  /** simulateDisclosure of the same N, b, m and q: median and 10th-90th percentile target rounds. */
  readonly simulatedMedian?: number;
  readonly simulatedP10?: number;
  readonly simulatedP90?: number;
}

/** One side of the cover pair (same seed and schedule): scores without or with cover. */
export interface CoverSide {
  readonly withCover: boolean;
  readonly error?: string;
  readonly sent?: number;
  readonly delivered?: number;
  readonly drops?: number;
  readonly latencyP50Ms?: number;
  readonly timing?: LinkScore;
  readonly observerTop1?: number;
  /** Requests between mix nodes, and packets per request: loops leaving in batches add no requests of their own. */
  readonly nodeLinkRequests?: number;
  readonly nodeLinkPacketsPerRequest?: number;
  /** The cover distinguisher on the client links (labels from the truth; 0.5 balanced is chance). */
  readonly coverDistinguisher?: {
    readonly samples: number;
    readonly positives: number;
    readonly accuracy: number;
    readonly majorityBaseline: number;
    readonly balancedAccuracy: number;
  };
}

/** The round-based n − 1 attack against one strategy (experiments/n-minus-one.ts). */
export interface NMinusOneRow {
  readonly strategy: string;
  /** Own packets into layer 1 per round (the target's round: N − 1 and the target). */
  readonly perRound: number;
  readonly roundMs: number;
  /** Trials run, and those whose target the proxy followed out (named: the only push it saw). */
  readonly planned: number;
  readonly trials: number;
  /** Rounds each target spent at layer 1, as the proxy counted them on the wire. */
  readonly rounds: readonly number[];
  readonly meanRounds: number;
  readonly closedFormMeanRounds: number;
  /** targetRetention for one round. */
  readonly perRoundRetention: number;
  readonly successByRound: readonly {
    readonly rounds: number;
    readonly measured: number;
    readonly closedForm: number;
  }[];
  /** Layer 1's releases in the run by packets (key), from the trace. */
  readonly entryReleaseSizes: Readonly<Record<string, number>>;
  /** How far the proxy's own requests landed from layer 1's ticks (ms, the nearest of the last three before the trials). */
  readonly tickClearanceMs: number;
  readonly failedRounds: number;
  /** Send to delivery, per trial, mean. */
  readonly meanDeliveryMs: number;
  readonly cascadeStartMs: number;
  readonly error?: string;
}

export interface AttacksRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly load: RunLoad & {
    readonly bodyBytes: { readonly min: number; readonly max: number };
  };
  readonly live: readonly LiveResult[];
  readonly disclosure: {
    readonly simulated: true;
    readonly recipients: number;
    readonly batchSize: number;
    readonly friends: number;
    readonly budgetRounds: number;
    readonly points: readonly DisclosurePoint[];
  };
  /** Absent in runs before it was added. */
  readonly disclosureLive?: {
    readonly clients: number;
    readonly friends: number;
    readonly batchSize: number;
    readonly ratePerClient: number;
    readonly durationMs: number;
    readonly seed: number;
    readonly rows: readonly DisclosureLiveRow[];
  };
  readonly coverPair?: {
    readonly strategy: string;
    readonly dropRatePerClient: number;
    readonly nodeLoopRate: number;
    readonly sides: readonly CoverSide[];
  };
  /** The live round-based n − 1 attack: its own run (`npm run experiment -- n1`), kept by later attack runs. */
  readonly nMinusOne?: {
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly machine: Machine;
    readonly rows: readonly NMinusOneRow[];
  };
  /** What the observer exports as mixlab_attack_success_ratio{attack,strategy}. */
  readonly scores: readonly { readonly attack: string; readonly strategy: string; readonly successRatio: number }[];
}

const f3 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(3));
const f2 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(2));
const ms = (x: number | undefined) =>
  x === undefined ? 'n/a' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`;

/** The exit link's sizes per packet, the four commonest; onion batches average many lengths. */
function exitSizes(sizes: readonly { readonly bytes: number; readonly events: number }[]): string {
  const common = [...sizes].sort((a, b) => b.events - a.events).slice(0, 4);
  const shown = common.map((s) => `${Math.round(s.bytes)} B x ${s.events}`).join(', ');
  return sizes.length > common.length ? `${shown} and ${sizes.length - common.length} more sizes` : shown;
}

export function renderAttacksMarkdown(run: AttacksRun): string {
  const { machine, load } = run;
  const ok = run.live.filter((r) => !r.error);
  const lines = [
    '# Attack lab: results',
    '',
    'Written by `npm run experiment -- attacks` (experiments/attacks.ts); redraw with',
    '`node experiments/attacks.ts --render docs/experiments/attacks.json`. The passive attacks of',
    '`@mixlab/attacks` read only the wire trace the observer recorded from the taps (`GET /v1/trace`:',
    "time, endpoints, bytes, packets); the scorer joins their estimates with the load generator's",
    'ground truth (who sent what to whom) afterwards. See [attacks.md](../attacks.md) for the methods.',
    '',
    `Run ${run.startedAt} to ${run.finishedAt} on ${machine.cpu} (${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB),`,
    `Node ${machine.node}, Docker ${machine.docker}, ${machine.platform}.`,
    `Load per cascade: ${load.clients} clients x ${load.ratePerClient} msg/s for ${load.durationSeconds} s (drain ${load.drainSeconds} s),`,
    `seed ${load.seed}, bodies ${load.bodyBytes.min}-${load.bodyBytes.max} bytes uniform, no cover, no node loops.`,
    '',
    ...(run.live.length === 0
      ? [
          '**This report holds no live runs** (`--simulation-only`, or every cascade was left out): only',
          'the disclosure simulation below.',
          '',
        ]
      : []),
    '## Timing correlation (passive, global), per strategy',
    '',
    '![timing accuracy against mixing delay](attacks-timing.svg)',
    '',
    '| strategy | format | messages | latency p50 | top-1 | mean rank | AUC | random top-1 / rank | observer (exact marginal) top-1 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...run.live.map((r) =>
      r.error
        ? `| \`${r.strategy}\` | ${r.packetFormat} | failed: ${escapeXml(r.error)} | | | | | | |`
        : `| \`${r.strategy}\` | ${r.packetFormat} | ${r.timing?.messages} | ${ms(r.latencyP50Ms)} | ${f3(r.timing?.top1)} | ${f2(r.timing?.meanRank)} | ${f3(r.timing?.auc)} | ${f3(r.timing?.randomTop1)} / ${f2(r.timing?.randomRank)} | ${f3(r.observer?.top1)} |`,
    ),
    '',
    'Theory: without mixing (`threshold:n=1`) every push follows its submission by the same few',
    'milliseconds, so top-1 is 1 up to submissions less than a bin apart; with mixing the attack can',
    "do no better than the batch (or pool) a message left in, which the observer's exact posterior",
    'marginal (last column, scored the same way) measures; random guessing is 1/N.',
    '',
    '## Size correlation (passive): onion against Sphinx',
    '',
    '| strategy | format | top-1 | AUC | theory top-1 | shrink learned | exit -> gateway sizes per packet |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...ok.map(
      (r) =>
        `| \`${r.strategy}\` | ${r.packetFormat} | ${f3(r.size?.top1)} | ${f3(r.size?.auc)} | ${f3(r.size?.theoryTop1)} | ${r.size?.shrinkBytes === undefined ? 'n/a (exact model)' : `${r.size.shrinkBytes} B`} | ${exitSizes(r.size?.exitLinkSizes ?? [])} |`,
    ),
    '',
    'Theory: under onion a message keeps its length through every mix, so the attack fails only',
    'when another submission had the same size on the wire; guessing among those, top-1 >= distinct',
    'submission sizes / submissions (the collision bound; bodies travel base64 in JSON, 4 bytes per 3,',
    'so lengths 1-1000 give some 334 wire sizes). The attack uses the exact size model of the wire',
    'encoding (`onionWireModel`: the JSON around base64 of the onion layers, from the public format,',
    'node and gateway ids), so no shrink is learned for onion (n/a); it checks the model fits the',
    'trace (it does not under Sphinx) and otherwise learns one shrink. Under Sphinx every packet and',
    "every delivery has one size: the attack is left with each client's share of the submissions so",
    'far, which counts tell, not sizes: 1/N (the theory column) when the shares are equal, a little',
    'above when they differ (earlier runs showed exactly 1/N because the several-shrinks variant then',
    'answered uniform). The exit -> gateway column is what a tap on that link sees:',
    'one size per packet format, so it tells nothing about senders (acknowledgements, when sent,',
    'are told apart by size; see attacks.md).',
    '',
    `## Statistical disclosure: rounds against drop cover (seeded simulation, not live)`,
    '',
    '![disclosure rounds against cover share](attacks-disclosure.svg)',
    '',
    `Danezis' model, simulated with \`simulateDisclosure\` of \`@mixlab/attacks\` (the real attack`,
    `class on simulated rounds): N = ${run.disclosure.recipients} recipients, batches of b = ${run.disclosure.batchSize},`,
    `m = ${run.disclosure.friends} friends; each packet, the target's too, is drop cover with share q. Rounds counted until`,
    'every friend scores strictly above every other recipient. The live load does not have the',
    "model's structure (its clients send to uniform recipients, not to m friends), so this part",
    'is the simulation, labelled as such.',
    '',
    '| cover share q | seeds | median rounds | 10th-90th percentile | closed form l = 1 / l = 2, x 1/(1 - q) | disclosed within ' +
      `${run.disclosure.budgetRounds} rounds |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...run.disclosure.points.map(
      (p) =>
        `| ${p.coverShare} | ${p.seeds} | ${p.medianRounds} | ${p.p10Rounds}-${p.p90Rounds} | ${p.closedFormL1.toFixed(1)} / ${p.closedFormL2.toFixed(1)} | ${f3(p.successWithinBudget)} |`,
    ),
    '',
    ...disclosureLiveSection(run),
    ...coverPairSection(run),
    ...nMinusOneSection(run),
    '## Scores exported to Grafana',
    '',
    'The observer reads `scores` from its ATTACK_SCORES_FILE (compose mounts docs/experiments and',
    'points it at attacks.json) at start, again whenever the file changes and on SIGHUP; nothing',
    "else sets them. It exports them as `mixlab_attack_success_ratio{attack,strategy}`, which the dashboard's Attacks row shows.",
    '',
    '| attack | strategy | success |',
    '| --- | --- | --- |',
    ...run.scores.map((s) => `| ${s.attack} | \`${s.strategy}\` | ${f3(s.successRatio)} |`),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** The n − 1 rows as Grafana scores: the share of planned trials whose target was named. */
export function nMinusOneScores(rows: readonly NMinusOneRow[]): AttacksRun['scores'] {
  return rows
    .filter((r) => !r.error && r.planned > 0)
    .map((r) => ({ attack: 'n-1', strategy: r.strategy, successRatio: r.trials / r.planned }));
}

function nMinusOneSection(run: AttacksRun): string[] {
  const part = run.nMinusOne;
  if (!part) return [];
  const { machine } = part;
  const shown = part.rows[0]?.successByRound.map((p) => p.rounds) ?? [];
  const histogram = (rounds: readonly number[]) => {
    const counts = new Map<number, number>();
    for (const r of rounds) counts.set(r, (counts.get(r) ?? 0) + 1);
    return [...counts.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([r, n]) => `${r}: ${n}`)
      .join(', ');
  };
  return [
    '## The n − 1 attack, round-based, live',
    '',
    `Run ${part.startedAt} to ${part.finishedAt} on ${machine.cpu} (${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB),`,
    `Node ${machine.node}, Docker ${machine.docker}, ${machine.platform}; \`npm run experiment -- n1\` (experiments/n-minus-one.ts).`,
    '',
    'One cascade per strategy, the strategy at layer 1 and `threshold:n=1` at layers 2 and 3 (so the',
    "target's delivery follows its release at layer 1 within milliseconds), no loop cover. The n1-proxy in",
    'front of layer 1 holds every honest request and sends N own packets per round (every `t`, from its',
    'own clock) through the gateway; after five rounds of this the pool holds only its own. Each trial names',
    "the next request the target's, a client sends one message, and the proxy passes it in the next round",
    "right after N − 1 own packets. Its eyes on the wire are the observer's taps: the target has left",
    'when a message is pushed to a client (every other honest request is held; its own end in a mailbox it',
    "never opens), and the rounds are layer 1's releases from the target's pass up to that push. Closed",
    'form: `targetRetention` (retention ρ a round, success by round r = 1 − ρ^r, mean rounds 1/(1 − ρ)).',
    '',
    `| strategy | N | targets followed out | rounds needed (count) | mean (closed form) | ${shown.map((r) => `≤ ${r} rounds`).join(' | ')} | layer-1 releases by packets; own requests from a tick |`,
    `| --- | --- | --- | --- | --- | ${shown.map(() => '---').join(' | ')} | --- |`,
    ...part.rows.map((r) =>
      r.error
        ? `| \`${r.strategy}\` | ${r.perRound} | failed: ${escapeXml(r.error)} | | | ${shown.map(() => '').join(' | ')} | |`
        : `| \`${r.strategy}\` | ${r.perRound} | ${r.trials} of ${r.planned} | ${histogram(r.rounds)} | ${f2(r.meanRounds)} (${f2(r.closedFormMeanRounds)}) | ${r.successByRound.map((p) => `${f2(p.measured)} (${f2(p.closedForm)})`).join(' | ')} | ${Object.entries(
            r.entryReleaseSizes,
          )
            .map(([packets, n]) => `${packets}: ${n}`)
            .join(', ')}; ${ms(r.tickClearanceMs)} |`,
    ),
    '',
    'Success-by-round cells: measured share of trials whose target was out by then (closed form). The',
    'pool keeps its `min` = n and releases the rest each tick, so with N entering a round the target',
    'stays with ρ = n/(N + n); binomial with ρ = 1 − p; timed takes everything, ρ = 0. The last column',
    'checks the rounds: with one own request per tick the pool and timed release exactly N a tick;',
    "after it, how far the proxy's own requests landed from layer 1's ticks (the experiment starts the",
    'attack again, on a new phase, while that is under 100 ms).',
    '',
  ];
}

function disclosureLiveSection(run: AttacksRun): string[] {
  const live = run.disclosureLive;
  if (!live || live.rows.length === 0) return [];
  const row = (r: DisclosureLiveRow) =>
    r.error
      ? `| ${r.dropRatePerClient}/s | failed: ${escapeXml(r.error)} | | | | | | |`
      : `| ${r.dropRatePerClient}/s | ${f3(r.coverShare)} | ${r.rounds} (${f2(r.meanBatch)} per round) / ${r.targetRounds} | ${r.targetRoundsToDisclose ?? 'not disclosed'} | ${r.inTopAtEnd} of ${r.friends}${r.disclosedAtEnd ? ', disclosed' : ''} | ${r.simulatedMedian} (${r.simulatedP10}-${r.simulatedP90}) | ${(r.closedForm ?? []).map((x) => x.toFixed(1)).join(' / ')} |`;
  return [
    '## Statistical disclosure on live containers',
    '',
    `The load in Danezis' model (\`plantedTarget\` of @mixlab/load): ${live.clients} clients, the target sends to`,
    `m = ${live.friends} friends drawn once, everyone else to any of the ${live.clients} (itself included); each client`,
    `${live.ratePerClient} msg/s for ${live.durationMs / 1000} s, seed ${live.seed}; \`threshold:n=${live.batchSize}\` at every layer, so a layer-1`,
    "batch stays one batch to its recipients. The attack reads the observer's trace only: each release",
    'of layer 1 closes a round (the clients that submitted since the previous release; the recipients',
    "pushed to until the next), as `mixlab attack disclosure` does; the scorer names the target's",
    'connection and its friends. One run per drop-cover rate (every client, the target too). Rounds',
    'with the target are counted until every friend first scores strictly above every other',
    'recipient. Next to it, `simulateDisclosure` of the same N, b, m and cover share q (' +
      `${DISCLOSURE_SIMULATION_SEEDS}` +
      ' seeds).',
    '',
    '| drop cover per client | cover share q | rounds (senders per round) / with the target | target rounds to disclosure, live | friends in the top m at the end | simulation: median (10th-90th) | closed form l = 1 / 2 / 3, x 1/(1 - q) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...live.rows.map(row),
    '',
    'Live, a run is one draw: the first disclosure of a small N comes early and varies widely (see',
    'the simulated spread); the closed form at l = 3 bounds it (the integration test,',
    'tests/disclosure.test.ts, holds a run to that). Drop cover makes the target look active in more',
    'rounds without sending its friends more, so more rounds are needed, about 1/(1 - q) times.',
    '',
  ];
}

/** The seeds of simulateDisclosure next to each live disclosure row. */
export const DISCLOSURE_SIMULATION_SEEDS = 200;

function coverPairSection(run: AttacksRun): string[] {
  const pair = run.coverPair;
  if (!pair || pair.sides.length === 0) return [];
  const side = (s: CoverSide) =>
    s.error
      ? `| ${s.withCover ? 'with' : 'without'} | failed: ${escapeXml(s.error)} | | | | | | |`
      : `| ${s.withCover ? `with (drops ${pair.dropRatePerClient}/s per client, node loops ${pair.nodeLoopRate}/s)` : 'without'} | ${s.timing?.messages} (${s.drops} drops) | ${ms(s.latencyP50Ms)} | ${f3(s.timing?.top1)} | ${f2(s.timing?.meanRank)} | ${f3(s.timing?.auc)} | ${f3(s.observerTop1)} | ${s.nodeLinkRequests} (${f2(s.nodeLinkPacketsPerRequest)}) |`;
  const withCover = pair.sides.find((s) => s.withCover && s.coverDistinguisher);
  const d = withCover?.coverDistinguisher;
  return [
    '## Cover against the timing attack (paired runs)',
    '',
    `Two cascades of \`${pair.strategy}\` (the compose default) under the same seeded load (same schedule,`,
    'recipients and body sizes): without cover, and with client drop cover and node loop cover',
    "(each node's loops enter its own pool and leave in its batches). The timing attack and the",
    "observer's exact posterior are scored on the real messages.",
    '',
    '| cover | messages | latency p50 | timing top-1 | mean rank | AUC | observer top-1 | node-to-node requests (packets each) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...pair.sides.map(side),
    '',
    ...(d
      ? [
          `**Telling cover from real on the client links.** Every submission of the run with cover (${d.samples}, ${d.positives}`,
          'of them drops) described by what a tap sees (packets, bytes, whether another client submitted',
          "within 50 ms, the octave of the gap since the same client's last submission) and given to a",
          'naive Bayes classifier with the true labels, two-fold cross-validated: an upper bound on what',
          `the wire gives away. Balanced accuracy **${f3(d.balancedAccuracy)}** (chance 0.5), accuracy ${f3(d.accuracy)} against ${f3(d.majorityBaseline)}`,
          'for always guessing the larger class.',
          '',
        ]
      : []),
  ];
}

const PLOT = { width: 760, height: 420, left: 80, right: 600, top: 80, bottom: 360 };

function axes(xLabel: string, yLabel: string, xTicks: [number, string][], yTicks: [number, string][]): string[] {
  const { left, right, top, bottom } = PLOT;
  return [
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`,
    ...xTicks.flatMap(([x, label]) => [
      `<line x1="${num(x)}" y1="${bottom}" x2="${num(x)}" y2="${bottom + 5}" stroke="#333"/>`,
      text(x, bottom + 20, label, 'text-anchor="middle" font-size="11"'),
    ]),
    ...yTicks.flatMap(([y, label]) => [
      `<line x1="${left}" y1="${num(y)}" x2="${right}" y2="${num(y)}" stroke="#eee"/>`,
      text(left - 8, y + 4, label, 'text-anchor="end" font-size="11"'),
    ]),
    text((left + right) / 2, bottom + 42, xLabel, 'text-anchor="middle"'),
    text(20, (top + bottom) / 2, yLabel, `transform="rotate(-90 20 ${(top + bottom) / 2})" text-anchor="middle"`),
  ];
}

const svg = (title: string, body: string[]) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${PLOT.width}" height="${PLOT.height}" font-family="sans-serif" font-size="12">\n<title>${escapeXml(title)}</title>\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;

/** Timing top-1 (and the observer's) against the median end-to-end latency, log x. */
export function renderTimingSvg(run: AttacksRun): string {
  const points = run.live.filter((r) => !r.error && r.timing && r.latencyP50Ms !== undefined);
  const { left, right, top, bottom } = PLOT;
  const xs = points.map((r) => Math.max(r.latencyP50Ms as number, 1));
  const lo = Math.log10(Math.min(...xs, 10)) - 0.1;
  const hi = Math.log10(Math.max(...xs, 1000)) + 0.1;
  const x = (v: number) => left + ((Math.log10(Math.max(v, 1)) - lo) / (hi - lo)) * (right - left);
  const y = (v: number) => bottom - v * (bottom - top);
  const xTicks: [number, string][] = [10, 30, 100, 300, 1000, 3000, 10000]
    .filter((v) => Math.log10(v) >= lo && Math.log10(v) <= hi)
    .map((v) => [x(v), v >= 1000 ? `${v / 1000} s` : `${v} ms`]);
  const yTicks: [number, string][] = [0, 0.25, 0.5, 0.75, 1].map((v) => [y(v), v.toFixed(2)]);
  const random = points[0]?.timing?.randomTop1;
  const body = [
    ...heading('Timing correlation: top-1 against mixing delay', run.machine, run.startedAt),
    ...axes('median end-to-end latency (log)', 'top-1 accuracy', xTicks, yTicks),
    ...(random === undefined
      ? []
      : [
          `<line x1="${left}" y1="${num(y(random))}" x2="${right}" y2="${num(y(random))}" stroke="#999" stroke-dasharray="4 3"/>`,
          text(right + 6, y(random) + 4, `random 1/${Math.round(1 / random)}`, 'fill="#777"'),
        ]),
    ...points.flatMap((r, i) => {
      const px = x(r.latencyP50Ms as number);
      const marker =
        r.packetFormat === 'onion'
          ? `<rect x="${num(px - 5)}" y="${num(y(r.timing?.top1 ?? 0) - 5)}" width="10" height="10" fill="#f28e2b"/>`
          : `<circle cx="${num(px)}" cy="${num(y(r.timing?.top1 ?? 0))}" r="5" fill="#4e79a7"/>`;
      return [
        marker,
        `<circle cx="${num(px)}" cy="${num(y(r.observer?.top1 ?? 0))}" r="4" fill="none" stroke="#59a14f" stroke-width="2"/>`,
        text(
          px + 8,
          y(r.timing?.top1 ?? 0) - 6 - (i % 2) * 12,
          `${r.strategy}${r.packetFormat === 'onion' ? ' (onion)' : ''}`,
          'font-size="11"',
        ),
      ];
    }),
    `<circle cx="${right + 14}" cy="${top + 40}" r="5" fill="#4e79a7"/>`,
    text(right + 24, top + 44, 'timing attack (Sphinx)'),
    `<rect x="${right + 9}" y="${top + 55}" width="10" height="10" fill="#f28e2b"/>`,
    text(right + 24, top + 64, 'timing attack (onion)'),
    `<circle cx="${right + 14}" cy="${top + 80}" r="4" fill="none" stroke="#59a14f" stroke-width="2"/>`,
    text(right + 24, top + 84, 'observer posterior'),
  ];
  return svg('Timing correlation: top-1 accuracy against mixing delay', body);
}

/** Disclosure rounds (median, 10th-90th) against the cover share, with the closed forms. */
export function renderDisclosureSvg(run: AttacksRun): string {
  const points = run.disclosure.points;
  const { left, right, top, bottom } = PLOT;
  const maxQ = Math.max(...points.map((p) => p.coverShare), 0.5);
  const maxY = Math.max(...points.flatMap((p) => [p.p90Rounds, p.closedFormL2]), 10) * 1.05;
  const x = (q: number) => left + (q / maxQ) * (right - left);
  const y = (v: number) => bottom - (v / maxY) * (bottom - top);
  const step = 10 ** Math.floor(Math.log10(maxY / 2));
  const yTicks: [number, string][] = [];
  for (let v = 0; v <= maxY; v += step * (maxY / step > 10 ? 2 : 1)) yTicks.push([y(v), String(v)]);
  const line = (pick: (p: DisclosurePoint) => number, colour: string, dash = '') =>
    `<polyline fill="none" stroke="${colour}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${points.map((p) => `${num(x(p.coverShare))},${num(y(pick(p)))}`).join(' ')}"/>`;
  const body = [
    ...heading('Statistical disclosure: rounds against drop-cover share (simulation)', run.machine, run.startedAt),
    ...axes(
      'drop-cover share q',
      'target rounds to disclosure',
      points.map((p) => [x(p.coverShare), String(p.coverShare)]),
      yTicks,
    ),
    ...points.map(
      (p) =>
        `<line x1="${num(x(p.coverShare))}" y1="${num(y(p.p10Rounds))}" x2="${num(x(p.coverShare))}" y2="${num(y(p.p90Rounds))}" stroke="#4e79a7" stroke-width="6" stroke-opacity="0.3"/>`,
    ),
    line((p) => p.medianRounds, '#4e79a7'),
    line((p) => p.closedFormL1, '#e15759', '4 3'),
    line((p) => p.closedFormL2, '#b07aa1', '8 3'),
    ...points.map((p) => `<circle cx="${num(x(p.coverShare))}" cy="${num(y(p.medianRounds))}" r="4" fill="#4e79a7"/>`),
    `<line x1="${right + 8}" y1="${top + 40}" x2="${right + 28}" y2="${top + 40}" stroke="#4e79a7" stroke-width="2"/>`,
    text(right + 32, top + 44, 'median (10-90 %)'),
    `<line x1="${right + 8}" y1="${top + 60}" x2="${right + 28}" y2="${top + 60}" stroke="#e15759" stroke-width="2" stroke-dasharray="4 3"/>`,
    text(right + 32, top + 64, 'closed form l = 1'),
    `<line x1="${right + 8}" y1="${top + 80}" x2="${right + 28}" y2="${top + 80}" stroke="#b07aa1" stroke-width="2" stroke-dasharray="8 3"/>`,
    text(right + 32, top + 84, 'closed form l = 2'),
  ];
  return svg('Statistical disclosure: rounds against drop-cover share', body);
}

/** Writes attacks.{json,md} and the two plots into `directory`. */
export async function writeAttacksReport(directory: string, run: AttacksRun): Promise<void> {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'attacks.json'), `${JSON.stringify(run, null, 1)}\n`);
  await writeFile(join(directory, 'attacks.md'), renderAttacksMarkdown(run));
  await writeFile(join(directory, 'attacks-timing.svg'), renderTimingSvg(run));
  await writeFile(join(directory, 'attacks-disclosure.svg'), renderDisclosureSvg(run));
  console.log(`wrote ${join(directory, 'attacks.md')}, attacks.json, attacks-timing.svg, attacks-disclosure.svg`);
}
