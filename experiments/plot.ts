/**
 * The experiment's plot as a self-contained SVG: per strategy, a box plot of end-to-end
 * latency (log scale) beside the mean batch size of each layer.
 */
import { percentile } from '@mixlab/load';
import type { ExperimentRun } from './report.ts';

const WIDTH = 1120;
const LABEL_RIGHT = 250;
const LATENCY_LEFT = 270;
const LATENCY_RIGHT = 770;
const BATCH_LEFT = 830;
const BATCH_RIGHT = 1080;
const TOP = 92;
const ROW = 50;
const LAYER_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f'];
const BOX_COLOUR = '#6b8fc7';

export const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const num = (value: number) => Number(value.toFixed(1));

export function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${num(x)}" y="${num(y)}" ${attributes}>${escapeXml(content)}</text>`;
}

/** A plot's title line, and beneath it the machine and the time of the run. */
export function heading(
  title: string,
  machine: { readonly cpu: string; readonly cores: number; readonly node: string },
  startedAt: string,
): string[] {
  return [
    text(20, 26, title, 'font-size="16" font-weight="bold"'),
    text(20, 46, `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${startedAt}`, 'fill="#555"'),
  ];
}

function formatMs(value: number): string {
  if (value >= 1000) return `${Number((value / 1000).toPrecision(3))} s`;
  return `${Math.round(value)} ms`;
}

/** Ticks (ms) covering [low, high] at `steps` × 10^k: 1-2-5, or 1-3 when decades are narrow. */
export function logTicks(low: number, high: number, steps: readonly number[] = [1, 2, 5]): number[] {
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(low)); decade <= high * 10; decade *= 10) {
    for (const step of steps) {
      const tick = decade * step;
      if (tick >= low && tick <= high) ticks.push(tick);
    }
  }
  return ticks;
}

/** The next 1-2-5 value at or below / above `value`. */
function niceBound(value: number, direction: 'down' | 'up'): number {
  const decade = 10 ** Math.floor(Math.log10(value));
  const steps = [1, 2, 5, 10].map((s) => s * decade);
  return direction === 'down'
    ? ([...steps].reverse().find((s) => s <= value) ?? decade)
    : (steps.find((s) => s >= value) ?? 10 * decade);
}

export function renderSvg(run: ExperimentRun): string {
  const rows = run.results;
  const height = TOP + rows.length * ROW + 70;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    '<title>End-to-end latency and mean batch size per mixing strategy</title>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
  );
  const { load } = run;
  out.push(
    ...heading(
      `Mixing strategies under one load: ${load.clients} clients × ${load.ratePerClient} msg/s (Poisson), ${load.durationSeconds} s each, 3-layer cascade`,
      run.machine,
      run.startedAt,
    ),
    text(LATENCY_LEFT, TOP - 22, 'End-to-end latency (log scale)', 'font-weight="bold"'),
    text(BATCH_LEFT, TOP - 22, 'Mean batch size per layer', 'font-weight="bold"'),
  );

  // Latency axis: 1-2-5 bounds around every strategy's p1 and maximum.
  const stats = rows.map((row) => {
    if (row.latenciesMs.length === 0) return undefined;
    const sorted = [...row.latenciesMs].sort((a, b) => a - b);
    const at = (p: number) => Math.max(1, percentile(sorted, p));
    return { p1: at(1), p25: at(25), p50: at(50), p75: at(75), p99: at(99), max: Math.max(1, sorted.at(-1) as number) };
  });
  const present = stats.filter((s) => s !== undefined);
  const low = niceBound(Math.min(...present.map((s) => s.p1), 1e9) / 1.05, 'down');
  const high = niceBound(Math.max(...present.map((s) => s.max), 10) * 1.05, 'up');
  const x = (ms: number) =>
    LATENCY_LEFT + ((Math.log(ms) - Math.log(low)) / (Math.log(high) - Math.log(low))) * (LATENCY_RIGHT - LATENCY_LEFT);
  const plotBottom = TOP + rows.length * ROW;
  // Labels like "200 ms" need about 50 px: 1-2-5 ticks only where a decade is wide enough.
  const pixelsPerDecade = (LATENCY_RIGHT - LATENCY_LEFT) / Math.log10(high / low);
  for (const tick of logTicks(low, high, pixelsPerDecade >= 200 ? [1, 2, 5] : [1, 3])) {
    out.push(
      `<line x1="${num(x(tick))}" y1="${TOP - 8}" x2="${num(x(tick))}" y2="${plotBottom}" stroke="#e3e3e3"/>`,
      text(x(tick), plotBottom + 16, formatMs(tick), 'text-anchor="middle" fill="#444"'),
    );
  }

  // Batch axis: 0 to a round maximum.
  const batchMax = Math.max(
    1,
    ...rows.flatMap((row) => row.layers.map((l) => l.meanBatchSize)).filter((v) => Number.isFinite(v)),
  );
  const batchTop = niceBound(batchMax * 1.15, 'up');
  const bx = (value: number) => BATCH_LEFT + (value / batchTop) * (BATCH_RIGHT - BATCH_LEFT);
  const batchStep = batchTop / 5;
  for (let tick = 0; tick <= batchTop + 1e-9; tick += batchStep) {
    out.push(
      `<line x1="${num(bx(tick))}" y1="${TOP - 8}" x2="${num(bx(tick))}" y2="${plotBottom}" stroke="#e3e3e3"/>`,
      text(bx(tick), plotBottom + 16, String(Number(tick.toPrecision(3))), 'text-anchor="middle" fill="#444"'),
    );
  }

  rows.forEach((row, i) => {
    const top = TOP + i * ROW;
    const mid = top + ROW / 2 - 6;
    if (i % 2 === 1) out.push(`<rect x="10" y="${top - 4}" width="${WIDTH - 20}" height="${ROW}" fill="#f6f7f9"/>`);
    out.push(text(LABEL_RIGHT, mid + 4, row.strategy, 'text-anchor="end" font-family="Menlo, Consolas, monospace"'));
    const s = stats[i];
    const summary = row.summary;
    if (!s || !summary) {
      out.push(
        text(LATENCY_LEFT + 10, mid + 4, row.error ? `failed: ${row.error}` : 'nothing delivered', 'fill="#b00"'),
      );
    } else {
      const box = 8;
      out.push(
        `<line x1="${num(x(s.p1))}" y1="${mid}" x2="${num(x(s.p25))}" y2="${mid}" stroke="#333"/>`,
        `<line x1="${num(x(s.p75))}" y1="${mid}" x2="${num(x(s.p99))}" y2="${mid}" stroke="#333"/>`,
        `<line x1="${num(x(s.p1))}" y1="${mid - 5}" x2="${num(x(s.p1))}" y2="${mid + 5}" stroke="#333"/>`,
        `<line x1="${num(x(s.p99))}" y1="${mid - 5}" x2="${num(x(s.p99))}" y2="${mid + 5}" stroke="#333"/>`,
        `<rect x="${num(x(s.p25))}" y="${mid - box}" width="${num(Math.max(1, x(s.p75) - x(s.p25)))}" height="${2 * box}" fill="${BOX_COLOUR}" fill-opacity="0.55" stroke="#2f4f7f"/>`,
        `<line x1="${num(x(s.p50))}" y1="${mid - box}" x2="${num(x(s.p50))}" y2="${mid + box}" stroke="#102040" stroke-width="2.5"/>`,
        `<circle cx="${num(x(s.max))}" cy="${mid}" r="2.5" fill="#c0392b"/>`,
        text(
          LATENCY_LEFT + 4,
          mid + 21,
          `p50 ${formatMs(s.p50)} · p99 ${formatMs(s.p99)} · delivered ${summary.delivered}/${summary.sent}${summary.lost > 0 ? ` (${summary.lost} lost)` : ''}`,
          'font-size="10.5" fill="#555"',
        ),
      );
    }
    row.layers.forEach((layer, l) => {
      const barHeight = 9;
      const y = top + 4 + l * (barHeight + 3);
      if (!Number.isFinite(layer.meanBatchSize)) return;
      out.push(
        `<rect x="${BATCH_LEFT}" y="${y}" width="${num(Math.max(1, bx(layer.meanBatchSize) - BATCH_LEFT))}" height="${barHeight}" fill="${LAYER_COLOURS[l % LAYER_COLOURS.length]}"/>`,
        text(
          bx(layer.meanBatchSize) + 4,
          y + barHeight - 1,
          layer.meanBatchSize.toFixed(1),
          'font-size="10" fill="#333"',
        ),
      );
    });
  });

  // Legends.
  const legendY = plotBottom + 44;
  out.push(
    `<rect x="${LATENCY_LEFT}" y="${legendY - 9}" width="22" height="12" fill="${BOX_COLOUR}" fill-opacity="0.55" stroke="#2f4f7f"/>`,
    text(
      LATENCY_LEFT + 28,
      legendY + 1,
      'box p25–p75, thick line p50, whiskers p1–p99, red dot the slowest message',
      'fill="#333"',
    ),
  );
  LAYER_COLOURS.forEach((colour, l) => {
    out.push(
      `<rect x="${BATCH_LEFT + l * 70}" y="${legendY - 9}" width="12" height="12" fill="${colour}"/>`,
      text(BATCH_LEFT + l * 70 + 17, legendY + 1, `layer ${l + 1}`, 'fill="#333"'),
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}
