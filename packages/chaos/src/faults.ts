/**
 * The faults, each as Docker would see an operator or a crash cause it. A fault starts with
 * `inject`; a fault that lasts (pause, disconnect, a slow or lossy link) ends with `heal` after `holdMs`.
 * Nothing here waits for the service to come back: the traffic measures that.
 */
import {
  containerInterface,
  containerNetworks,
  containerState,
  docker,
  serviceProcess,
  sh,
  tcInContainer,
} from './docker.ts';

/** The container a fault hits. */
export interface FaultTarget {
  /** Its compose container name without the project: `mix-layer-2-1`, `client-gateway-1`. */
  readonly container: string;
  readonly id: string;
}

export interface Fault {
  /** The row's name in the report. */
  readonly name: string;
  /** The compose container it hits. */
  readonly container: string;
  /** What was done, as commands. */
  readonly how: string;
  /** How long the fault lasts before `heal` (0: an event, nothing to heal). */
  readonly holdMs: number;
  /** Starts the fault; returns notes worth reporting (a process id, an address). */
  inject(target: FaultTarget): Promise<string[]>;
  heal?(target: FaultTarget): Promise<string[]>;
}

/** `docker restart`: SIGTERM, a graceful stop (10 s at most), and a start. */
export function restart(name: string, container: string): Fault {
  return {
    name,
    container,
    how: `docker restart ${container}`,
    holdMs: 0,
    inject: async ({ id }) => {
      await docker('restart', '--time', '10', id);
      return [];
    },
  };
}

/**
 * `docker kill` (SIGKILL to the container): Docker counts it as stopped by hand, so the
 * restart policy does not bring it back; an operator starts it again after `downMs`.
 */
export function dockerKill(container: string, downMs: number): Fault {
  return {
    name: `docker kill of ${container}`,
    container,
    how: `docker kill ${container}; ${downMs / 1000} s later docker start (if the restart policy has not)`,
    holdMs: downMs,
    inject: async ({ id }) => {
      await docker('kill', id);
      return [];
    },
    heal: async ({ id }) => {
      const state = await containerState(id);
      if (state.running) return [`back by its restart policy (restarts: ${state.restartCount})`];
      await docker('start', id);
      return ['started by hand: the restart policy left it stopped'];
    },
  };
}

/**
 * A crash: SIGKILL to the service's node process inside its container (PID 1 is docker-init,
 * which then exits with it), so the restart policy (`on-failure`) restarts the container.
 */
export function crashProcess(container: string): Fault {
  return {
    name: `node process of ${container} killed (kill -9)`,
    container,
    how: `docker exec ${container} kill -9 <pid of the process under docker-init>`,
    holdMs: 0,
    inject: async ({ id }) => {
      const { pid, command } = await serviceProcess(id);
      // The shell's kill: the slim image has no kill binary.
      await docker('exec', id, 'sh', '-c', `kill -9 ${pid}`);
      return [`killed pid ${pid} (${command}) in the container`];
    },
  };
}

/** `docker pause` (cgroup freezer: sockets stay open, nothing answers) for `holdMs`. */
export function pause(container: string, holdMs: number): Fault {
  return {
    name: `${container} paused ${holdMs / 1000} s`,
    container,
    how: `docker pause ${container}; ${holdMs / 1000} s; docker unpause`,
    holdMs,
    inject: async ({ id }) => {
      await docker('pause', id);
      return [];
    },
    heal: async ({ id }) => {
      await docker('unpause', id);
      return [];
    },
  };
}

/**
 * `docker network disconnect` for `holdMs`, then connect again with the service's alias, as
 * compose attached it. Docker may hand out another address on the way back; the node
 * advertised the old one.
 */
export function disconnect(container: string, holdMs: number): Fault {
  let attached: { network: string; ip: string; aliases: string[] }[] = [];
  return {
    name: `${container} disconnected ${holdMs / 1000} s`,
    container,
    how: `docker network disconnect <net> ${container}; ${holdMs / 1000} s; docker network connect --alias <service> <net>`,
    holdMs,
    inject: async ({ id }) => {
      attached = await containerNetworks(id);
      for (const { network } of attached) await docker('network', 'disconnect', network, id);
      return attached.map(({ network, ip }) => `was ${ip} on ${network}`);
    },
    heal: async ({ id }) => {
      for (const { network, aliases } of attached) {
        // Compose's own aliases (service name, container name); the short id is added by Docker again.
        const names = aliases.filter((alias) => !/^[0-9a-f]{12}$/.test(alias));
        await docker('network', 'connect', ...names.flatMap((alias) => ['--alias', alias]), network, id);
      }
      const now = await containerNetworks(id);
      return now.map(({ network, ip }) => `back as ${ip} on ${network}`);
    },
  };
}

/**
 * A slow link: tc's token bucket (tbf) on the container's interface, so everything it sends
 * leaves at `rate` and queues behind (up to `latency`). netem would be the usual tool, but
 * kernels without sch_netem (this machine's Firecracker kernel) refuse it; tbf is everywhere.
 */
export function slowLink(container: string, tbf: string, holdMs: number): Fault {
  let device = 'eth0';
  return {
    name: `${container}: slow link (tbf ${tbf}) ${holdMs / 1000} s`,
    container,
    how: `nsenter -t <pid> -n tc qdisc add dev <eth> root tbf ${tbf}; ${holdMs / 1000} s; tc qdisc del dev <eth> root`,
    holdMs,
    inject: async ({ id }) => {
      const { pid } = await containerState(id);
      device = await containerInterface(pid);
      await tcInContainer(pid, 'qdisc', 'add', 'dev', device, 'root', 'tbf', ...tbf.split(' '));
      return [`on ${device}`];
    },
    heal: async ({ id }) => {
      const { pid } = await containerState(id);
      await tcInContainer(pid, 'qdisc', 'del', 'dev', device, 'root');
      return [];
    },
  };
}

/**
 * A lossy link: every IP packet the container sends is dropped with `probability` (iptables'
 * statistic match in its namespace; netem's loss needs sch_netem, see slowLink). TCP retransmits
 * underneath, so HTTP sees delay rather than loss.
 */
export function lossyLink(container: string, probability: number, holdMs: number): Fault {
  const rule = ['OUTPUT', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'];
  return {
    name: `${container}: lossy link (${probability * 100}% of packets dropped) ${holdMs / 1000} s`,
    container,
    how: `nsenter -t <pid> -n iptables -I ${rule.join(' ')}; ${holdMs / 1000} s; iptables -D ...`,
    holdMs,
    inject: async ({ id }) => {
      const { pid } = await containerState(id);
      await sh('nsenter', '-t', String(pid), '-n', 'iptables', '-I', ...rule);
      return [];
    },
    heal: async ({ id }) => {
      const { pid } = await containerState(id);
      await sh('nsenter', '-t', String(pid), '-n', 'iptables', '-D', ...rule);
      return [];
    },
  };
}
