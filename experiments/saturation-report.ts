/** The saturation bench's results as markdown and a self-contained SVG (in plot.ts's style, with its helpers). */
import type { LatencyStats } from '@mixlab/load';
import { heading, logTicks, num, text } from './plot.ts';
import { type PublicKeyBound, packetWorkMicros } from './public-key-bound.ts';
import { ROUND_TRIP_BYTES } from './request-cost.ts';

export interface CpuShare {
  readonly name: string;
  /** CPU used, in cores (CPU seconds per second). */
  readonly cores: number;
}

export interface StageQuantiles {
  /** A stage of mixlab_stage_seconds, with the layer for a mix node's stages ("hop_peel L1"). */
  readonly stage: string;
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface StepResult {
  /** A step of the ramp, or the longer step at half the saturation load (the latency floor). */
  readonly kind: 'ramp' | 'floor';
  /** Nominal offered load, msg/s. */
  readonly offered: number;
  /** Sends attempted per second (the Poisson schedule's own count). */
  readonly attempted: number;
  /** Delivered per second (delivered / max(step, first to last delivery)). */
  readonly carried: number;
  readonly sent: number;
  readonly sendErrors: number;
  readonly delivered: number;
  readonly lost: number;
  readonly latency: LatencyStats | null;
  /** Every latency (ms), kept for the floor step only. */
  readonly latenciesMs: readonly number[];
  readonly stages: readonly StageQuantiles[];
  readonly cpu: readonly CpuShare[];
  /** Wall time the CPU shares were measured over. */
  readonly cpuSeconds: number;
  /** 1-minute load average at the end of the step. */
  readonly load1: number;
  readonly errors: readonly string[];
  /** The load generator threads' event-loop delay p99 (ms, the worst thread): how long its own work held receipts up. */
  readonly loadGeneratorLoopDelayP99Ms?: number;
}

export interface StrategyRamp {
  readonly strategy: string;
  /** How the load generator reached the gateway: its container's address, or the published port. */
  readonly gatewayUrl?: string;
  /** CPU of each container before any traffic. */
  readonly idle: readonly CpuShare[];
  readonly steps: readonly StepResult[];
  /** The highest offered load that was carried in full with p99 under 1 s. */
  readonly saturation: number | null;
}

export interface SaturationRun {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: { readonly cpu: string; readonly cores: number; readonly node: string; readonly docker: string };
  readonly settings: {
    readonly stepSeconds: number;
    readonly drainSeconds: number;
    readonly floorSeconds: number;
    readonly clients: number;
    readonly workers: number;
    readonly seed: number;
  };
  readonly bound: PublicKeyBound;
  readonly ramps: readonly StrategyRamp[];
}

const f = (value: number | undefined, digits = 1) =>
  value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
const maxCarried = (ramp: StrategyRamp) => Math.max(0, ...ramp.steps.map((s) => s.carried));
const SERVICES = ['directory', 'mix-layer-1', 'mix-layer-2', 'mix-layer-3', 'client-gateway'];

/**
 * CPU µs per carried message in the saturation step, above each component's idle use: of the
 * components `counted` names (all when absent; the cascade's own: its services, without the load
 * generator, Prometheus or docker-proxy, which share the cores here but are not the cascade).
 */
function cpuPerMessageMicros(ramp: StrategyRamp, counted?: readonly string[]): number | undefined {
  const step = ramp.steps.find((s) => s.kind === 'ramp' && s.offered === ramp.saturation);
  if (!step || step.carried <= 0) return undefined;
  const cores = step.cpu
    .filter((share) => counted === undefined || counted.includes(share.name))
    .reduce((sum, share) => sum + share.cores - (ramp.idle.find((i) => i.name === share.name)?.cores ?? 0), 0);
  return (cores / step.carried) * 1e6;
}

/**
 * What issue 11's goal (half the public-key bound) leaves a message of CPU besides its packet
 * work, beside what the run spent: the gap a reader should see before any other figure.
 */
function budgetLines(run: SaturationRun): string[] {
  const { bound } = run;
  const goal = bound.boundPerSecond / 2;
  const budget = (bound.cores * 1e6) / goal;
  const packet = packetWorkMicros(bound.packetMicros);
  const left = budget - packet;
  const spent = run.ramps.flatMap((ramp) => {
    const all = cpuPerMessageMicros(ramp);
    return all === undefined
      ? []
      : [
          `\`${ramp.strategy}\` ${f(all, 0)} µs per message, ${f(all - packet, 0)} µs besides the packet work (${f((all - packet) / left, 1)} times what the goal leaves)`,
        ];
  });
  return [
    `What the goal leaves: at half the public-key bound, ${Math.round(goal)} msg/s, ${bound.cores} cores give a message ${f(budget, 0)} µs of CPU in all, the load generator's included (it runs on the same cores); the packet work takes ${f(packet, 0)} µs of that, so ${f(left, 0)} µs remain for everything else a message causes: its client's submission and delivery, the links between services, the mailbox, taps, the observer, metrics and the load generator's own bookkeeping.${
      bound.roundTripMicros === undefined
        ? ''
        : ` A bare TCP round trip of ${ROUND_TRIP_BYTES} bytes (no HTTP, TLS or framing, both ends in one process, so no wake-ups) costs ${f(bound.roundTripMicros, 0)} µs in this run, and a message needs two on its client's own connection (submission and answer, delivery and acknowledgement), which nothing batches.`
    }${spent.length > 0 ? ` At saturation everything measured, above idle, took: ${spent.join('; ')}.` : ''}`,
    '',
  ];
}

/** CPU per delivered message (ms), per component, above what it used idle (healthchecks, scrapes, heartbeats). */
function stepRow(step: StepResult, idle: readonly CpuShare[]): string {
  const cpuPerMessage = step.cpu
    .map((share) => ({
      name: share.name,
      ms: ((share.cores - (idle.find((i) => i.name === share.name)?.cores ?? 0)) / Math.max(step.carried, 1e-9)) * 1000,
    }))
    .filter((share) => share.ms >= 0.05)
    .map((share) => `${share.name} ${f(share.ms, 2)}`)
    .join(', ');
  const totalCores = step.cpu.reduce((sum, share) => sum + share.cores, 0);
  return `| ${step.kind === 'floor' ? `**${step.offered}** (floor)` : step.offered} | ${f(step.attempted)} | ${f(step.carried)} | ${step.delivered}/${step.sent}${step.sendErrors ? ` (+${step.sendErrors} failed)` : ''} | ${f(step.latency?.p50Ms)} | ${f(step.latency?.p99Ms)} | ${f(totalCores, 2)} | ${cpuPerMessage} | ${step.load1} |`;
}

function stageTable(step: StepResult): string[] {
  return [
    '| stage | count | p50 (ms) | p99 (ms) |',
    '| --- | ---: | ---: | ---: |',
    ...step.stages.map((s) => `| ${s.stage} | ${s.count} | ${f(s.p50Ms, 2)} | ${f(s.p99Ms, 2)} |`),
  ];
}

export function renderSaturationMarkdown(run: SaturationRun): string {
  const { bound, settings } = run;
  const x = bound.x25519PerMessage;
  const lines = [
    '# Cascade saturation',
    '',
    `Run ${run.startedAt} to ${run.finishedAt} on ${run.machine.cpu}, ${run.machine.cores} cores, Node ${run.machine.node}, Docker ${run.machine.docker}, with \`npm run bench:cascade\` ([experiments/saturation.ts](../../experiments/saturation.ts)).`,
    `Each step: ${settings.clients} simulated clients on ${settings.workers} worker threads, Poisson sends for ${settings.stepSeconds} s (seeded), up to ${settings.drainSeconds} s of drain, \`sphinx\` packets, no cover; a fresh three-layer cascade (one node per layer) per strategy. A step falls behind when it carries less than 0.95 of what was sent or its p99 exceeds 1 s; the saturation point is the last step before that. Other work shared the 2 cores: every step lists the 1-minute load average, and its CPU column says how much of the cores the cascade, Prometheus and the load generator got (well under 2 at saturation means other work took the rest).`,
    '',
    '![Offered against carried load, and p50/p99 latency, per step](saturation.svg)',
    '',
    '## The machine bound',
    '',
    `One message costs ${x.wrap + x.hops + x.open} X25519: ${x.wrap} for the sender's wrap (the Sphinx header for three hops and the sealed box to the recipient), ${x.hops} for the three hops (two per forwarding hop, one at the exit), ${x.open} for the recipient's open. Measured in this run, one X25519 takes ${Object.entries(
      bound.x25519Micros,
    )
      .map(([name, micros]) => `${f(micros)} µs (${name})`)
      .join(
        ', ',
      )}; at the fastest (${bound.fastest}) a message's public-key work is ${f(bound.publicKeyMicros, 0)} µs, so ${bound.cores} cores bound the cascade at **${Math.round(bound.boundPerSecond)} msg/s**.`,
    `The whole packet work as the code does it (wrap ${f(bound.packetMicros.wrap, 0)} µs, hop ${f(bound.packetMicros.hop, 0)} µs twice, exit ${f(bound.packetMicros.exit, 0)} µs, open ${f(bound.packetMicros.open, 0)} µs, with the symmetric crypto) bounds it at ${Math.round(bound.packetBoundPerSecond)} msg/s.`,
    ...(bound.requestMicros === undefined ||
    bound.requestBoundPerSecond === undefined ||
    bound.linksPerMessage === undefined
      ? []
      : [
          `What the transport adds: one HTTP request of one packet costs ${f(bound.requestMicros, 0)} µs of CPU across both ends of a link (a service app and an undici client in one process, measured in this run: ${f(bound.requestMicros / (bound.publicKeyMicros / (x.wrap + x.hops + x.open)), 1)} X25519), and a message crosses ${bound.linksPerMessage} links (client to gateway, gateway to layer 1, two between layers, exit to gateway), so at one packet per request the public-key work and the requests alone bound the cascade at ${Math.round(bound.requestBoundPerSecond)} msg/s (${f(bound.requestBoundPerSecond / bound.boundPerSecond, 2)} of the public-key bound), before TLS on the client's link, link boxes, taps, metrics, mailboxes and the load generator's own HTTP and WebSocket work. Requests that carry several packets (coalescing under load) share that cost.`,
        ]),
    '',
    '| strategy | saturation (msg/s offered) | most carried (msg/s) | of the public-key bound | of the packet-work bound | cascade CPU per message at saturation (ms) | cores / that (msg/s) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...run.ramps.map((ramp) => {
      const micros = cpuPerMessageMicros(ramp, SERVICES);
      const cpu = micros === undefined ? undefined : micros / 1000;
      return `| \`${ramp.strategy}\` | ${ramp.saturation ?? '–'} | ${f(maxCarried(ramp))} | ${f((ramp.saturation ?? 0) / bound.boundPerSecond, 2)} | ${f((ramp.saturation ?? 0) / bound.packetBoundPerSecond, 2)} | ${f(cpu, 2)} | ${cpu ? Math.round((bound.cores * 1000) / cpu) : '–'} |`;
    }),
    '',
    "The load generator runs on the same cores (its CPU per message is in each step's row below), and so does whatever else the machine runs: the last column is what the cascade's services would carry with the cores to themselves, at the CPU per message they spent in the saturation step.",
    '',
    ...budgetLines(run),
  ];
  for (const ramp of run.ramps) {
    lines.push(
      `## \`${ramp.strategy}\``,
      '',
      `Clients reached the gateway at its ${ramp.gatewayUrl ?? 'published port'}. Idle, before any traffic: ${ramp.idle.map((s) => `${s.name} ${f(s.cores, 3)}`).join(', ')} cores (${f(
        ramp.idle.reduce((sum, s) => sum + s.cores, 0),
        3,
      )} in all).`,
      '',
      '| offered (msg/s) | sent (msg/s) | carried (msg/s) | delivered | p50 (ms) | p99 (ms) | CPU (cores) | CPU per message above idle (ms) | load |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
      ...ramp.steps.map((step) => stepRow(step, ramp.idle)),
      '',
    );
    const floor = ramp.steps.find((s) => s.kind === 'floor');
    const last = ramp.steps.filter((s) => s.kind === 'ramp').at(-1);
    for (const [title, step] of [
      ['At half the saturation load (the latency floor)', floor],
      ['In the last step', last],
    ] as const) {
      if (!step) continue;
      lines.push(
        `Stages ${title.toLowerCase()}, ${step.offered} msg/s: end to end p50 ${f(step.latency?.p50Ms)} ms, p99 ${f(step.latency?.p99Ms)} ms; the load generator's event-loop delay p99 ${f(step.loadGeneratorLoopDelayP99Ms)} ms (\`mixlab_stage_seconds\`, this step's observations only; quantiles interpolated in buckets that double from 0.1 ms; forwarding stages include the next hop's answer, so they nest).`,
        '',
        ...stageTable(step),
        '',
      );
      if (step.errors.length > 0) lines.push(`Errors: ${step.errors.join('; ')}`, '');
    }
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------

const WIDTH = 1120;
const HEIGHT = 520;
const TOP = 80;
const BOTTOM = 440;
const PANELS = [
  { left: 80, right: 520 },
  { left: 640, right: 1080 },
];
const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];

function logScale(low: number, high: number, from: number, to: number) {
  return (value: number) =>
    from + ((Math.log(Math.max(value, low)) - Math.log(low)) / (Math.log(high) - Math.log(low))) * (to - from);
}

export function renderSaturationSvg(run: SaturationRun): string {
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    '<title>Cascade saturation: offered against carried load, and latency per step</title>',
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    ...heading(
      `Cascade saturation: ${run.settings.clients} clients, ${run.settings.stepSeconds} s steps, 3 layers, sphinx`,
      run.machine,
      run.startedAt,
    ),
  ];
  const steps = run.ramps.flatMap((ramp) => ramp.steps.filter((s) => s.kind === 'ramp'));
  const rates = [
    run.bound.boundPerSecond,
    run.bound.packetBoundPerSecond,
    ...steps.flatMap((s) => [s.offered, s.carried]),
  ];
  const low = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...steps.map((s) => s.offered), 100))));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...rates, 10) * 1.05));
  const [left, right] = PANELS as [(typeof PANELS)[0], (typeof PANELS)[0]];
  const rx = logScale(low, high, left.left, left.right);
  const ry = logScale(low, high, BOTTOM, TOP);
  const latencies = steps.flatMap((s) => (s.latency ? [s.latency.p50Ms, s.latency.p99Ms] : []));
  const latencyLow = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...latencies, 1e6))));
  const latencyHigh = 10 ** Math.ceil(Math.log10(Math.max(...latencies, 10)));
  const lx = logScale(low, high, right.left, right.right);
  const ly = logScale(latencyLow, latencyHigh, BOTTOM, TOP);

  out.push(
    text(left.left, TOP - 16, 'Carried against offered load (msg/s, log-log)', 'font-weight="bold"'),
    text(right.left, TOP - 16, 'End-to-end latency per step: p50 (solid), p99 (dashed)', 'font-weight="bold"'),
  );
  for (const tick of logTicks(low, high)) {
    for (const scale of [rx, lx]) {
      out.push(
        `<line x1="${num(scale(tick))}" y1="${TOP}" x2="${num(scale(tick))}" y2="${BOTTOM}" stroke="#e3e3e3"/>`,
        text(scale(tick), BOTTOM + 16, String(tick), 'text-anchor="middle" fill="#444"'),
      );
    }
    out.push(
      `<line x1="${left.left}" y1="${num(ry(tick))}" x2="${left.right}" y2="${num(ry(tick))}" stroke="#e3e3e3"/>`,
      text(left.left - 6, ry(tick) + 4, String(tick), 'text-anchor="end" fill="#444"'),
    );
  }
  for (const tick of logTicks(latencyLow, latencyHigh)) {
    out.push(
      `<line x1="${right.left}" y1="${num(ly(tick))}" x2="${right.right}" y2="${num(ly(tick))}" stroke="#e3e3e3"/>`,
      text(
        right.left - 6,
        ly(tick) + 4,
        tick >= 1000 ? `${tick / 1000} s` : `${tick} ms`,
        'text-anchor="end" fill="#444"',
      ),
    );
  }
  out.push(
    text((left.left + left.right) / 2, BOTTOM + 34, 'offered (msg/s)', 'text-anchor="middle" fill="#333"'),
    text((right.left + right.right) / 2, BOTTOM + 34, 'offered (msg/s)', 'text-anchor="middle" fill="#333"'),
    `<line x1="${num(rx(low))}" y1="${num(ry(low))}" x2="${num(rx(high))}" y2="${num(ry(high))}" stroke="#999" stroke-dasharray="3 3"/>`,
  );
  // The bounds, as vertical lines on both panels.
  for (const [value, label] of [
    [run.bound.boundPerSecond, 'public-key bound'],
    [run.bound.packetBoundPerSecond, 'packet-work bound'],
  ] as const) {
    for (const scale of [rx, lx]) {
      out.push(
        `<line x1="${num(scale(value))}" y1="${TOP}" x2="${num(scale(value))}" y2="${BOTTOM}" stroke="#c0392b" stroke-dasharray="6 3"/>`,
        text(
          scale(value) - 4,
          TOP + 12,
          `${label} ${Math.round(value)}`,
          'text-anchor="end" font-size="10.5" fill="#c0392b"',
        ),
      );
    }
  }
  run.ramps.forEach((ramp, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const ramped = ramp.steps.filter((s) => s.kind === 'ramp');
    const path = (points: [number, number][]) =>
      points.map(([px, py], k) => `${k === 0 ? 'M' : 'L'}${num(px)},${num(py)}`).join(' ');
    out.push(
      `<path d="${path(ramped.map((s) => [rx(s.offered), ry(Math.max(s.carried, low))]))}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      ...ramped.map(
        (s) => `<circle cx="${num(rx(s.offered))}" cy="${num(ry(Math.max(s.carried, low)))}" r="3" fill="${colour}"/>`,
      ),
    );
    const withLatency = ramped.filter((s) => s.latency);
    out.push(
      `<path d="${path(withLatency.map((s) => [lx(s.offered), ly(s.latency?.p50Ms ?? latencyLow)]))}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      `<path d="${path(withLatency.map((s) => [lx(s.offered), ly(s.latency?.p99Ms ?? latencyLow)]))}" fill="none" stroke="${colour}" stroke-width="2" stroke-dasharray="5 3"/>`,
    );
    if (ramp.saturation !== null) {
      out.push(
        `<line x1="${num(rx(ramp.saturation))}" y1="${BOTTOM}" x2="${num(rx(ramp.saturation))}" y2="${num(ry(ramp.saturation))}" stroke="${colour}" stroke-width="1"/>`,
      );
    }
    const legendX = 80 + i * 380;
    out.push(
      `<rect x="${legendX}" y="${HEIGHT - 26}" width="14" height="4" fill="${colour}"/>`,
      text(
        legendX + 20,
        HEIGHT - 20,
        `${ramp.strategy}: saturation ${ramp.saturation ?? '–'} msg/s offered`,
        'fill="#333"',
      ),
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}
