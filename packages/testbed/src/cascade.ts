/**
 * Starts the compose cascade (everything but Grafana) on free host ports with
 * testcontainers, and stops it again. Needs TESTCONTAINERS_RYUK_DISABLED=true here,
 * so every caller must call `stop()` in an `after` hook.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import {
  DockerComposeEnvironment,
  type StartedDockerComposeEnvironment,
  Wait,
  type WaitStrategy,
} from 'testcontainers';
import { REPO_ROOT } from './repo.ts';

const MIX_LAYERS = ['mix-layer-1', 'mix-layer-2', 'mix-layer-3'];
export const CASCADE_SERVICES = ['directory', ...MIX_LAYERS, 'client-gateway', 'observer', 'prometheus'];
/** The image this checkout's cascades build and run: one tag per checkout, so two checkouts never overwrite each other's. */
export const MIXLAB_IMAGE = `mixlab:test-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12)}`;

export interface Cascade {
  readonly gatewayUrl: string;
  readonly prometheusUrl: string;
  readonly directoryUrl: string;
  /** The anonymity observer's HTTP API (/v1/estimates, /metrics). */
  readonly observerUrl: string;
  /** The n − 1 proxy's controls (/attack), when started with `{ attack: true }`. */
  readonly n1ProxyUrl: string | undefined;
  /** The directory's public key (hex), read from its volume: what clients pin. */
  readonly directoryKey: string;
  /** The compose project name (random per start); its containers carry it as a label. */
  readonly projectName: string;
  /** The running compose environment, for tests that look at its containers (addresses, networks). */
  readonly environment: StartedDockerComposeEnvironment;
  stop(): Promise<void>;
}

/**
 * `count` distinct free ports on 127.0.0.1. Every listener stays open until all are chosen: one
 * closed at once can come back from the next bind(0) (about one cascade in 500 drew a port twice,
 * and Docker then refused the second publication as "port is already allocated").
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Mix node containers: `replicas[i]` nodes in layer i + 1 (compose names them <service>-<n>). */
function mixContainers(replicas: readonly number[] = [1, 1, 1]): string[] {
  return MIX_LAYERS.flatMap((service, i) => Array.from({ length: replicas[i] ?? 1 }, (_, n) => `${service}-${n + 1}`));
}

/**
 * `settings` are compose variables (MIXLAB_STRATEGY, MIXLAB_LAYER_2_REPLICAS, ...). `attack`
 * also starts the n − 1 proxy (profile `attack`) and puts it in front of layer 1.
 */
export async function startCascade(
  settings: Record<string, string>,
  options: { readonly attack?: boolean } = {},
): Promise<Cascade> {
  const [gateway, prometheus, directory, observer, n1Proxy] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const ports = { gateway, prometheus, directory, observer, n1Proxy };
  const replicas = [1, 2, 3].map((layer) => Number(settings[`MIXLAB_LAYER_${layer}_REPLICAS`] ?? 1));
  // Every wait is a compose healthcheck, run inside its container: an HTTP wait would go
  // through the host address testcontainers guesses (a bridge gateway when it finds
  // /.dockerenv), where ports published on 127.0.0.1 cannot be reached.
  let compose = new DockerComposeEnvironment(REPO_ROOT, 'docker-compose.yml');
  const containers = ['directory-1', ...mixContainers(replicas), 'client-gateway-1', 'observer-1', 'prometheus-1'];
  if (options.attack) containers.push('n1-proxy-1');
  for (const container of containers) compose = compose.withWaitStrategy(container, healthyOrDiagnosed());
  let environment: StartedDockerComposeEnvironment;
  try {
    environment = await compose
      .withBuild()
      .withEnvironment({
        // Tests count packets exactly: no loop cover unless a test asks for it.
        MIXLAB_LOOP_RATE: '0',
        // Every client of a test or experiment runs on this host, so the gateway sees them all
        // at docker-proxy's one address: a per-client rate limit would throttle them together.
        MIXLAB_RATE_LIMIT_KEY: 'off',
        MIXLAB_IMAGE,
        ...settings,
        MIXLAB_GATEWAY_PORT: String(ports.gateway),
        MIXLAB_PROMETHEUS_PORT: String(ports.prometheus),
        MIXLAB_DIRECTORY_PORT: String(ports.directory),
        MIXLAB_OBSERVER_PORT: String(ports.observer),
        ...(options.attack
          ? { MIXLAB_LAYER_1_URL: 'http://n1-proxy:8080', MIXLAB_N1_PROXY_PORT: String(ports.n1Proxy) }
          : {}),
      })
      .withProfiles(...(options.attack ? ['attack'] : []))
      .withStartupTimeout(180_000)
      .up(options.attack ? [...CASCADE_SERVICES, 'n1-proxy'] : CASCADE_SERVICES);
  } catch (error) {
    // testcontainers has taken the environment down already.
    throw new Error(`the cascade did not start: ${(error as Error).message}`, { cause: error });
  }
  const started = environment;
  const pub = await started.getContainer('directory-1').exec(['cat', '/data/directory.pub']);
  if (pub.exitCode !== 0) {
    await started.down({ removeVolumes: true, timeout: 10_000 });
    throw new Error(`the directory wrote no /data/directory.pub: ${pub.output}`);
  }
  return {
    directoryKey: pub.output.trim(),
    gatewayUrl: `https://127.0.0.1:${ports.gateway}`,
    prometheusUrl: `http://127.0.0.1:${ports.prometheus}`,
    directoryUrl: `http://127.0.0.1:${ports.directory}`,
    observerUrl: `http://127.0.0.1:${ports.observer}`,
    n1ProxyUrl: options.attack ? `http://127.0.0.1:${ports.n1Proxy}` : undefined,
    projectName: started.getContainer('directory-1').getLabels()['com.docker.compose.project'] ?? '',
    environment: started,
    stop: async () => {
      await started.down({ removeVolumes: true, timeout: 10_000 });
    },
  };
}

/**
 * A healthcheck wait that, when it fails, says why: the container's health probe results and
 * its last log lines, read before testcontainers takes the failed environment down.
 */
function healthyOrDiagnosed(): WaitStrategy {
  const wait = Wait.forHealthCheck();
  const strategy: WaitStrategy = {
    async waitUntilReady(container, boundPorts, startTime) {
      try {
        await wait.waitUntilReady(container, boundPorts, startTime);
      } catch (error) {
        const docker = async (...args: string[]) =>
          promisify(execFile)('docker', args, { maxBuffer: 16 * 1024 * 1024 }).then(
            ({ stdout, stderr }) => stdout + stderr,
            (failure: Error) => failure.message,
          );
        const health = await docker(
          'inspect',
          '--format',
          '{{.Name}} {{.State.Status}} {{json .State.Health}}',
          container.id,
        );
        const logs = await docker('logs', '--tail', '30', container.id);
        throw new Error(`${(error as Error).message}\n${health.trim()}\nlast log lines:\n${logs}`, { cause: error });
      }
    },
    withStartupTimeout(ms) {
      wait.withStartupTimeout(ms);
      return strategy;
    },
    isStartupTimeoutSet: () => wait.isStartupTimeoutSet(),
    getStartupTimeout: () => wait.getStartupTimeout(),
  };
  return strategy;
}

/** Polls `probe` until it returns a value that is not undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
