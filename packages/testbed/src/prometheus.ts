/** Reading results from the cascade's Prometheus over its HTTP API, for assertions. */
import { eventually } from './cascade.ts';
import { instantQuery } from './dashboard.ts';

/** One series of an instant query's vector. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query that must return a vector (anything summed, counted or by label). */
export async function queryVector(prometheusUrl: string, expr: string): Promise<Sample[]> {
  const data = await instantQuery(prometheusUrl, expr);
  if (data.resultType !== 'vector') throw new Error(`expected a vector from ${expr}, got ${data.resultType}`);
  return data.result as Sample[];
}

/** An instant query's vector as { value of `label`: sample } ('' where a series lacks the label). */
export async function queryByLabel(
  prometheusUrl: string,
  expr: string,
  label: string,
): Promise<Record<string, number>> {
  const rows = await queryVector(prometheusUrl, expr);
  return Object.fromEntries(rows.map((row) => [row.metric[label] ?? '', Number(row.value[1])]));
}

/** The value of a query without labels (`sum(...)`), or undefined while it has no series. */
export async function queryValue(prometheusUrl: string, expr: string): Promise<number | undefined> {
  return (await queryByLabel(prometheusUrl, expr, ''))[''];
}

/**
 * Like queryByLabel, retried until a series for every one of `keys` is there. A scrape
 * that misses its deadline on a busy machine makes a target's series stale for a moment;
 * that is not what the assertions are about.
 */
export function queryEvery(
  prometheusUrl: string,
  expr: string,
  label: string,
  keys: readonly string[],
): Promise<Record<string, number>> {
  return eventually(`${expr} for every ${label} of ${keys.join(', ')}`, async () => {
    const values = await queryByLabel(prometheusUrl, expr, label);
    return keys.every((key) => key in values) ? values : undefined;
  });
}
