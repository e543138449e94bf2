/**
 * The Docker CLI, as the faults use it: every fault is a command an operator could type
 * (docker kill, restart, pause, network disconnect; tc and iptables in the container's network
 * namespace through nsenter, which needs root on the host, iproute2 and iptables there).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `command args`, returns its stdout; a failure names the command and its stderr. */
export async function sh(command: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 });
    return stdout.trim();
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(failure.stderr ?? failure.message).trim()}`, {
      cause: error,
    });
  }
}

export const docker = (...args: string[]): Promise<string> => sh('docker', ...args);

export interface ContainerState {
  readonly running: boolean;
  readonly paused: boolean;
  readonly restartCount: number;
  readonly health: string;
  /** The container's init process on the host (0 when not running): the way into its namespaces. */
  readonly pid: number;
}

export async function containerState(id: string): Promise<ContainerState> {
  const out = await docker(
    'inspect',
    '--format',
    '{{.State.Running}} {{.State.Paused}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Pid}}',
    id,
  );
  const [running, paused, restarts, health, pid] = out.split(' ');
  return {
    running: running === 'true',
    paused: paused === 'true',
    restartCount: Number(restarts),
    health: health ?? 'none',
    pid: Number(pid),
  };
}

/** The compose network(s) a container is on, with its address and aliases on each. */
export async function containerNetworks(id: string): Promise<{ network: string; ip: string; aliases: string[] }[]> {
  const out = await docker('inspect', '--format', '{{json .NetworkSettings.Networks}}', id);
  const networks = JSON.parse(out) as Record<string, { IPAddress: string; Aliases: string[] | null }>;
  return Object.entries(networks).map(([network, settings]) => ({
    network,
    ip: settings.IPAddress,
    aliases: settings.Aliases ?? [],
  }));
}

/**
 * The service's process inside a container run with `init: true`: PID 1 is docker-init, the
 * service is its only child (ppid 1). Health checks and `docker exec` run as children of the
 * runtime (ppid 0), so they are not taken for it. (Not by name: Node 24 names its main thread
 * MainThread, and that is the process's comm.)
 */
export async function serviceProcess(id: string): Promise<{ pid: number; command: string }> {
  const script =
    'for d in /proc/[0-9]*; do read -r pid comm state ppid rest < "$d/stat" 2>/dev/null || continue; ' +
    '[ "$ppid" = 1 ] && echo "$pid $(tr "\\0" " " < "$d/cmdline")"; done; true';
  const children = (await docker('exec', id, 'sh', '-c', script)).split('\n').filter(Boolean);
  if (children.length !== 1) {
    throw new Error(
      `expected one process under docker-init in ${id}, found ${children.length}: ${children.join('; ')}`,
    );
  }
  const [pid, ...command] = (children[0] as string).split(' ');
  return { pid: Number(pid), command: command.join(' ').trim() };
}

/** `tc` in the network namespace of the container's init process (from the host). */
export function tcInContainer(pid: number, ...args: string[]): Promise<string> {
  return sh('nsenter', '-t', String(pid), '-n', 'tc', ...args);
}

/**
 * The container's one network interface besides lo (eth0 as compose attached it; another name
 * once it was disconnected and connected again).
 */
export async function containerInterface(pid: number): Promise<string> {
  const links = await sh('nsenter', '-t', String(pid), '-n', 'ip', '-o', 'link', 'show');
  const names = links
    .split('\n')
    .map((line) => line.split(':')[1]?.trim().split('@')[0])
    .filter((name): name is string => Boolean(name) && name !== 'lo');
  if (names.length !== 1) throw new Error(`expected one interface besides lo, found ${names.join(', ') || 'none'}`);
  return names[0] as string;
}
