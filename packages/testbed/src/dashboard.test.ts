import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { DASHBOARD_PATH, dashboardQueries, flattenPanels, loadDashboard } from './dashboard.ts';
import { REPO_ROOT } from './repo.ts';

const DATASOURCE_UID = 'mixlab-prometheus';

interface Datasource {
  type?: string;
  uid?: string;
}

describe('mixlab overview dashboard', () => {
  const dashboard = loadDashboard();
  const panels = flattenPanels(dashboard.panels as Parameters<typeof flattenPanels>[0]);
  const dataPanels = panels.filter(({ panel }) => panel.type !== 'row');

  it('has the fixed uid, title, refresh and time range', () => {
    assert.equal(dashboard.uid, 'mixlab-overview');
    assert.equal(dashboard.title, 'mixlab overview');
    assert.equal(dashboard.refresh, '5s');
    assert.deepEqual(dashboard.time, { from: 'now-15m', to: 'now' });
    assert.equal(typeof dashboard.schemaVersion, 'number');
  });

  it('has no dashboard inputs or template variables the queries could depend on', () => {
    assert.equal(dashboard.__inputs, undefined);
    const templating = dashboard.templating as { list?: unknown[] } | undefined;
    assert.deepEqual(templating?.list ?? [], []);
  });

  it('includes panels nested in a collapsed row', () => {
    assert.ok(panels.some(({ name }) => name.includes(' / ')));
  });

  it('gives every panel a unique id', () => {
    const ids = panels.map(({ panel }) => (panel as { id?: number }).id);
    assert.ok(ids.every((id) => typeof id === 'number'));
    assert.equal(new Set(ids).size, ids.length);
  });

  it('gives every non-row panel at least one target with an expr', () => {
    assert.ok(dataPanels.length > 0);
    for (const { name, panel } of dataPanels) {
      assert.ok((panel.targets?.length ?? 0) > 0, `panel "${name}" has no targets`);
      for (const target of panel.targets ?? []) {
        assert.ok(target.expr?.trim(), `panel "${name}" target ${target.refId} has no expr`);
      }
    }
  });

  it('points every panel and target at the provisioned Prometheus datasource', () => {
    for (const { name, panel } of dataPanels) {
      const datasource = (panel as { datasource?: Datasource }).datasource;
      assert.deepEqual(datasource, { type: 'prometheus', uid: DATASOURCE_UID }, `panel "${name}"`);
      for (const target of panel.targets ?? []) {
        const targetDatasource = (target as { datasource?: Datasource }).datasource;
        assert.deepEqual(targetDatasource, { type: 'prometheus', uid: DATASOURCE_UID }, `panel "${name}" target`);
      }
    }
  });

  it('uses no Grafana variables in any query', () => {
    const queries = dashboardQueries(DASHBOARD_PATH);
    assert.ok(queries.length > 0);
    for (const { panel, expr } of queries) assert.ok(!expr.includes('$'), `panel "${panel}": ${expr}`);
  });

  it('references the datasource uid the provisioning YAML defines', () => {
    const yaml = readFileSync(resolve(REPO_ROOT, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8');
    const uids = [...yaml.matchAll(/^\s*uid:\s*["']?([\w-]+)["']?\s*$/gm)].map((m) => m[1]);
    assert.deepEqual(uids, [DATASOURCE_UID]);
    assert.match(yaml, /^\s*url:\s*http:\/\/prometheus:9090\s*$/m);
  });

  it('has a dashboard provider loading from the mounted dashboards directory', () => {
    const yaml = readFileSync(resolve(REPO_ROOT, 'grafana/provisioning/dashboards/mixlab.yaml'), 'utf8');
    assert.match(yaml, /^\s*path:\s*\/var\/lib\/grafana\/dashboards\s*$/m);
    assert.match(yaml, /^\s*folder:\s*["']?mixlab["']?\s*$/m);
  });
});
