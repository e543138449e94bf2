#!/usr/bin/env node
/**
 * Writes the Docker Swarm stack derived from docker-compose.yml (see stack.ts):
 *
 *   node deploy/swarm/generate-stack.ts [--compose-file FILE] [--publish SERVICES] [--omit SERVICES]
 *                                       [--subnet CIDR] [--output FILE]
 *
 * The compose variables (MIXLAB_LAYER_2_REPLICAS, MIXLAB_GATEWAY_PORT, ...) apply as they do to
 * `docker compose up`. The output is JSON, which is YAML: `docker stack deploy -c` reads it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { type StackFile, type StackOptions, toStack } from './stack.ts';

export const DEFAULT_PUBLISH = ['client-gateway', 'grafana'];
export const DEFAULT_SUBNET = '10.231.0.0/16';

export interface GenerateOptions extends Omit<StackOptions, 'files'> {
  readonly composeFile: string;
  /** Environment for `docker compose config` (the compose variables); default this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

/** `docker compose config --format json` of `composeFile`. */
async function composeConfig(composeFile: string, env: NodeJS.ProcessEnv): Promise<unknown> {
  const { stdout } = await promisify(execFile)('docker', ['compose', '-f', composeFile, 'config', '--format', 'json'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/** Every regular file at or under `path`. */
async function filesUnder(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  const nested = await Promise.all(entries.map((entry) => filesUnder(join(path, entry.name))));
  return nested.flat();
}

/** The bind mount sources of every service compose describes. */
function bindSources(compose: unknown): string[] {
  const services = Object.values((compose as { services?: Record<string, { volumes?: unknown[] }> }).services ?? {});
  return services.flatMap((service) =>
    (service.volumes ?? []).flatMap((mount) => {
      const { type, source } = mount as { type?: string; source?: string };
      return type === 'bind' && typeof source === 'string' ? [source] : [];
    }),
  );
}

export async function generateStack(options: GenerateOptions): Promise<StackFile> {
  const compose = await composeConfig(options.composeFile, options.env ?? process.env);
  const files: Record<string, string> = {};
  for (const source of bindSources(compose)) {
    for (const file of await filesUnder(source).catch(() => [])) {
      files[file] = createHash('sha256')
        .update(await readFile(file))
        .digest('hex');
    }
  }
  return toStack(compose, { publish: options.publish, omit: options.omit, subnet: options.subnet, files });
}

const USAGE = `usage: node deploy/swarm/generate-stack.ts [options] > mixlab-stack.yml

  --compose-file FILE   the compose file (docker-compose.yml)
  --publish SERVICES    comma-separated services whose ports are published, in host mode on the
                        hosts labelled mixlab.edge=true (${DEFAULT_PUBLISH.join(',')})
  --omit SERVICES       comma-separated services left out (none)
  --subnet CIDR         the stack's overlay network; mix nodes advertise their address in it (${DEFAULT_SUBNET})
  --output FILE         write there instead of to standard output`;

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      'compose-file': { type: 'string', default: 'docker-compose.yml' },
      publish: { type: 'string', default: DEFAULT_PUBLISH.join(',') },
      omit: { type: 'string', default: '' },
      subnet: { type: 'string', default: DEFAULT_SUBNET },
      output: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const split = (text: string) => text.split(',').filter((name) => name !== '');
  try {
    const stack = await generateStack({
      composeFile: values['compose-file'],
      publish: split(values.publish),
      omit: split(values.omit),
      subnet: values.subnet,
    });
    const text = `${JSON.stringify(stack, null, 2)}\n`;
    if (values.output) await writeFile(values.output, text);
    else process.stdout.write(text);
  } catch (error) {
    console.error(`generate-stack: ${(error as Error).message}\n${USAGE}`);
    process.exit(1);
  }
}
