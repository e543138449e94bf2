/**
 * The anonymity experiment's plot as a self-contained SVG, three panels: every formula row's
 * measured entropy against its theory (the diagonal is agreement), end-to-end entropy against
 * offered load (with and without cover), and the frontier: end-to-end entropy against latency.
 */
import { type AnonymityRun, familyOf, formulaRows, frontierPoints, type WindowResult } from './anonymity-report.ts';
import { escapeXml, heading, logTicks, num, text } from './plot.ts';

const PANEL = 340;
const GAP = 90;
const LEFT = 60;
const TOP = 100;
const WIDTH = LEFT + 3 * PANEL + 2 * GAP + 40;
const HEIGHT = TOP + PANEL + 150;
const COLOURS: Record<string, string> = {
  threshold: '#4e79a7',
  'threshold+maxWait': '#76b7b2',
  timed: '#f28e2b',
  'threshold-or-timed': '#e15759',
  pool: '#59a14f',
  binomial: '#b07aa1',
  exponential: '#9c755f',
};
const colourOf = (family: string) => COLOURS[family] ?? '#555';

interface Axis {
  readonly low: number;
  readonly high: number;
  readonly log: boolean;
}

function scale(axis: Axis, from: number, to: number): (value: number) => number {
  const t = (v: number) => (axis.log ? Math.log(v) : v);
  return (value) => from + ((t(value) - t(axis.low)) / (t(axis.high) - t(axis.low))) * (to - from);
}

function ticksOf(axis: Axis): number[] {
  if (axis.log) return logTicks(axis.low, axis.high, [1, 2, 5]);
  const step = axis.high - axis.low > 4 ? 1 : 0.5;
  const ticks: number[] = [];
  for (let v = Math.ceil(axis.low / step) * step; v <= axis.high + 1e-9; v += step) ticks.push(v);
  return ticks;
}

/** Frame, grid, tick labels and axis titles of one panel; returns its scales. */
function panel(
  out: string[],
  left: number,
  title: string,
  xAxis: Axis,
  yAxis: Axis,
  xTitle: string,
  yTitle: string,
  format: (v: number) => string,
) {
  const x = scale(xAxis, left, left + PANEL);
  const y = scale(yAxis, TOP + PANEL, TOP);
  out.push(text(left, TOP - 16, title, 'font-weight="bold"'));
  for (const tick of ticksOf(xAxis)) {
    out.push(
      `<line x1="${num(x(tick))}" y1="${TOP}" x2="${num(x(tick))}" y2="${TOP + PANEL}" stroke="#e3e3e3"/>`,
      text(x(tick), TOP + PANEL + 15, format(tick), 'text-anchor="middle" fill="#444" font-size="10.5"'),
    );
  }
  for (const tick of ticksOf(yAxis)) {
    out.push(
      `<line x1="${left}" y1="${num(y(tick))}" x2="${left + PANEL}" y2="${num(y(tick))}" stroke="#e3e3e3"/>`,
      text(left - 6, y(tick) + 4, String(tick), 'text-anchor="end" fill="#444" font-size="10.5"'),
    );
  }
  out.push(
    `<rect x="${left}" y="${TOP}" width="${PANEL}" height="${PANEL}" fill="none" stroke="#999"/>`,
    text(left + PANEL / 2, TOP + PANEL + 34, xTitle, 'text-anchor="middle" fill="#333"'),
    text(
      left - 40,
      TOP + PANEL / 2,
      yTitle,
      `text-anchor="middle" fill="#333" transform="rotate(-90 ${left - 40} ${TOP + PANEL / 2})"`,
    ),
  );
  return { x, y };
}

const line = (points: readonly (readonly [number, number])[], colour: string, dashed: boolean) =>
  points.length < 2
    ? ''
    : `<polyline points="${points.map(([px, py]) => `${num(px)},${num(py)}`).join(' ')}" fill="none" stroke="${colour}" stroke-width="2"${dashed ? ' stroke-dasharray="6 4"' : ''}/>`;

export function renderAnonymitySvg(run: AnonymityRun): string {
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    '<title>Anonymity observatory: measured entropy against theory, against load, and against latency</title>',
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    ...heading(
      `Anonymity measured by the observer: 3-layer cascade, ${run.clients} clients per window (seeded Poisson)`,
      run.machine,
      run.startedAt,
    ),
  ];
  const entropyFormat = (v: number) => String(v);

  // 1. Measured against theory (entropy rows only; the pool-size rows are packets).
  const rows = formulaRows(run).filter((r) => !r.formula.startsWith('pool size:') && Number.isFinite(r.measured.mean));
  const top = Math.ceil(
    Math.max(
      1,
      ...rows.flatMap((r) => [r.theory, r.measured.mean + (r.measured.halfWidth || 0)]).filter(Number.isFinite),
    ),
  );
  const first = panel(
    out,
    LEFT,
    'Layer-1 node entropy: measured vs theory',
    { low: 0, high: top, log: false },
    { low: 0, high: top, log: false },
    'closed form (bits)',
    'measured (bits)',
    entropyFormat,
  );
  out.push(
    `<line x1="${num(first.x(0))}" y1="${num(first.y(0))}" x2="${num(first.x(top))}" y2="${num(first.y(top))}" stroke="#888" stroke-dasharray="4 3"/>`,
  );
  for (const r of rows) {
    const colour = colourOf(familyOf(r.strategy));
    const cx = first.x(r.theory);
    const cy = first.y(r.measured.mean);
    if (Number.isFinite(r.measured.halfWidth) && r.measured.halfWidth > 0) {
      out.push(
        `<line x1="${num(cx)}" y1="${num(first.y(r.measured.mean - r.measured.halfWidth))}" x2="${num(cx)}" y2="${num(first.y(r.measured.mean + r.measured.halfWidth))}" stroke="${colour}"/>`,
      );
    }
    out.push(
      `<circle cx="${num(cx)}" cy="${num(cy)}" r="4" fill="${r.pass ? colour : '#ffffff'}" stroke="${colour}" stroke-width="1.5"><title>${escapeXml(`${r.formula} ${r.parameters}: ${r.measured.mean.toFixed(3)} vs ${r.theory.toFixed(3)}`)}</title></circle>`,
    );
  }
  out.push(text(LEFT + 6, TOP + 16, 'filled: pass; hollow: fail; bars: 95 % interval', 'fill="#555" font-size="10.5"'));

  // 2. End-to-end entropy against offered load.
  const curve = run.windows.filter((w) => w.uses.includes('curve') && Number.isFinite(w.route.mean));
  const loads = curve.map((w) => w.load);
  const maxEntropy = Math.log2(run.clients);
  // Senders of earlier windows can still have messages pooled (exponential), so data may pass log2 clients.
  const entropyTop = Math.ceil(Math.max(maxEntropy, ...run.windows.map((w) => w.route.mean).filter(Number.isFinite)));
  const second = panel(
    out,
    LEFT + PANEL + GAP,
    'End-to-end entropy against offered load',
    { low: Math.min(0.5, ...loads) / 1.2, high: Math.max(50, ...loads) * 1.2, log: true },
    { low: 0, high: entropyTop, log: false },
    'offered load (msg/s, log scale)',
    'entropy over senders (bits)',
    (v) => String(v),
  );
  out.push(
    `<line x1="${LEFT + PANEL + GAP}" y1="${num(second.y(maxEntropy))}" x2="${LEFT + 2 * PANEL + GAP}" y2="${num(second.y(maxEntropy))}" stroke="#888" stroke-dasharray="4 3"/>`,
    text(
      LEFT + PANEL + GAP + 6,
      second.y(maxEntropy) - 5,
      `log2 ${run.clients} clients`,
      'fill="#555" font-size="10.5"',
    ),
  );
  const series = new Map<string, WindowResult[]>();
  for (const w of curve) {
    const key = `${familyOf(w.strategy)}|${w.cover > 0 ? 'cover' : 'plain'}`;
    series.set(key, [...(series.get(key) ?? []), w]);
  }
  for (const [key, points] of series) {
    const [family, kind] = key.split('|') as [string, string];
    const sorted = [...points].sort((a, b) => a.load - b.load);
    const colour = colourOf(family);
    out.push(
      line(
        sorted.map((w) => [second.x(w.load), second.y(w.route.mean)]),
        colour,
        kind === 'cover',
      ),
    );
    for (const w of sorted) {
      out.push(
        `<circle cx="${num(second.x(w.load))}" cy="${num(second.y(w.route.mean))}" r="3" fill="${kind === 'cover' ? '#ffffff' : colour}" stroke="${colour}"/>`,
      );
    }
  }
  out.push(
    text(
      LEFT + PANEL + GAP + 6,
      TOP + PANEL - 8,
      `solid: no cover; dashed: + ${run.coverPerClient * run.clients} msg/s drop cover`,
      'fill="#555" font-size="10.5"',
    ),
  );

  // 3. The frontier: end-to-end entropy against latency p50 (filled) and p99 (hollow).
  const frontier = frontierPoints(run);
  const latencies = [...frontier.values()]
    .flat()
    .flatMap((w) => [w.latencyP50Ms ?? 0, w.latencyP99Ms ?? 0])
    .filter((v) => v > 0);
  const third = panel(
    out,
    LEFT + 2 * (PANEL + GAP),
    `The frontier at ${run.frontierLoad} msg/s: entropy against latency`,
    { low: Math.max(1, Math.min(...latencies, 100) / 1.3), high: Math.max(...latencies, 1000) * 1.3, log: true },
    { low: 0, high: entropyTop, log: false },
    'end-to-end latency (ms, log scale): p50 filled, p99 hollow',
    'entropy over senders (bits)',
    (v) => (v >= 1000 ? `${v / 1000} s` : `${v}`),
  );
  for (const [family, points] of frontier) {
    const colour = colourOf(family);
    const finite = points.filter((w) => Number.isFinite(w.route.mean));
    out.push(
      line(
        finite.map((w) => [third.x(w.latencyP50Ms ?? 1), third.y(w.route.mean)]),
        colour,
        false,
      ),
    );
    for (const w of finite) {
      const y = third.y(w.route.mean);
      out.push(
        `<circle cx="${num(third.x(w.latencyP50Ms ?? 1))}" cy="${num(y)}" r="4" fill="${colour}"><title>${escapeXml(w.strategy)}</title></circle>`,
      );
      if (w.latencyP99Ms) {
        out.push(
          `<line x1="${num(third.x(w.latencyP50Ms ?? 1))}" y1="${num(y)}" x2="${num(third.x(w.latencyP99Ms))}" y2="${num(y)}" stroke="${colour}" stroke-opacity="0.4"/>`,
          `<circle cx="${num(third.x(w.latencyP99Ms))}" cy="${num(y)}" r="3.5" fill="#ffffff" stroke="${colour}"/>`,
        );
      }
    }
  }

  // Legend: one colour per strategy.
  const legendY = TOP + PANEL + 70;
  Object.entries(COLOURS).forEach(([family, colour], i) => {
    const lx = LEFT + (i % 4) * 260;
    const ly = legendY + Math.floor(i / 4) * 20;
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="14" height="10" fill="${colour}"/>`,
      text(lx + 20, ly, family, 'fill="#333"'),
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}
