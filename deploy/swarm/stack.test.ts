import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_PUBLISH, DEFAULT_SUBNET, generateStack } from './generate-stack.ts';
import { type StackOptions, toStack } from './stack.ts';

/** What `docker compose config --format json` gives for a trimmed mixlab project. */
function compose() {
  return {
    name: 'mixlab',
    networks: { default: { name: 'mixlab_default', ipam: {} } },
    services: {
      directory: {
        build: { context: '/src', dockerfile: 'Dockerfile' },
        command: ['node', 'services/directory/src/main.ts'],
        entrypoint: null,
        environment: { LAYERS: '3' },
        image: 'mixlab:local',
        init: true,
        networks: { default: null },
        ports: [{ mode: 'ingress', host_ip: '127.0.0.1', target: 8080, published: '8070', protocol: 'tcp' }],
        restart: 'unless-stopped',
        volumes: [{ type: 'volume', source: 'directory-data', target: '/data', volume: {} }],
      },
      'mix-layer-2': {
        build: { context: '/src', dockerfile: 'Dockerfile' },
        command: ['node', 'services/mix-node/src/main.ts'],
        depends_on: { directory: { condition: 'service_healthy', required: true } },
        deploy: { replicas: 3, resources: {}, placement: {} },
        environment: { LAYER: '2', STRATEGY: 'threshold:n=3,maxWait=1s', UNSET: null },
        image: 'mixlab:local',
        init: true,
        networks: { default: null },
        restart: 'on-failure:5',
        volumes: [{ type: 'volume', source: 'mix-data', target: '/data', volume: {} }],
      },
      'client-gateway': {
        command: ['node', 'services/client-gateway/src/main.ts'],
        environment: { ADVERTISED_URL: 'http://client-gateway:8080', GREETING: 'costs $5' },
        image: 'mixlab:local',
        ports: [{ mode: 'ingress', host_ip: '127.0.0.1', target: 8080, published: '18080', protocol: 'tcp' }],
        restart: 'no',
      },
      prometheus: {
        image: 'prom/prometheus:v3.5.0',
        healthcheck: { test: ['CMD', '/bin/promtool', 'query', 'instant'], interval: '2s', retries: 30 },
        volumes: [{ type: 'bind', source: '/src/prometheus/prometheus.yml', target: '/etc/prometheus/prometheus.yml' }],
      },
      grafana: {
        image: 'grafana/grafana:12.2.1',
        ports: [{ mode: 'ingress', host_ip: '127.0.0.1', target: 3000, published: '3000', protocol: 'tcp' }],
        volumes: [{ type: 'bind', source: '/src/grafana/provisioning', target: '/etc/grafana/provisioning' }],
      },
    },
    volumes: { 'directory-data': { name: 'mixlab_directory-data' }, 'mix-data': { name: 'mixlab_mix-data' } },
  };
}

const options: StackOptions = {
  publish: ['client-gateway', 'grafana'],
  omit: [],
  subnet: '10.231.0.0/16',
  files: {
    '/src/prometheus/prometheus.yml': 'a'.repeat(64),
    '/src/grafana/provisioning/datasources/prometheus.yaml': 'b'.repeat(64),
    '/src/grafana/provisioning/dashboards/mixlab.yaml': 'c'.repeat(64),
    '/src/grafana/provisioning-old/stale.yaml': 'd'.repeat(64),
  },
};

describe('toStack', () => {
  const stack = toStack(compose(), options);
  const service = (name: string) => {
    const found = stack.services[name];
    assert.ok(found, name);
    return found;
  };
  const [directory, mix, gateway, prometheus, grafana] = [
    'directory',
    'mix-layer-2',
    'client-gateway',
    'prometheus',
    'grafana',
  ].map(service);

  it('drops what a stack ignores or refuses: build, depends_on, restart, null fields, host IPs', () => {
    assert.equal(stack.version, '3.8');
    for (const service of Object.values(stack.services)) {
      for (const key of ['build', 'depends_on', 'restart', 'entrypoint', 'networks'])
        assert.equal(key in service, false, key);
    }
    assert.deepEqual(mix!.environment, {
      LAYER: '2',
      STRATEGY: 'threshold:n=3,maxWait=1s',
      ADVERTISED_SUBNET: '10.231.0.0/16',
    });
    assert.deepEqual(mix!.deploy, {
      replicas: 3,
      endpoint_mode: 'dnsrr',
      restart_policy: { condition: 'on-failure', max_attempts: 5 },
      placement: {
        constraints: ['node.labels.mixlab.mix == true'],
        preferences: [{ spread: 'node.labels.mixlab.zone' }],
      },
    });
    assert.deepEqual((gateway!.deploy as { restart_policy: unknown }).restart_policy, { condition: 'none' });
    assert.deepEqual((directory!.deploy as { restart_policy: unknown }).restart_policy, { condition: 'any' });
  });

  it('publishes only the chosen services, in host mode on the edge hosts', () => {
    assert.deepEqual(gateway!.ports, [{ target: 8080, published: 18080, protocol: 'tcp', mode: 'host' }]);
    assert.deepEqual(grafana!.ports, [{ target: 3000, published: 3000, protocol: 'tcp', mode: 'host' }]);
    assert.equal(directory!.ports, undefined);
    assert.deepEqual((gateway!.deploy as { placement: unknown }).placement, {
      constraints: ['node.labels.mixlab.edge == true'],
    });
    assert.deepEqual((directory!.deploy as { placement: unknown }).placement, {
      constraints: ['node.labels.mixlab.core == true'],
    });
  });

  it('gives each mix node task a host name of its swarm node and slot, and an address on the overlay', () => {
    assert.equal(mix!.hostname, '{{.Node.Hostname}}-{{.Task.Slot}}');
    assert.equal(directory!.hostname, undefined);
    assert.deepEqual(stack.networks, {
      default: { driver: 'overlay', ipam: { config: [{ subnet: '10.231.0.0/16' }] } },
    });
    // A node told where to be reached keeps that.
    const told = compose();
    Object.assign(told.services['mix-layer-2'].environment, { ADVERTISED_URL: 'http://mix:8080' });
    assert.equal(
      (toStack(told, options).services['mix-layer-2']!.environment as Record<string, string>).ADVERTISED_SUBNET,
      undefined,
    );
  });

  it('turns bind mounts into configs named by content, file by file, with the stack naming the volumes', () => {
    assert.deepEqual(prometheus!.configs, [
      { source: 'prometheus.yml-aaaaaaaaaaaa', target: '/etc/prometheus/prometheus.yml' },
    ]);
    assert.deepEqual(grafana!.configs, [
      { source: 'mixlab.yaml-cccccccccccc', target: '/etc/grafana/provisioning/dashboards/mixlab.yaml' },
      { source: 'prometheus.yaml-bbbbbbbbbbbb', target: '/etc/grafana/provisioning/datasources/prometheus.yaml' },
    ]);
    assert.deepEqual(Object.keys(stack.configs).sort(), [
      'mixlab.yaml-cccccccccccc',
      'prometheus.yaml-bbbbbbbbbbbb',
      'prometheus.yml-aaaaaaaaaaaa',
    ]);
    assert.equal(stack.configs['prometheus.yml-aaaaaaaaaaaa']?.file, '/src/prometheus/prometheus.yml');
    assert.deepEqual(mix!.volumes, [{ type: 'volume', source: 'mix-data', target: '/data' }]);
    assert.deepEqual(stack.volumes, { 'directory-data': {}, 'mix-data': {} });
  });

  it('escapes $ so that the stack loader does not interpolate resolved values again', () => {
    assert.equal((gateway!.environment as Record<string, string>).GREETING, 'costs $$5');
  });

  it('leaves out omitted services', () => {
    assert.deepEqual(Object.keys(toStack(compose(), { ...options, omit: ['grafana'] }).services).sort(), [
      'client-gateway',
      'directory',
      'mix-layer-2',
      'prometheus',
    ]);
  });

  it('refuses, by name, what it does not know how to carry over', () => {
    const withKey = compose();
    Object.assign(withKey.services.directory, { network_mode: 'host' });
    assert.throws(() => toStack(withKey, options), /services\.directory\.network_mode: not carried over/);
    const built = compose();
    Object.assign(built.services.directory, { image: undefined });
    assert.throws(() => toStack(built, options), /services\.directory has no image/);
    const missing = { ...options, files: {} };
    assert.throws(() => toStack(compose(), missing), /services\.prometheus\.volumes\[0\]: no file under/);
    assert.throws(
      () => toStack(compose(), { ...options, publish: ['gateway'] }),
      /publish names no compose service: gateway/,
    );
    assert.throws(
      () => toStack(compose(), { ...options, publish: ['prometheus'] }),
      /prometheus is to be published but has no ports/,
    );
    const network = compose();
    Object.assign(network.networks, { backend: {} });
    assert.throws(() => toStack(network, options), /only the default network/);
    assert.throws(() => toStack(compose(), { ...options, subnet: '10.231.0.0' }), /subnet must be an IPv4 CIDR/);
  });
});

describe('the stack of the real docker-compose.yml', () => {
  it('is one `docker stack config` accepts, with every layer and no published port but the gateway and Grafana', async () => {
    const composeFile = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));
    const stack = await generateStack({ composeFile, publish: DEFAULT_PUBLISH, omit: [], subnet: DEFAULT_SUBNET });
    for (const layer of [1, 2, 3]) assert.ok(stack.services[`mix-layer-${layer}`], `mix-layer-${layer}`);
    const published = Object.entries(stack.services).filter(([, service]) => service.ports !== undefined);
    assert.deepEqual(published.map(([name]) => name).sort(), ['client-gateway', 'grafana']);
    const run = promisify(execFile)('docker', ['stack', 'config', '-c', '-']);
    run.child.stdin?.end(JSON.stringify(stack));
    const { stdout } = await run;
    assert.match(stdout, /mix-layer-3:/);
  });
});
