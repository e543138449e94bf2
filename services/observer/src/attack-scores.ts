/**
 * The attack lab's last scores, for the dashboard: `npm run experiment -- attacks` posts them
 * here once its run ends and Prometheus scrapes them with the observer's other metrics. The
 * observer computes none of them; it only keeps the last run's.
 */
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
