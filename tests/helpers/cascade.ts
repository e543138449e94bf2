/**
 * Starts the compose cascade (everything but Grafana) on free host ports with
 * testcontainers, and stops it again. Needs TESTCONTAINERS_RYUK_DISABLED=true here,
 * so every caller must call `stop()` in an `after` hook.
 */
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DockerComposeEnvironment, type StartedDockerComposeEnvironment, Wait } from 'testcontainers';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CASCADE_SERVICES = ['directory', 'mix-1', 'mix-2', 'mix-3', 'client-gateway', 'prometheus'];

export interface Cascade {
  readonly gatewayUrl: string;
  readonly prometheusUrl: string;
  readonly directoryUrl: string;
  /** The compose project name (random per start); its containers carry it as a label. */
  readonly projectName: string;
  /** The running compose environment, for tests that look at its containers (addresses, networks). */
  readonly environment: StartedDockerComposeEnvironment;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** `settings` are compose variables (MIXLAB_THRESHOLD, MIXLAB_MAX_WAIT_MS, ...). */
export async function startCascade(settings: Record<string, string>): Promise<Cascade> {
  const ports = { gateway: await freePort(), prometheus: await freePort(), directory: await freePort() };
  let environment: StartedDockerComposeEnvironment | undefined;
  try {
    environment = await new DockerComposeEnvironment(REPO_ROOT, 'docker-compose.yml')
      .withBuild()
      .withEnvironment({
        // Tests count packets exactly: no loop cover unless a test asks for it.
        MIXLAB_LOOP_RATE: '0',
        ...settings,
        MIXLAB_GATEWAY_PORT: String(ports.gateway),
        MIXLAB_PROMETHEUS_PORT: String(ports.prometheus),
        MIXLAB_DIRECTORY_PORT: String(ports.directory),
      })
      .withWaitStrategy('directory-1', Wait.forHealthCheck())
      .withWaitStrategy('mix-1-1', Wait.forHealthCheck())
      .withWaitStrategy('mix-2-1', Wait.forHealthCheck())
      .withWaitStrategy('mix-3-1', Wait.forHealthCheck())
      .withWaitStrategy('client-gateway-1', Wait.forHealthCheck())
      .withWaitStrategy('prometheus-1', Wait.forHttp('/-/ready', 9090))
      .withStartupTimeout(180_000)
      .up(CASCADE_SERVICES);
  } catch (error) {
    throw new Error(`the cascade did not start: ${(error as Error).message}`, { cause: error });
  }
  const started = environment;
  return {
    gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
    prometheusUrl: `http://127.0.0.1:${ports.prometheus}`,
    directoryUrl: `http://127.0.0.1:${ports.directory}`,
    projectName: started.getContainer('directory-1').getLabels()['com.docker.compose.project'] ?? '',
    environment: started,
    stop: async () => {
      await started.down({ removeVolumes: true, timeout: 10_000 });
    },
  };
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
