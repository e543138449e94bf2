/**
 * The attack lab's last scores, for the dashboard: `npm run experiment -- attacks` writes them
 * to its results file, the observer follows that file (ATTACK_SCORES_FILE) and Prometheus
 * scrapes them with its other metrics. The observer computes none of them. Only the file sets
 * them: whoever can write it can already change the host's results, while an HTTP route would
 * let anyone who reaches the port set what the dashboard shows.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Gauge, type Registry } from 'prom-client';

export interface AttackScore {
  /** timing, size, disclosure, ... */
  readonly attack: string;
  /** The mixing strategy (or packet format) the attack ran against. */
  readonly strategy: string;
  /** The attack's success in [0, 1]: top-1 accuracy for linking attacks. */
  readonly successRatio: number;
}

const LABEL = /^[A-Za-z0-9:=.,_ -]{1,64}$/;
/** Bounded labels: a run scores a handful of attacks against a handful of strategies. */
export const MAX_ATTACK_SCORES = 64;

/** Checks a posted body; throws a RangeError that names what is wrong. */
export function parseAttackScores(body: unknown): AttackScore[] {
  const scores = (body as { scores?: unknown } | null)?.scores;
  if (!Array.isArray(scores)) throw new RangeError('body must be {"scores": [{attack, strategy, successRatio}]}');
  if (scores.length > MAX_ATTACK_SCORES) throw new RangeError(`at most ${MAX_ATTACK_SCORES} scores`);
  return scores.map((score: Record<string, unknown>, i) => {
    const { attack, strategy, successRatio } = score ?? {};
    if (typeof attack !== 'string' || !LABEL.test(attack)) throw new RangeError(`scores[${i}].attack is not a label`);
    if (typeof strategy !== 'string' || !LABEL.test(strategy))
      throw new RangeError(`scores[${i}].strategy is not a label`);
    if (typeof successRatio !== 'number' || !(successRatio >= 0 && successRatio <= 1))
      throw new RangeError(`scores[${i}].successRatio must be a number in [0, 1]`);
    return { attack, strategy, successRatio };
  });
}

export function attackScoreGauge(registry: Registry): { replace(scores: readonly AttackScore[]): void } {
  const gauge = new Gauge({
    name: 'mixlab_attack_success_ratio',
    help: "The attack lab's last run: each attack's success (top-1 accuracy) per strategy, posted by the experiment.",
    labelNames: ['attack', 'strategy'],
    registers: [registry],
  });
  return {
    replace(scores) {
      gauge.reset();
      for (const { attack, strategy, successRatio } of scores) gauge.set({ attack, strategy }, successRatio);
    },
  };
}

/** The scores of a results file (docs/experiments/attacks.json); none when it does not exist yet. */
export async function readAttackScores(file: string): Promise<AttackScore[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return parseAttackScores(JSON.parse(text));
}

export interface AttackScoresFollower {
  /** Reads the file again now (what SIGHUP does); keeps the last good scores when it is unreadable. */
  reload(): Promise<void>;
  close(): void;
}

/**
 * Keeps `gauge` in step with `file`: read at once, again whenever its modification time or size
 * changes (polled every `intervalMs`, which also works through bind mounts and for a file
 * replaced by rename) and on `reload()`. A file that does not parse is reported and ignored.
 */
export function followAttackScores(
  file: string,
  gauge: { replace(scores: readonly AttackScore[]): void },
  log: { info(details: object, message: string): void; warn(details: object, message: string): void },
  intervalMs = 2_000,
): AttackScoresFollower & { readonly loaded: Promise<void> } {
  let reading = Promise.resolve();
  const reload = () => {
    reading = reading.then(async () => {
      try {
        const scores = await readAttackScores(file);
        gauge.replace(scores);
        log.info({ file, scores: scores.length }, 'attack scores loaded');
      } catch (error) {
        log.warn({ file, reason: String(error) }, 'attack scores not loaded (the last good ones stay)');
      }
    });
    return reading;
  };
  const changed = (now: { mtimeMs: number; size: number }, before: { mtimeMs: number; size: number }) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) void reload();
  };
  watchFile(file, { interval: intervalMs, persistent: false }, changed);
  return { loaded: reload(), reload, close: () => unwatchFile(file, changed) };
}
