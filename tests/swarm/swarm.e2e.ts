/**
 * `npm run test:swarm`: the compose project deployed as a Docker Swarm stack on three
 * simulated hosts (hosts.ts: one engine each, in its own network namespace), three nodes per
 * layer, and messages sent and acknowledged through it with the CLI while layer 2 scales
 * from 3 to 5 and back. Needs root; not part of `npm test` (about five minutes). Run it under
 * the docker lock: `flock /tmp/mixlab-docker.lock npm run test:swarm`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady } from '@mixlab/crypto';
import { eventually, MIXLAB_IMAGE, queryByLabel, REPO_ROOT } from '@mixlab/testbed';
import { copyImages } from '../../deploy/swarm/copy-images.ts';
import { DEFAULT_SUBNET, generateStack } from '../../deploy/swarm/generate-stack.ts';
import { type SimulatedHosts, type SwarmHost, startHosts } from './hosts.ts';

const STACK = 'mixlab';
const PROMETHEUS_IMAGE = 'prom/prometheus:v3.5.0';
const REPLICAS = 3;
const SCALED = 5;
const LAYERS = [1, 2, 3];
const SEND_EVERY_MS = 1_500;
// The CLI's defaults: a retransmission means a lost packet or a round trip over 20 s.
const ACK_TIMEOUT_S = 20;
const ATTEMPTS = 3;
const CLI = join(REPO_ROOT, 'packages/cli/src/main.ts');

const started = Date.now();
const log = (line: string) => console.log(`[+${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

describe(`mixlab as a swarm stack on three hosts, ${REPLICAS} nodes per layer`, { timeout: 20 * 60_000 }, () => {
  let cluster: SimulatedHosts | undefined;
  let manager: SwarmHost;
  let gatewayUrl = '';
  let prometheusUrl = '';
  let directoryKey = '';
  let workDir = '';
  const docker = (host: SwarmHost, ...args: string[]) => {
    if (!cluster) throw new Error('no cluster');
    return cluster.docker(host, ...args);
  };

  /** The running tasks of a layer, as the node ids they take: mix-<layer>-<swarm node>-<slot>. */
  async function runningIds(layer: number): Promise<{ ids: string[]; hosts: string[] }> {
    const rows = await docker(
      manager,
      'service',
      'ps',
      `${STACK}_mix-layer-${layer}`,
      '--filter',
      'desired-state=running',
      '--format',
      '{{.Name}} {{.Node}} {{.CurrentState}}',
    );
    const tasks = rows
      .trim()
      .split('\n')
      .filter((row) => / Running /.test(` ${row} `))
      .map((row) => {
        const [name = '', node = ''] = row.split(' ');
        return { slot: name.slice(name.lastIndexOf('.') + 1), node };
      });
    return { ids: tasks.map(({ node, slot }) => `mix-${layer}-${node}-${slot}`), hosts: tasks.map(({ node }) => node) };
  }

  /**
   * The operator's enrollment (docs/deploy-swarm.md): each host's `enrollment` volume holds
   * the public keys of the nodes that ran there; the directory reads the core host's. Copies
   * every `<id>.pub` to the core host (the manager), checked first.
   */
  async function enrollEveryHost(): Promise<void> {
    const volume = `${STACK}_enrollment:/enrollment`;
    const keys = new Map<string, string>();
    for (const host of cluster?.hosts ?? []) {
      const listing = await docker(
        host,
        ...['run', '--rm', '--network', 'none', '-v', `${volume}:ro`, '--entrypoint', 'sh', MIXLAB_IMAGE, '-c'],
        'for f in /enrollment/*.pub; do [ -f "$f" ] && echo "$(basename "$f") $(cat "$f")"; done; true',
      );
      for (const line of listing.trim().split('\n')) {
        const [name = '', key = ''] = line.split(' ');
        if (/^[A-Za-z0-9][A-Za-z0-9._-]*\.pub$/.test(name) && /^[0-9a-f]{64}$/.test(key)) keys.set(name, key);
      }
    }
    const writes = [...keys].map(([name, key]) => `printf '%s\\n' ${key} > /enrollment/${name}`);
    if (writes.length === 0) return;
    const run = ['run', '--rm', '--network', 'none', '-v', volume, '--entrypoint', 'sh', MIXLAB_IMAGE, '-c'];
    await docker(manager, ...run, writes.join('; '));
  }

  /**
   * Waits until, in every layer, `replicas` tasks run and the signed topology and Prometheus
   * hold exactly their node ids (enrolling, as an operator would, the nodes that started on
   * other hosts); returns the ids and the hosts they run on.
   */
  async function converged(
    replicas: readonly number[],
    what: string,
  ): Promise<Map<number, { ids: string[]; hosts: string[] }>> {
    const result = await eventually(
      what,
      async () => {
        // First: a node is healthy (and its task running) only once the directory admitted it.
        await enrollEveryHost();
        const running = new Map<number, { ids: string[]; hosts: string[] }>();
        for (const layer of LAYERS) running.set(layer, await runningIds(layer));
        if (LAYERS.some((layer) => running.get(layer)?.ids.length !== replicas[layer - 1])) return undefined;
        const topology = await new MixnetClient(gatewayUrl, { directoryKey }).topology();
        for (const layer of LAYERS) {
          const nodes = topology.layers[layer - 1] ?? [];
          if (
            !sameSet(
              nodes.map((node) => node.id),
              running.get(layer)?.ids ?? [],
            )
          )
            return undefined;
          // Every node advertises its address on the stack's overlay network.
          for (const node of nodes) assert.match(node.url, /^http:\/\/10\.231\.\d+\.\d+:8080$/, node.id);
        }
        const scraped = await queryByLabel(prometheusUrl, 'max by (node, layer) (mixlab_mixing_key_epoch)', 'node');
        // Every target Prometheus discovered is up, and there are as many as running nodes.
        const targets = await queryByLabel(prometheusUrl, 'count(up{job="mix-node"})', '');
        const up = await queryByLabel(prometheusUrl, 'sum(up{job="mix-node"})', '');
        const expected = LAYERS.flatMap((layer) => running.get(layer)?.ids ?? []);
        if (!sameSet(Object.keys(scraped), expected)) return undefined;
        if (targets[''] !== expected.length || up[''] !== expected.length) return undefined;
        return running;
      },
      180_000,
      2_000,
    );
    for (const [layer, { ids, hosts }] of result) log(`layer ${layer}: ${ids.join(', ')} (hosts ${hosts.join(', ')})`);
    return result;
  }

  before(async () => {
    await cryptoReady();
    workDir = await mkdtemp(join(tmpdir(), 'mixlab-swarm-'));
    log(`building ${MIXLAB_IMAGE} with the main engine`);
    await promisify(execFile)('docker', ['build', '-q', '-t', MIXLAB_IMAGE, REPO_ROOT], { maxBuffer: 16 << 20 });
    cluster = await startHosts(3, log);
    const [first, ...workers] = cluster.hosts;
    if (!first) throw new Error('no host');
    manager = first;
    for (const host of cluster.hosts) {
      const loaded = await copyImages([MIXLAB_IMAGE, PROMETHEUS_IMAGE], host.dockerHost);
      log(`${host.name}: ${loaded.replaceAll('\n', '; ')}`);
    }
    await docker(manager, 'swarm', 'init', '--advertise-addr', manager.address, '--default-addr-pool', '10.216.0.0/16');
    const token = (await docker(manager, 'swarm', 'join-token', '-q', 'worker')).trim();
    for (const worker of workers) {
      await docker(
        worker,
        'swarm',
        'join',
        '--advertise-addr',
        worker.address,
        '--token',
        token,
        `${manager.address}:2377`,
      );
    }
    // swarm-1 is the edge and core host; every host runs mix nodes, each its own zone.
    for (const [i, host] of cluster.hosts.entries()) {
      const roles = i === 0 ? ['mixlab.edge=true', 'mixlab.core=true'] : [];
      const labels = [...roles, 'mixlab.mix=true', `mixlab.zone=${String.fromCharCode(97 + i)}`];
      await docker(manager, 'node', 'update', ...labels.flatMap((label) => ['--label-add', label]), host.name);
    }
    log(
      `swarm: ${(await docker(manager, 'node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}')).trim().replaceAll('\n', '; ')}`,
    );

    // The same compose variables as `docker compose up`; Grafana's image cannot be had here.
    const stack = await generateStack({
      composeFile: join(REPO_ROOT, 'docker-compose.yml'),
      publish: ['client-gateway', 'prometheus'],
      omit: ['grafana'],
      subnet: DEFAULT_SUBNET,
      env: {
        ...process.env,
        MIXLAB_IMAGE,
        ...Object.fromEntries(LAYERS.map((layer) => [`MIXLAB_LAYER_${layer}_REPLICAS`, String(REPLICAS)])),
      },
    });
    const stackFile = join(workDir, 'mixlab-stack.yml');
    await writeFile(stackFile, JSON.stringify(stack, null, 2));
    await docker(manager, 'stack', 'deploy', '--detach=true', '--resolve-image', 'never', '-c', stackFile, STACK);
    log(`deployed: ${Object.keys(stack.services).join(', ')}`);
    gatewayUrl = `https://${manager.address}:8080`;
    prometheusUrl = `http://${manager.address}:9090`;
    directoryKey = await eventually(
      'the directory key',
      async () => {
        const id = (await docker(manager, 'ps', '-q', '--filter', `name=${STACK}_directory`)).trim();
        return id ? (await docker(manager, 'exec', id, 'cat', '/data/directory.pub')).trim() || undefined : undefined;
      },
      120_000,
      1_000,
    );
    log(`directory key ${directoryKey}`);
  });

  after(async () => {
    if (!cluster) return;
    if (manager) {
      await docker(manager, 'stack', 'rm', STACK).catch((error: Error) => log(`stack rm: ${error.message}`));
      log('stack removed');
    }
    const leftovers = await cluster.remove();
    await rm(workDir, { recursive: true, force: true });
    if (leftovers.length === 0) log('removed every engine, swarm, network, volume, namespace and file');
    assert.deepEqual(leftovers, [], 'nothing of the simulated hosts is left');
  });

  it('spreads each layer over the hosts; the signed topology and Prometheus hold exactly the running tasks', async () => {
    const layers = await converged([REPLICAS, REPLICAS, REPLICAS], 'every layer running, in the topology and scraped');
    for (const layer of LAYERS) {
      const hosts = layers.get(layer)?.hosts ?? [];
      assert.equal(new Set(hosts).size, 3, `layer ${layer}'s three nodes on three hosts: ${hosts.join(', ')}`);
    }
  });

  it(`delivers and acknowledges every message sent with the CLI while layer 2 scales ${REPLICAS} → ${SCALED} → ${REPLICAS}`, async () => {
    const cli = (...args: string[]) =>
      spawn(process.execPath, [CLI, '--gateway', gatewayUrl, '--directory-key', directoryKey, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const lines = (child: ChildProcess, onLine: (line: string) => void) =>
      child.stdout && createInterface({ input: child.stdout }).on('line', onLine);

    // The recipient.
    const received = new Map<string, number>();
    const latencies: number[] = [];
    const listener = cli('listen', '--key', join(workDir, 'recipient.json'));
    const address = await new Promise<string>((resolve, reject) => {
      listener.once('exit', (code) => reject(new Error(`listen exited (${code})`)));
      lines(listener, (line) => {
        const addressLine = /^address: ([0-9a-f]{64})$/.exec(line);
        if (addressLine?.[1]) resolve(addressLine[1]);
        const message = /^\[[^\]]+\] [0-9a-f]+ \((\d+) ms\): (.*)$/.exec(line);
        if (message?.[2]) {
          received.set(message[2], (received.get(message[2]) ?? 0) + 1);
          latencies.push(Number(message[1]));
        }
      });
    });
    log(`listening as ${address.slice(0, 16)}…`);

    // One acknowledged send every SEND_EVERY_MS, through every phase.
    interface Outcome {
      text: string;
      code: number | null;
      attempts: number;
      ackSeconds: number;
      layer2: string[];
      output: string;
    }
    const sends: Promise<Outcome>[] = [];
    let phase = `${REPLICAS} in layer 2`;
    const sendOne = (text: string) =>
      new Promise<Outcome>((resolve) => {
        const child = cli(
          'send',
          '--to',
          address,
          '--ack-timeout',
          String(ACK_TIMEOUT_S),
          '--attempts',
          String(ATTEMPTS),
          // The test's own messages: listen shows their latency only when the sender reveals the send time.
          '--reveal-send-time',
          text,
        );
        let output = '';
        child.stderr?.on('data', (chunk) => {
          output += chunk;
        });
        const layer2: string[] = [];
        let attempts = 0;
        let ackSeconds = Number.NaN;
        lines(child, (line) => {
          output += `${line}\n`;
          const route = / via (\S+) → (\S+) → (\S+) \(attempt (\d+)\)$/.exec(line);
          if (route?.[2]) layer2.push(route[2]);
          const acked = /^acknowledged after ([\d.]+) s \((\d+) attempts?\)$/.exec(line);
          if (acked) {
            ackSeconds = Number(acked[1]);
            attempts = Number(acked[2]);
          }
        });
        child.on('exit', (code) => resolve({ text, code, attempts, ackSeconds, layer2, output }));
      });
    let sequence = 0;
    const timer = setInterval(() => {
      sequence += 1;
      sends.push(sendOne(`swarm message ${sequence} (${phase})`));
    }, SEND_EVERY_MS);

    try {
      await sleep(15_000);
      phase = `layer 2 scaling to ${SCALED}`;
      log(`scaling layer 2 to ${SCALED} after ${sequence} messages`);
      await docker(manager, 'service', 'scale', '--detach', `${STACK}_mix-layer-2=${SCALED}`);
      const scaled = await converged(
        [REPLICAS, SCALED, REPLICAS],
        `${SCALED} nodes in layer 2, in the topology and scraped`,
      );
      // Spread over the zones: no host runs two more of the layer's nodes than another.
      const perHost = cluster?.hosts.map(
        (host) => scaled.get(2)?.hosts.filter((name) => name === host.name).length ?? 0,
      );
      assert.ok(perHost && Math.max(...perHost) - Math.min(...perHost) <= 1, `layer 2 per host: ${perHost}`);
      phase = `${SCALED} in layer 2`;
      await sleep(15_000);
      phase = `layer 2 scaling to ${REPLICAS}`;
      log(`scaling layer 2 back to ${REPLICAS} after ${sequence} messages`);
      await docker(manager, 'service', 'scale', '--detach', `${STACK}_mix-layer-2=${REPLICAS}`);
      await converged(
        [REPLICAS, REPLICAS, REPLICAS],
        `${REPLICAS} nodes in layer 2 again, in the topology and scraped`,
      );
      phase = `${REPLICAS} in layer 2 again`;
      await sleep(10_000);
    } finally {
      clearInterval(timer);
    }
    log(`sent ${sequence} messages; waiting for the last acknowledgements`);
    const outcomes = await Promise.all(sends);
    await eventually(
      'every message printed by listen',
      async () => (received.size >= outcomes.length ? true : undefined),
      30_000,
    );
    listener.kill('SIGINT');

    const failed = outcomes.filter((outcome) => outcome.code !== 0 || outcome.attempts === 0);
    assert.deepEqual(
      failed.map((outcome) => `${outcome.text}: exit ${outcome.code}\n${outcome.output}`),
      [],
      'every send acknowledged',
    );
    const texts = outcomes.map((outcome) => outcome.text);
    assert.deepEqual([...received.keys()].sort(), [...texts].sort(), 'every message delivered');
    assert.deepEqual(
      [...received].filter(([, count]) => count !== 1),
      [],
      'each once',
    );
    const retransmitted = outcomes.filter((outcome) => outcome.attempts > 1);
    const layer2Nodes = new Set(outcomes.flatMap((outcome) => outcome.layer2));
    const quantiles = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      return `p50 ${at(0.5)}, p95 ${at(0.95)}, max ${at(1)}`;
    };
    log(
      `${outcomes.length} messages: ${outcomes.length} acknowledged, ${received.size} delivered once each; ` +
        `${retransmitted.length} needed more than one attempt (${retransmitted.map((o) => `"${o.text}": ${o.attempts}`).join(', ') || 'none'})`,
    );
    log(`latency at the recipient (ms): ${quantiles(latencies)}`);
    log(`acknowledged after (s): ${quantiles(outcomes.map((outcome) => outcome.ackSeconds))}`);
    // Every node that ran, the removed ones included (their last value within the test).
    const packets = await queryByLabel(
      prometheusUrl,
      'sum by (outcome) (last_over_time(mixlab_packets_total[15m]))',
      'outcome',
    );
    log(
      `packets by outcome, all nodes: ${Object.entries(packets)
        .map(([outcome, n]) => `${outcome} ${n}`)
        .join(', ')}`,
    );
    log(`layer-2 nodes on the routes: ${[...layer2Nodes].sort().join(', ')}`);
    // Why packets were lost, in the mix nodes' own words (warnings, counted by message and reason).
    const warnings = new Map<string, number>();
    for (const layer of LAYERS) {
      const output = await docker(manager, 'service', 'logs', '--raw', `${STACK}_mix-layer-${layer}`);
      for (const line of output.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { level?: number; msg?: string; reason?: string };
        if ((entry.level ?? 0) < 40) continue;
        const key = `layer ${layer}: ${entry.msg}${entry.reason ? ` (${entry.reason.replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDRESS')})` : ''}`;
        warnings.set(key, (warnings.get(key) ?? 0) + 1);
      }
    }
    log(`mix node warnings: ${[...warnings].map(([key, n]) => `${n}× ${key}`).join('; ') || 'none'}`);
  });
});
