import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Registry } from 'prom-client';
import { loopAlarmMetrics, loopMetrics } from './cover-metrics.ts';
import { directoryMetrics } from './directory-metrics.ts';
import { gatewayMetrics } from './gateway-metrics.ts';
import { mixNodeMetrics } from './mix-node-metrics.ts';
import { createServiceRegistry } from './registry.ts';

/** Each service's registry as its main.ts builds it. */
const services: Record<string, () => Registry> = {
  directory: () => {
    const registry = createServiceRegistry({ node: 'directory' });
    directoryMetrics(registry, 3);
    return registry;
  },
  'mix-node': () => {
    const registry = createServiceRegistry({ node: 'mix-1', layer: '1' });
    mixNodeMetrics(registry);
    loopMetrics(registry, 'node');
    loopAlarmMetrics(registry);
    return registry;
  },
  'client-gateway': () => {
    const registry = createServiceRegistry({ node: 'gateway' });
    gatewayMetrics(registry);
    loopMetrics(registry, 'client');
    return registry;
  },
};

const promtool = spawnSync('promtool', ['--version']).status === 0;

describe('every /metrics exposition is clean', () => {
  for (const [service, build] of Object.entries(services)) {
    it(`${service}: counters, and only counters, end in _total`, async () => {
      const types = [...(await build().metrics()).matchAll(/^# TYPE (\S+) (\S+)$/gm)];
      assert.ok(types.length > 20, 'the default process metrics are there too');
      for (const [, name, type] of types) {
        if (type === 'counter') assert.match(name ?? '', /_total$/, `counter ${name}`);
        else assert.doesNotMatch(name ?? '', /_total$/, `${type} ${name}`);
      }
    });

    it(`${service}: passes promtool check metrics`, {
      skip: promtool ? false : 'promtool is not on PATH',
    }, async () => {
      const result = spawnSync('promtool', ['check', 'metrics'], { input: await build().metrics(), encoding: 'utf8' });
      assert.equal(`${result.stdout}${result.stderr}`, '');
      assert.equal(result.status, 0);
    });
  }
});
