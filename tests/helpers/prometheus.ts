/** Reading results from the cascade's Prometheus over its HTTP API, for assertions. */
import { eventually } from './cascade.ts';
import { instantQuery } from './dashboard.ts';

/** An instant query's vector as { value of `label`: sample } ('' where a series lacks the label). */
export async function queryByLabel(
  prometheusUrl: string,
  expr: string,
  label: string,
): Promise<Record<string, number>> {
  const rows = (await instantQuery(prometheusUrl, expr)).result as {
    metric: Record<string, string>;
    value: [number, string];
  }[];
  return Object.fromEntries(rows.map((row) => [row.metric[label] ?? '', Number(row.value[1])]));
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
