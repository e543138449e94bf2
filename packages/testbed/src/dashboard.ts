import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO_ROOT } from './repo.ts';

/** Relative to REPO_ROOT, so that it works whatever the working directory. */
export const DASHBOARD_PATH = 'grafana/dashboards/mixlab-overview.json';

export interface DashboardQuery {
  /** Panel title; for panels inside a row, "row title / panel title". */
  panel: string;
  /** Grafana refId of the target within its panel. */
  refId: string;
  expr: string;
}

export interface DashboardQueryResult extends DashboardQuery {
  /** Series (or samples) the instant query returned; 1 for scalar/string results. */
  resultCount: number;
}

interface GrafanaTarget {
  refId?: string;
  expr?: string;
}

interface GrafanaPanel {
  type?: string;
  title?: string;
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

export interface GrafanaDashboard {
  uid?: string;
  title?: string;
  panels?: GrafanaPanel[];
  [key: string]: unknown;
}

export function loadDashboard(path = DASHBOARD_PATH): GrafanaDashboard {
  return JSON.parse(readFileSync(resolve(REPO_ROOT, path), 'utf8')) as GrafanaDashboard;
}

/** Every panel of the dashboard, rows' nested (collapsed) panels included, in order. */
export function flattenPanels(
  panels: readonly GrafanaPanel[] = [],
  rowTitle?: string,
): { name: string; panel: GrafanaPanel }[] {
  const out: { name: string; panel: GrafanaPanel }[] = [];
  for (const panel of panels) {
    const title = panel.title ?? '(untitled)';
    const name = rowTitle === undefined ? title : `${rowTitle} / ${title}`;
    out.push({ name, panel });
    if (panel.panels?.length) out.push(...flattenPanels(panel.panels, title));
  }
  return out;
}

/** Every PromQL target of every panel (including panels nested in rows). */
export function dashboardQueries(path = DASHBOARD_PATH): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const { name, panel } of flattenPanels(loadDashboard(path).panels)) {
    for (const [i, target] of (panel.targets ?? []).entries()) {
      if (typeof target.expr !== 'string' || target.expr.trim() === '') {
        throw new Error(`panel "${name}": target ${target.refId ?? i} has no expr`);
      }
      queries.push({ panel: name, refId: target.refId ?? String(i), expr: target.expr });
    }
  }
  return queries;
}

interface PrometheusResponse {
  status: 'success' | 'error';
  data?: { resultType: 'vector' | 'matrix' | 'scalar' | 'string'; result: unknown };
  errorType?: string;
  error?: string;
}

/** Runs one PromQL expression as an instant query; throws with Prometheus's error. */
export async function instantQuery(
  prometheusUrl: string,
  expr: string,
  timeoutMs = 10_000,
): Promise<NonNullable<PrometheusResponse['data']>> {
  const url = new URL('/api/v1/query', prometheusUrl);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let body: PrometheusResponse;
  try {
    body = JSON.parse(text) as PrometheusResponse;
  } catch {
    throw new Error(`HTTP ${response.status} with a non-JSON body: ${text.slice(0, 200)}`);
  }
  if (!response.ok || body.status !== 'success' || body.data === undefined) {
    throw new Error(`${body.errorType ?? `HTTP ${response.status}`}: ${body.error ?? text.slice(0, 200)}`);
  }
  return body.data;
}

/**
 * Runs every dashboard query as an instant query against Prometheus's HTTP API.
 * Throws on the first query Prometheus rejects, naming the panel and the error.
 */
export async function runDashboardQueries(
  prometheusUrl: string,
  path = DASHBOARD_PATH,
): Promise<DashboardQueryResult[]> {
  const results: DashboardQueryResult[] = [];
  for (const query of dashboardQueries(path)) {
    let data: Awaited<ReturnType<typeof instantQuery>>;
    try {
      data = await instantQuery(prometheusUrl, query.expr);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `dashboard panel "${query.panel}" (refId ${query.refId}) query failed: ${reason}\n  expr: ${query.expr}`,
        {
          cause: error,
        },
      );
    }
    const resultCount = Array.isArray(data.result) ? data.result.length : 1;
    results.push({ ...query, resultCount });
  }
  return results;
}
