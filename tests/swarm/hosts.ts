/**
 * Simulated hosts for the swarm test: one Docker engine per host, each in its own network
 * namespace (its own interfaces, routes and iptables, so its bridges and rules never touch the
 * main engine's) and UTS namespace (its own host name), with its own data root, exec root,
 * pid file, socket and cgroup parent. A LAN bridge in one more namespace joins them, and a
 * veth gives this machine an address on that LAN to reach published ports.
 *
 *   this machine 10.213.0.1 ── lan0 (netns mixlab-lan) ── 10.213.0.11 swarm-1 (netns mixlab-swarm-1, dockerd)
 *                                                      ├── 10.213.0.12 swarm-2
 *                                                      └── 10.213.0.13 swarm-3
 *
 * Needs root, iproute2, util-linux (nsenter, unshare) and /usr/sbin/dockerd. Never turns
 * swarm mode on in the main engine. `remove()` takes everything down again and reports what
 * it could not; `startHosts` first removes what a killed earlier run left.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RUN_ROOT = '/run/mixlab-swarm';
const DATA_ROOT = '/var/lib/mixlab-swarm';
const LAN_NETNS = 'mixlab-lan';
const HOST_LINK = 'mixlab-lan0';
const LAN_PREFIX = '10.213.0';
const DOCKERD = '/usr/sbin/dockerd';
const CGROUP_ROOT = '/sys/fs/cgroup';

export interface SwarmHost {
  /** Host name, also the swarm node's. */
  readonly name: string;
  /** Its address on the LAN (swarm traffic, published ports). */
  readonly address: string;
  /** For `docker --host`. */
  readonly dockerHost: string;
}

export interface SimulatedHosts {
  readonly hosts: readonly SwarmHost[];
  /** `docker --host <host> args...`; rejects with stderr. */
  docker(host: SwarmHost, ...args: string[]): Promise<string>;
  /** Stops every engine and removes every trace; returns what is left (empty when all went). */
  remove(): Promise<string[]>;
}

const netnsOf = (index: number) => `mixlab-swarm-${index}`;
const hostName = (index: number) => `swarm-${index}`;

async function sh(command: string, args: string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const failure = error as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')}: ${failure.stderr?.trim() || failure.message}`);
  }
}

function hostsOf(count: number): SwarmHost[] {
  return Array.from({ length: count }, (_, i) => ({
    name: hostName(i + 1),
    address: `${LAN_PREFIX}.${11 + i}`,
    dockerHost: `unix://${RUN_ROOT}/${hostName(i + 1)}/docker.sock`,
  }));
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function namespaces(): Promise<string[]> {
  const listed = await sh('ip', ['netns', 'list']).catch(() => '');
  return listed
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name === LAN_NETNS || /^mixlab-swarm-\d+$/.test(name));
}

function ourMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${RUN_ROOT}/`) || point.startsWith(`${DATA_ROOT}/`))
    .sort((a, b) => b.length - a.length);
}

async function ourCgroups(): Promise<string[]> {
  const controllers = await readdir(CGROUP_ROOT).catch(() => [] as string[]);
  const found: string[] = [];
  for (const controller of controllers) {
    const entries = await readdir(`${CGROUP_ROOT}/${controller}`).catch(() => [] as string[]);
    for (const entry of entries)
      if (/^mixlab-swarm-\d+$/.test(entry)) found.push(`${CGROUP_ROOT}/${controller}/${entry}`);
  }
  return found;
}

/** Kills what still runs in a cgroup (containers of an engine that was killed), then removes it, deepest first. */
async function removeCgroup(path: string, log: (line: string) => void): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await removeCgroup(`${path}/${entry.name}`, log);
  const procs = await readFile(`${path}/cgroup.procs`, 'utf8').catch(() => '');
  for (const pid of procs.split('\n').filter((line) => /^\d+$/.test(line))) {
    log(`killing process ${pid} left in ${path}`);
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {}
  }
  if (procs.trim())
    await waitUntil(async () => !(await readFile(`${path}/cgroup.procs`, 'utf8').catch(() => '')).trim(), 10_000);
  await rmdir(path).catch(() => {});
}

/** The engines' pids from their pid files (an earlier run's too). */
async function enginePids(): Promise<number[]> {
  const names = await readdir(RUN_ROOT).catch(() => [] as string[]);
  const pids: number[] = [];
  for (const name of names) {
    const text = await readFile(`${RUN_ROOT}/${name}/docker.pid`, 'utf8').catch(() => '');
    if (/^\d+$/.test(text.trim())) pids.push(Number(text.trim()));
  }
  return pids;
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return condition();
}

/** Takes down whatever engines, namespaces, mounts, cgroups and files of ours exist; returns what remains. */
export async function removeHosts(log: (line: string) => void = () => {}): Promise<string[]> {
  const sockets = (await readdir(RUN_ROOT).catch(() => [] as string[])).map(
    (name) => `unix://${RUN_ROOT}/${name}/docker.sock`,
  );
  for (const socket of sockets) {
    // Workers first would be tidier, but leaving is local to each engine and all of them go.
    const left = await sh('docker', ['--host', socket, 'swarm', 'leave', '--force'], 30_000).then(
      () => true,
      () => false,
    );
    if (left) log(`${socket}: left the swarm`);
  }
  for (const pid of await enginePids()) {
    if (!alive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    if (!(await waitUntil(() => !alive(pid), 30_000))) process.kill(pid, 'SIGKILL');
    log(`dockerd ${pid} stopped`);
  }
  // Anything still running in the hosts' namespaces (containerd, shims, containers) is ours.
  for (const netns of await namespaces()) {
    const pids = (await sh('ip', ['netns', 'pids', netns]).catch(() => ''))
      .split('\n')
      .filter((pid) => /^\d+$/.test(pid))
      .map(Number);
    for (const pid of pids) {
      log(`killing process ${pid} left in ${netns}`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  for (const point of ourMounts()) await sh('umount', ['-l', point]).catch(() => {});
  for (const cgroup of await ourCgroups()) await removeCgroup(cgroup, log);
  for (const netns of await namespaces()) await sh('ip', ['netns', 'delete', netns]).catch(() => {});
  await sh('ip', ['link', 'delete', HOST_LINK]).catch(() => {});
  await rm(RUN_ROOT, { recursive: true, force: true });
  await rm(DATA_ROOT, { recursive: true, force: true });

  const leftovers = [
    ...(await enginePids()).filter(alive).map((pid) => `engine process ${pid}`),
    ...(await namespaces()).map((netns) => `network namespace ${netns}`),
    ...ourMounts().map((point) => `mount ${point}`),
    ...(await ourCgroups()).map((cgroup) => `cgroup ${cgroup}`),
    ...[RUN_ROOT, DATA_ROOT].filter(existsSync).map((path) => `directory ${path}`),
    ...((await sh('ip', ['link', 'show', HOST_LINK]).catch(() => '')) ? [`link ${HOST_LINK}`] : []),
  ];
  return leftovers;
}

async function startEngine(host: SwarmHost, index: number): Promise<void> {
  const netns = netnsOf(index);
  const runDir = `${RUN_ROOT}/${host.name}`;
  await mkdir(runDir, { recursive: true });
  await mkdir(`${DATA_ROOT}/${host.name}`, { recursive: true });
  const flags = [
    `--data-root=${DATA_ROOT}/${host.name}`,
    `--exec-root=${runDir}/exec`,
    `--pidfile=${runDir}/docker.pid`,
    `--host=${host.dockerHost}`,
    // Address ranges of its own (its docker0, docker_gwbridge), apart from the main engine's.
    `--bip=10.215.${index}.1/24`,
    '--default-address-pool=base=10.214.0.0/16,size=24',
    `--cgroup-parent=/mixlab-swarm-${index}`,
  ];
  const logFd = openSync(`${runDir}/dockerd.log`, 'a');
  // unshare --uts, then nsenter --net: the engine gets its own host name and network
  // namespace, and keeps this machine's mounts (cgroups, /sys) that `ip netns exec` would hide.
  const child = spawn(
    'unshare',
    [
      '--uts',
      'sh',
      '-c',
      `hostname ${host.name} && exec nsenter --net=/run/netns/${netns} ${DOCKERD} ${flags.join(' ')}`,
    ],
    { detached: true, stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  child.unref();
  const ready = await waitUntil(
    () =>
      sh('docker', ['--host', host.dockerHost, 'info', '--format', '{{.Name}}'], 5_000).then(
        (name) => name.trim() === host.name,
        () => false,
      ),
    60_000,
  );
  if (!ready) {
    const log = await readFile(`${runDir}/dockerd.log`, 'utf8').catch(() => '');
    throw new Error(`the engine of ${host.name} did not start:\n${log.split('\n').slice(-15).join('\n')}`);
  }
}

/** Starts `count` hosts (engines, not yet in a swarm). */
export async function startHosts(count: number, log: (line: string) => void = () => {}): Promise<SimulatedHosts> {
  const stale = await removeHosts(log);
  if (stale.length > 0) throw new Error(`an earlier run left what cannot be removed: ${stale.join(', ')}`);
  const routed = await sh('ip', ['-4', 'route', 'show', `${LAN_PREFIX}.0/24`]);
  if (routed.trim() !== '') throw new Error(`${LAN_PREFIX}.0/24 is already routed on this machine: ${routed.trim()}`);
  const hosts = hostsOf(count);
  try {
    const ip = (...args: string[]) => sh('ip', args);
    const inLan = (...args: string[]) => sh('ip', ['-n', LAN_NETNS, ...args]);
    await ip('netns', 'add', LAN_NETNS);
    await inLan('link', 'add', 'lan0', 'type', 'bridge');
    await inLan('link', 'set', 'lan0', 'up');
    await ip('link', 'add', HOST_LINK, 'type', 'veth', 'peer', 'name', 'host', 'netns', LAN_NETNS);
    await inLan('link', 'set', 'host', 'master', 'lan0', 'up');
    await ip('addr', 'add', `${LAN_PREFIX}.1/24`, 'dev', HOST_LINK);
    await ip('link', 'set', HOST_LINK, 'up');
    for (const [i, host] of hosts.entries()) {
      const netns = netnsOf(i + 1);
      await ip('netns', 'add', netns);
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      await ip('-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', host.name, 'netns', LAN_NETNS);
      await ip('-n', netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'route', 'add', 'default', 'via', `${LAN_PREFIX}.1`);
      await inLan('link', 'set', host.name, 'master', 'lan0', 'up');
      await startEngine(host, i + 1);
      log(`${host.name}: engine up at ${host.dockerHost}, address ${host.address}`);
    }
  } catch (error) {
    const leftovers = await removeHosts(log);
    throw new Error(`${(error as Error).message}${leftovers.length ? `\nleft behind: ${leftovers.join(', ')}` : ''}`, {
      cause: error,
    });
  }
  return {
    hosts,
    docker: (host, ...args) => sh('docker', ['--host', host.dockerHost, ...args], 180_000),
    remove: () => removeHosts(log),
  };
}
