/**
 * `mixlab attack timing|size|disclosure`: the passive attacks of @mixlab/attacks run on the
 * wire trace the observer recorded (GET /v1/trace: times, endpoints, sizes, nothing else).
 * The attack never reads the truth; with --truth FILE (what `mixlab load --truth FILE`
 * wrote) the command scores it afterwards, joining the two as only a scorer may.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { DeliveryEstimate, Roles, WireEvent } from '@mixlab/anonymity';
import {
  disclosureProgress,
  disclosureRoundsFromBatches,
  disclosureRoundsFromTrace,
  exitLinkSizes,
  joinTruth,
  type LinkingSummary,
  onionWireModel,
  overCandidates,
  type RecordedTrace,
  rolesOfTrace,
  StatisticalDisclosure,
  type scoreDisclosure,
  scoreLinking,
  sendersOf,
  sizeCorrelation,
  timingCorrelation,
  traceEnds,
  wireModelFit,
} from '@mixlab/attacks';
import type { LoadTruth } from '@mixlab/load';

export const ATTACKS = ['timing', 'size', 'disclosure'] as const;
export type AttackName = (typeof ATTACKS)[number];

export const ATTACK_USAGE = `attack timing|size|disclosure --observer URL [--truth FILE] [--json FILE]
       [--bin-ms MS] [--window-ms MS] [--shrink-bytes B]
       [--target CLIENT --friends M [--round-ms MS --lag-ms MS]]
      run a passive attack on the wire trace the observer at URL recorded (its GET /v1/trace:
      when, between which endpoints, how many bytes; nothing else) and print what it found.
      timing links each push to a sender by delays (--bin-ms 5, --window-ms 10000); size by
      sizes (the onion format's exact wire sizes when they fit the trace, else --shrink-bytes or
      a shrink learned from the size histograms; --window-ms: default the whole
      trace), and reports what sizes show on the exit -> gateway link; disclosure ranks the
      recipients of --target (a client slot, e.g. client-3) over the first layer's batches as
      the wire shows them (or rounds of --round-ms whose pushes come --lag-ms later) and
      prints its top --friends (default 5). With --truth FILE
      (written by \`mixlab load --truth FILE\`) it scores the attack against who really sent
      what to whom: top-1, mean rank, AUC (timing, size); friends in the top m (disclosure).`;

export interface AttackSettings {
  readonly attack: AttackName;
  readonly observerUrl: string;
  readonly truthFile?: string | undefined;
  readonly jsonFile?: string | undefined;
  readonly binMs?: number | undefined;
  readonly windowMs?: number | undefined;
  readonly shrinkBytes?: number | undefined;
  readonly target?: string | undefined;
  readonly friends?: number | undefined;
  readonly roundMs?: number | undefined;
  readonly lagMs?: number | undefined;
}

/** The observer's whole recorded trace, page by page. */
export async function fetchTrace(observerUrl: string, since = 0): Promise<RecordedTrace & { dropped: number }> {
  const events: WireEvent[] = [];
  let dropped = 0;
  let cursor = since;
  for (;;) {
    const response = await fetch(new URL(`/v1/trace?since=${cursor}&limit=50000`, observerUrl));
    if (!response.ok) throw new Error(`${observerUrl}/v1/trace answered ${response.status}`);
    const page = (await response.json()) as RecordedTrace & { next: number; dropped: number };
    events.push(...page.events);
    dropped += page.dropped;
    if (page.next === cursor || page.events.length === 0) return { ...page, events, dropped };
    cursor = page.next;
  }
}

export async function readTruth(file: string): Promise<LoadTruth> {
  const truth = JSON.parse(await readFile(file, 'utf8')) as LoadTruth;
  if (!Number.isSafeInteger(truth?.clients) || !Array.isArray(truth.messages)) {
    throw new Error(`${file} is not a load truth file (mixlab load --truth FILE writes one)`);
  }
  return truth;
}

export interface LinkingResult {
  readonly attack: 'timing' | 'size';
  /** Candidate senders: the client connections that submitted. */
  readonly senders: readonly string[];
  readonly pushes: number;
  readonly estimates: readonly DeliveryEstimate[];
  /** What the attack learned: the shrink (size) or the most likely delay (timing). */
  readonly learned: Readonly<Record<string, number | undefined>>;
  readonly exitLink?: ReturnType<typeof exitLinkSizes>;
}

/** Runs a linking attack on the trace alone; estimates are over the senders. */
export function linkingAttack(
  attack: 'timing' | 'size',
  trace: RecordedTrace,
  options: Pick<AttackSettings, 'binMs' | 'windowMs' | 'shrinkBytes'> = {},
): LinkingResult {
  const roles = rolesOfTrace(trace);
  const senders = sendersOf(trace.events, roles);
  if (attack === 'timing') {
    const { estimates, profile } = timingCorrelation(trace.events, roles, {
      ...(options.binMs === undefined ? {} : { binMs: options.binMs }),
      ...(options.windowMs === undefined ? {} : { windowMs: options.windowMs }),
    });
    let peak = 0;
    profile.weights.forEach((w, k) => {
      if (w > (profile.weights[peak] as number)) peak = k;
    });
    return {
      attack,
      senders,
      pushes: estimates.length,
      estimates: overCandidates(estimates, roles.clients, senders),
      learned: { modalDelayMs: peak * profile.binMs },
    };
  }
  // The onion format's exact wire sizes when they explain the trace (the format is public; the
  // attacker checks which one runs), else a shrink learned from the size histograms.
  const model = onionWireModel(roles);
  const { submissions, pushes } = traceEnds(trace.events, roles);
  const fit = wireModelFit(model, submissions, pushes);
  const useModel = options.shrinkBytes === undefined && fit >= 0.5;
  const { estimates, shrinkBytes } = sizeCorrelation(trace.events, roles, {
    ...(useModel ? { wireModel: model } : {}),
    ...(options.shrinkBytes === undefined ? {} : { shrinkBytes: options.shrinkBytes }),
    ...(options.windowMs === undefined ? {} : { windowMs: options.windowMs }),
  });
  return {
    attack,
    senders,
    pushes: estimates.length,
    estimates: overCandidates(estimates, roles.clients, senders),
    learned: { shrinkBytes, onionModelFit: fit },
    exitLink: exitLinkSizes(trace.events, roles),
  };
}

/** Scores a linking result against a load run's truth (the scorer's join; the attack never saw it). */
export function scoreLinkingResult(
  result: LinkingResult,
  trace: RecordedTrace,
  truth: LoadTruth,
): { summary: LinkingSummary; unjoined: number } {
  const join = joinTruth(truth, trace.events, rolesOfTrace(trace));
  const { summary } = scoreLinking(result.estimates, join.records, result.senders);
  return { summary, unjoined: join.unjoined };
}

export interface DisclosureResult {
  readonly attack: 'disclosure';
  readonly target: string;
  /** How rounds were cut: the first layer's batches, or fixed windows. */
  readonly roundsFrom: 'batches' | 'windows';
  readonly rounds: number;
  readonly targetRounds: number;
  /** Recipients seen on the wire: N. */
  readonly recipients: number;
  /** Mean submissions per round: the batch size b as the wire shows it. */
  readonly meanBatch: number;
  readonly top: readonly string[];
  readonly score?: ReturnType<typeof scoreDisclosure> & {
    readonly friends: readonly string[];
    /** Target rounds (and rounds) until the friends were first disclosed; undefined: not within the trace. */
    readonly targetRoundsToDisclose: number | undefined;
    readonly roundsToDisclose: number | undefined;
  };
}

/**
 * The statistical disclosure attack on the trace, cut into the first layer's batches (no
 * `roundMs`) or into windows of `roundMs` whose pushes come `lagMs` later; scored when the
 * truth is given (its planted target's friends, else every recipient the target sent to).
 */
export function disclosureAttack(
  trace: RecordedTrace,
  options: { target: string; friends: number; roundMs?: number | undefined; lagMs?: number | undefined },
  truth?: LoadTruth,
): DisclosureResult {
  const roles: Roles = rolesOfTrace(trace);
  if (!roles.clients.includes(options.target)) throw new Error(`--target ${options.target} is no client on the wire`);
  const start = trace.events[0]?.atMs ?? 0;
  const rounds =
    options.roundMs === undefined
      ? disclosureRoundsFromBatches(trace.events, roles)
      : disclosureRoundsFromTrace(trace.events, roles, {
          roundMs: options.roundMs,
          lagMs: options.lagMs ?? 0,
          startMs: start,
        });
  const recipients = [...new Set(rounds.flatMap((round) => round.recipients))].sort();
  const attack = new StatisticalDisclosure(options.target, recipients.length > 0 ? recipients : ['(none)']);
  const base = {
    attack: 'disclosure' as const,
    target: options.target,
    roundsFrom: options.roundMs === undefined ? ('batches' as const) : ('windows' as const),
    rounds: rounds.length,
    recipients: recipients.length,
    meanBatch: rounds.reduce((sum, round) => sum + round.senders.length, 0) / Math.max(rounds.length, 1),
  };
  if (!truth) {
    for (const round of rounds) attack.observe(round);
    return { ...base, targetRounds: attack.targetRounds, top: attack.top(options.friends) };
  }
  const join = joinTruth(truth, trace.events, roles);
  const member = join.senderSlots.indexOf(options.target);
  if (member < 0) throw new Error(`the truth has no simulated client that submitted on ${options.target}`);
  const friendIndices =
    truth.target?.client === member
      ? truth.target.friends
      : truth.messages.filter((m) => m.from === member).map((m) => m.to);
  const friends = [...new Set(friendIndices.flatMap((to) => join.recipientSlots[to] ?? []))].filter((slot) =>
    attack.recipients.includes(slot),
  );
  const progress = disclosureProgress(attack, rounds, friends);
  return {
    ...base,
    targetRounds: attack.targetRounds,
    top: attack.top(options.friends),
    score: {
      ...progress.final,
      friends,
      targetRoundsToDisclose: progress.targetRoundsToDisclose,
      roundsToDisclose: progress.roundsToDisclose,
    },
  };
}

const fixed = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export function formatLinking(result: LinkingResult, score?: { summary: LinkingSummary; unjoined: number }): string {
  const lines = [
    `${result.attack} correlation: ${result.pushes} pushes, ${result.senders.length} candidate senders` +
      Object.entries(result.learned)
        .map(([key, value]) => `, learned ${key} ${value ?? 'nothing'}`)
        .join(''),
  ];
  if (result.exitLink) {
    lines.push(
      `exit -> gateway link: sizes per packet ${result.exitLink.sizes.map((s) => `${s.bytes} B x ${s.events}`).join(', ')}` +
        (result.exitLink.distinguishable ? ' (distinguishable)' : ' (one size: nothing to tell apart)'),
    );
  }
  if (score) {
    const { summary } = score;
    lines.push(
      `scored against the truth: ${summary.messages} messages, top-1 ${fixed(summary.top1Accuracy)} ` +
        `(random ${fixed(summary.baseline.top1Accuracy)}), mean rank ${fixed(summary.meanRank, 2)} ` +
        `(random ${fixed(summary.baseline.rank, 2)}), AUC ${fixed(summary.auc)} (random 0.5)` +
        (score.unjoined > 0 ? `; ${score.unjoined} messages not found on the wire` : ''),
    );
  }
  return lines.join('\n');
}

export function formatDisclosure(result: DisclosureResult): string {
  const lines = [
    `statistical disclosure on ${result.target}: ${result.rounds} rounds (${result.roundsFrom}, ${fixed(result.meanBatch, 1)} senders each), ` +
      `${result.targetRounds} with the target, ${result.recipients} recipients; top ${result.top.length}: ${result.top.join(', ')}`,
  ];
  if (result.score) {
    lines.push(
      `scored against the truth: ${result.score.inTop} of ${result.score.friends.length} true recipients in the top; ` +
        `ranks ${result.score.ranks.join(', ')}; ${result.score.disclosed ? 'disclosed' : 'not yet disclosed'}` +
        (result.score.targetRoundsToDisclose === undefined
          ? ''
          : `; first disclosed after ${result.score.targetRoundsToDisclose} target rounds (${result.score.roundsToDisclose} rounds)`),
    );
  }
  return lines.join('\n');
}

/** Fetches the trace, runs the attack, prints what it found (and its score with --truth); returns the result. */
export async function attackCommand(settings: AttackSettings, out: NodeJS.WritableStream = process.stdout) {
  const trace = await fetchTrace(settings.observerUrl);
  const truth = settings.truthFile ? await readTruth(settings.truthFile) : undefined;
  out.write(
    `trace: ${trace.events.length} wire events, ${trace.clients.length} client connections, strategy ${trace.strategy}` +
      (trace.dropped > 0 ? ` (${trace.dropped} older events already overwritten)` : '') +
      '\n',
  );
  let report: object;
  if (settings.attack === 'disclosure') {
    if (settings.target === undefined)
      throw new Error('disclosure needs --target CLIENT (a client slot, e.g. client-3)');
    const result = disclosureAttack(
      trace,
      {
        target: settings.target,
        friends: settings.friends ?? 5,
        roundMs: settings.roundMs,
        lagMs: settings.lagMs,
      },
      truth,
    );
    out.write(`${formatDisclosure(result)}\n`);
    report = result;
  } else {
    const result = linkingAttack(settings.attack, trace, settings);
    const score = truth ? scoreLinkingResult(result, trace, truth) : undefined;
    out.write(`${formatLinking(result, score)}\n`);
    const { estimates: _estimates, ...rest } = result;
    report = { ...rest, ...(score ? { score } : {}) };
  }
  if (settings.jsonFile) {
    await writeFile(settings.jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report;
}
