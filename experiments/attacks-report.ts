/**
 * The attack lab's report (pure): docs/experiments/attacks.md and two SVG plots (timing
 * accuracy against mixing delay; disclosure rounds against drop-cover share) from the run's
 * JSON, so that `--render FILE` redraws them without containers.
 */
import { escapeXml, heading, num, text } from './plot.ts';
import type { Machine } from './report.ts';

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

export interface AttacksRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly load: {
    readonly clients: number;
    readonly ratePerClient: number;
    readonly durationSeconds: number;
    readonly drainSeconds: number;
    readonly seed: number;
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
        `| \`${r.strategy}\` | ${r.packetFormat} | ${f3(r.size?.top1)} | ${f3(r.size?.auc)} | ${f3(r.size?.theoryTop1)} | ${r.size?.shrinkBytes ?? 'n/a'} B | ${exitSizes(r.size?.exitLinkSizes ?? [])} |`,
    ),
    '',
    'Theory: under onion a message keeps its length through every mix, so the attack fails only',
    'when another submission had the same size on the wire; guessing among those, top-1 = distinct',
    'submission sizes / submissions (bodies travel base64 in JSON, about 4 bytes per 3, so lengths',
    '1-1000 give some 334 wire sizes; same-sender collisions and ties put the measure a little above).',
    'The attack learns every shrink that lines the size histograms up (`multipleShrinks`): base64',
    "rounds, so one message's shrink takes two values 4 bytes apart. Under",
    "Sphinx every packet and every delivery has one size: the attack is left with each client's",
    'share of the traffic, chance 1/N. The exit -> gateway column is what a tap on that link sees:',
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
    '## Scores exported to Grafana',
    '',
    'The observer loads `scores` from docs/experiments/attacks.json at start (compose mounts',
    'docs/experiments) and takes new ones on `POST /v1/attack-scores`; it exports them as',
    "`mixlab_attack_success_ratio{attack,strategy}`, which the dashboard's Attacks row shows.",
    '',
    '| attack | strategy | success |',
    '| --- | --- | --- |',
    ...run.scores.map((s) => `| ${s.attack} | \`${s.strategy}\` | ${f3(s.successRatio)} |`),
    '',
  ];
  return `${lines.join('\n')}\n`;
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
