/**
 * The Docker Swarm stack, derived from the compose project (`docker compose config --format
 * json`), so docker-compose.yml stays the one place services are described. Pure: the caller
 * reads the compose configuration and the files under its bind mounts.
 *
 * What changes on the way, and why (docs/deploy-swarm.md has the operator's side):
 * - `build`, `depends_on`, `restart` and host-IP bindings mean nothing to a stack: they are
 *   dropped (`restart` becomes `deploy.restart_policy`); the image must already be on every host.
 * - Every service uses DNS round robin (`endpoint_mode: dnsrr`): a service name resolves to
 *   every task, as in compose, so Prometheus's DNS discovery finds every replica, and no
 *   virtual IP (IPVS) is needed.
 * - Only the services named in `publish` keep their ports, published in host mode on the hosts
 *   labelled `mixlab.edge=true`; the routing mesh would publish them on every host.
 * - Bind mounts become swarm configs (named by content hash, so a changed file deploys as a
 *   new config): the files need to exist only where `docker stack deploy` runs.
 * - Mix layers run on hosts labelled `mixlab.mix=true`, spread over `mixlab.zone` values; each
 *   task's host name is `<swarm node host name>-<slot>` (so its node id is
 *   `mix-<layer>-<host>-<slot>`, stable across restarts on that host), and it advertises its
 *   address on the overlay network (`ADVERTISED_SUBNET`). Everything else runs on
 *   `mixlab.core=true` hosts, where its named volume stays.
 */

export const STACK_VERSION = '3.8';

/** Swarm node labels the stack places services by. */
export const NODE_LABELS = {
  /** Runs the published services (gateway, Grafana): the host to firewall. */
  edge: 'mixlab.edge',
  /** Runs the directory (its signing key is on this host's volume) and Prometheus. */
  core: 'mixlab.core',
  /** May run mix nodes. */
  mix: 'mixlab.mix',
  /** A failure domain: each layer's nodes spread over its values. */
  zone: 'mixlab.zone',
} as const;

const STACK_MODULE = 'deploy/swarm/stack.ts';
const MIX_LAYER = /^mix-layer-\d+$/;
const MIX_NODE_HOSTNAME = '{{.Node.Hostname}}-{{.Task.Slot}}';

export interface StackOptions {
  /** Services whose ports are published (host mode, on the edge hosts); every other port is dropped. */
  readonly publish: readonly string[];
  /** Services left out of the stack. */
  readonly omit: readonly string[];
  /** The overlay network's IPv4 subnet (CIDR); mix nodes advertise their address in it. */
  readonly subnet: string;
  /** Every file under every bind mount's source: absolute path → SHA-256 of its content (hex). */
  readonly files: Readonly<Record<string, string>>;
}

type Json = Record<string, unknown>;

export interface StackFile {
  readonly version: string;
  readonly 'x-generated-by': string;
  readonly services: Record<string, Json>;
  readonly networks: Record<string, Json>;
  readonly volumes: Record<string, Json>;
  readonly configs: Record<string, { file: string }>;
}

/** Keys a stack takes as compose gives them. */
const CARRIED = new Set([
  'image',
  'command',
  'entrypoint',
  'environment',
  'init',
  'healthcheck',
  'hostname',
  'labels',
  'logging',
  'stop_grace_period',
  'stop_signal',
  'user',
  'working_dir',
  'ulimits',
  'cap_add',
  'cap_drop',
  'sysctls',
  'extra_hosts',
  'read_only',
  'tmpfs',
]);
/** Compose-only keys with no meaning in a stack (or turned into deploy settings below). */
const DROPPED = new Set(['build', 'depends_on', 'restart', 'container_name', 'pull_policy', 'expose']);
/** Handled one by one below. */
const HANDLED = new Set(['networks', 'ports', 'volumes', 'deploy']);
const DEPLOY_CARRIED = new Set([
  'mode',
  'replicas',
  'labels',
  'update_config',
  'rollback_config',
  'restart_policy',
  'resources',
  'placement',
]);
const HEALTHCHECK_KEYS = new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'disable']);

export class StackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackError';
  }
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isEmpty = (value: unknown) => isObject(value) && Object.keys(value).length === 0;

function object(value: unknown, where: string): Json {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new StackError(`${where} must be a mapping`);
  return value;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new StackError(`${where} must be a list`);
  return value;
}

function requireServices(chosen: readonly string[], known: Json, option: string): void {
  const unknown = chosen.filter((name) => !(name in known));
  if (unknown.length > 0) throw new StackError(`${option} names no compose service: ${unknown.join(', ')}`);
}

/** The stack for `compose` (the JSON of `docker compose config --format json`). */
export function toStack(compose: unknown, options: StackOptions): StackFile {
  const project = object(compose, 'the compose configuration');
  if (!/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/.test(options.subnet)) {
    throw new StackError(`subnet must be an IPv4 CIDR such as 10.231.0.0/16, got "${options.subnet}"`);
  }
  for (const key of ['configs', 'secrets']) {
    if (!isEmpty(project[key] ?? {})) throw new StackError(`top-level ${key} are not carried over yet`);
  }
  const composeServices = object(project.services, 'services');
  requireServices(options.publish, composeServices, 'publish');
  requireServices(options.omit, composeServices, 'omit');
  const networks = object(project.networks, 'networks');
  const others = Object.keys(networks).filter((name) => name !== 'default');
  if (others.length > 0) throw new StackError(`only the default network is carried over, not ${others.join(', ')}`);

  const configs: Record<string, { file: string }> = {};
  const services: Record<string, Json> = {};
  for (const [name, service] of Object.entries(composeServices)) {
    if (options.omit.includes(name)) continue;
    services[name] = toStackService(name, object(service, `services.${name}`), options, configs);
  }
  const volumes: Record<string, Json> = {};
  for (const [name, volume] of Object.entries(object(project.volumes, 'volumes'))) {
    // Compose names volumes after its project; the stack prefixes them with the stack's name.
    const { name: projectName, ...rest } = object(volume, `volumes.${name}`);
    volumes[name] = rest.external ? { ...rest, name: projectName } : rest;
  }
  return escapeDollars({
    version: STACK_VERSION,
    'x-generated-by': 'deploy/swarm/generate-stack.ts from docker-compose.yml: regenerate it, do not edit it',
    services,
    networks: { default: { driver: 'overlay', ipam: { config: [{ subnet: options.subnet }] } } },
    volumes,
    configs,
  });
}

function toStackService(
  name: string,
  service: Json,
  options: StackOptions,
  configs: Record<string, { file: string }>,
): Json {
  const where = `services.${name}`;
  const out: Json = {};
  for (const [key, value] of Object.entries(service)) {
    if (value === null || DROPPED.has(key) || HANDLED.has(key)) continue;
    if (!CARRIED.has(key))
      throw new StackError(`${where}.${key}: not carried over to the stack (extend ${STACK_MODULE})`);
    out[key] = value;
  }
  if (typeof out.image !== 'string') throw new StackError(`${where} has no image: a stack cannot build one`);
  if (isObject(out.environment)) {
    out.environment = Object.fromEntries(Object.entries(out.environment).filter(([, value]) => value !== null));
  }
  if (out.healthcheck !== undefined) {
    const extra = Object.keys(object(out.healthcheck, `${where}.healthcheck`)).filter((k) => !HEALTHCHECK_KEYS.has(k));
    if (extra.length > 0) throw new StackError(`${where}.healthcheck.${extra[0]}: not carried over to the stack`);
  }
  const serviceNetworks = Object.keys(object(service.networks, `${where}.networks`));
  if (serviceNetworks.some((network) => network !== 'default')) {
    throw new StackError(`${where}.networks: only the default network is carried over`);
  }

  const published = options.publish.includes(name);
  const mixLayer = MIX_LAYER.test(name);
  if (published) out.ports = ports(service.ports, where);
  const mounts = mountsOf(service.volumes, where, options.files);
  if (mounts.volumes.length > 0) out.volumes = mounts.volumes;
  if (mounts.configs.length > 0) {
    out.configs = mounts.configs.map(({ key, file, target }) => {
      configs[key] = { file };
      return { source: key, target };
    });
  }
  if (mixLayer) {
    out.hostname ??= MIX_NODE_HOSTNAME;
    const environment = object(out.environment, `${where}.environment`);
    if (environment.ADVERTISED_URL === undefined && environment.ADVERTISED_SUBNET === undefined) {
      out.environment = { ...environment, ADVERTISED_SUBNET: options.subnet };
    }
  }
  const role = published ? NODE_LABELS.edge : mixLayer ? NODE_LABELS.mix : NODE_LABELS.core;
  out.deploy = deploy(service, where, role, mixLayer);
  return out;
}

function ports(value: unknown, where: string): Json[] {
  const result = list(value, `${where}.ports`).map((entry, index) => {
    const port = object(entry, `${where}.ports[${index}]`);
    const published = Number(port.published);
    if (!Number.isInteger(published) || published < 1 || published > 65535) {
      throw new StackError(`${where}.ports[${index}] publishes no port (got ${JSON.stringify(port.published)})`);
    }
    // Host mode: the port opens on the host running the task only, not on every host.
    return { target: port.target, published, protocol: port.protocol ?? 'tcp', mode: 'host' };
  });
  if (result.length === 0) throw new StackError(`${where} is to be published but has no ports`);
  return result;
}

interface Mounts {
  volumes: Json[];
  configs: { key: string; file: string; target: string }[];
}

function mountsOf(value: unknown, where: string, files: Readonly<Record<string, string>>): Mounts {
  const mounts: Mounts = { volumes: [], configs: [] };
  for (const [index, entry] of list(value, `${where}.volumes`).entries()) {
    const mount = object(entry, `${where}.volumes[${index}]`);
    const { type, source, target } = mount;
    if (typeof source !== 'string' || typeof target !== 'string') {
      throw new StackError(`${where}.volumes[${index}] needs a source and a target`);
    }
    if (type === 'volume') {
      mounts.volumes.push({ type, source, target, ...(mount.read_only ? { read_only: true } : {}) });
    } else if (type === 'bind') {
      // Every file under the source, at the same place under the target.
      const under = Object.keys(files)
        .filter((file) => file === source || file.startsWith(`${source.replace(/\/+$/, '')}/`))
        .sort();
      if (under.length === 0) throw new StackError(`${where}.volumes[${index}]: no file under ${source}`);
      for (const file of under) {
        const hash = files[file] ?? '';
        const base = file.slice(file.lastIndexOf('/') + 1).replace(/[^A-Za-z0-9._-]/g, '_');
        mounts.configs.push({ key: `${base}-${hash.slice(0, 12)}`, file, target: target + file.slice(source.length) });
      }
    } else {
      throw new StackError(`${where}.volumes[${index}]: ${String(type)} mounts are not carried over`);
    }
  }
  return mounts;
}

function deploy(service: Json, where: string, role: string, mixLayer: boolean): Json {
  const given = object(service.deploy, `${where}.deploy`);
  const out: Json = {};
  for (const [key, value] of Object.entries(given)) {
    if (key === 'endpoint_mode' && value === 'dnsrr') continue;
    if (!DEPLOY_CARRIED.has(key)) throw new StackError(`${where}.deploy.${key}: not carried over (${STACK_MODULE})`);
    if (!isEmpty(value)) out[key] = value;
  }
  out.endpoint_mode = 'dnsrr';
  if (out.restart_policy === undefined) out.restart_policy = restartPolicy(service.restart, where);
  const placement = object(out.placement, `${where}.deploy.placement`);
  out.placement = {
    ...placement,
    constraints: [...list(placement.constraints, 'constraints'), `node.labels.${role} == true`],
    ...(mixLayer
      ? { preferences: [...list(placement.preferences, 'preferences'), { spread: `node.labels.${NODE_LABELS.zone}` }] }
      : {}),
  };
  return out;
}

function restartPolicy(restart: unknown, where: string): Json {
  if (restart === undefined || restart === null || restart === 'always' || restart === 'unless-stopped') {
    return { condition: 'any' };
  }
  if (restart === 'no') return { condition: 'none' };
  const onFailure = /^on-failure(?::(\d+))?$/.exec(String(restart));
  if (onFailure) {
    return { condition: 'on-failure', ...(onFailure[1] ? { max_attempts: Number(onFailure[1]) } : {}) };
  }
  throw new StackError(`${where}.restart: unknown policy ${JSON.stringify(restart)}`);
}

/** The stack loader interpolates `$` again; compose has already resolved every variable. */
function escapeDollars<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('$', '$$$$') as T;
  if (Array.isArray(value)) return value.map(escapeDollars) as T;
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)])) as T;
  return value;
}
