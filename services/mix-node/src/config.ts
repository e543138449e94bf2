import { BlockList, isIPv4 } from 'node:net';
import { availableParallelism, hostname, type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { parseStrategyConfig, type StrategyConfig } from '@mixlab/mixing';
import { PACKET_FORMAT_NAMES, type PacketFormatName } from '@mixlab/packet';
import {
  ConfigError,
  DEFAULT_MAX_PENDING_FRAMES,
  type Env,
  envChoice,
  envInt,
  envLogLevel,
  envNumber,
  envOptionalInt,
  envOptionalString,
  envPattern,
  envString,
  envTapAddress,
  envUrl,
  type LogLevel,
} from '@mixlab/service-kit';
import { NODE_ID_PATTERN } from '@mixlab/topology';
import { defaultGraceMs, defaultNextKeyWindowMs } from './key-schedule.ts';

export interface MixNodeConfig {
  readonly port: number;
  readonly nodeId: string;
  readonly layer: number;
  /** URL other nodes and the gateway use to reach this node. */
  readonly advertisedUrl: string;
  readonly directoryUrl: string;
  /** Where the identity key and mixing keys are kept: `${dataDir}/${nodeId}/` (a volume, so a restart keeps them). */
  readonly dataDir: string;
  /** Epoch length (genesis 0, as the directory's): mixing keys rotate at every boundary. */
  readonly epochLengthMs: number;
  /** How long after a boundary the previous epoch's key still peels packets in flight. */
  readonly keyGraceMs: number;
  /** How long before its epoch the next epoch's key already peels packets (for clocks a little ahead). */
  readonly nextKeyWindowMs: number;
  /** How often the node re-registers (a freshly signed descriptor) with the directory. */
  readonly heartbeatMs: number;
  readonly packetFormat: PacketFormatName;
  /** The mixing strategy, from one string such as `threshold:n=10,maxWait=1s` (docs/strategies.md). */
  readonly strategy: StrategyConfig;
  readonly maxPacketBytes: number;
  readonly maxPacketsPerRequest: number;
  /** Frames waiting for or in requests to one next hop or gateway; past it, packets are dropped as queue_full. */
  readonly maxPendingFrames: number;
  /** Worker threads that peel packets; 0 peels on the event loop thread. */
  readonly workers: number;
  /**
   * The packets per second each epoch's replay filter is planned for, over the time its key
   * peels; undefined: this node's peel capacity, measured at start-up.
   */
  readonly replayRatePerSecond: number | undefined;
  /** The chance that a new packet is taken for a replay once a filter holds its planned entries. */
  readonly replayFalsePositiveRate: number;
  /** Loop cover sent per second on average (Poisson); 0 sends none. */
  readonly loopRate: number;
  /** A loop not back after this long counts as lost. */
  readonly loopTimeoutMs: number;
  /** The loop-loss alarm: fires when `threshold` of the last `window` resolved loops were lost. */
  readonly loopAlarm: { readonly window: number; readonly threshold: number };
  readonly logLevel: LogLevel;
  /** The anonymity observer's tap (host:port), told of every request this node sends; none when unset. */
  readonly tapAddress: string | undefined;
  /** Where the node writes its public identity key at start (`<nodeId>.pub`) to enroll; none when unset. */
  readonly enrollDir: string | undefined;
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The address other nodes reach this host at: its first external IPv4 address, else its
 * host name. With `subnet` (CIDR), the first one inside it: a swarm task has several
 * interfaces (overlay, docker_gwbridge, ingress) and only the overlay's is reachable from
 * other tasks, in no fixed order.
 */
export function advertisedAddress(interfaces: Interfaces, host: string, subnet?: string): string {
  const addresses = Object.values(interfaces)
    .flat()
    .flatMap((address) => (address?.family === 'IPv4' && !address.internal ? [address.address] : []));
  if (subnet === undefined) return addresses[0] ?? host;
  const [network, bits] = subnet.split('/');
  const prefix = Number(bits);
  if (network === undefined || !isIPv4(network) || !/^\d{1,2}$/.test(bits ?? '') || prefix > 32) {
    throw new ConfigError(`ADVERTISED_SUBNET must be an IPv4 CIDR such as 10.231.0.0/16, got "${subnet}"`);
  }
  const inside = new BlockList();
  inside.addSubnet(network, prefix, 'ipv4');
  const address = addresses.find((candidate) => inside.check(candidate, 'ipv4'));
  if (address === undefined) {
    throw new ConfigError(
      `ADVERTISED_SUBNET ${subnet}: no interface of this host has an address in it (found ${addresses.join(', ') || 'none'})`,
    );
  }
  return address;
}

export function readConfig(env: Env): MixNodeConfig {
  const port = envInt(env, 'PORT', 8080, 1, 65535);
  const layer = envInt(env, 'LAYER', undefined, 1, 16);
  // Replicas of one compose service differ only in their host name (the container id).
  const nodeId = envPattern(env, 'NODE_ID', NODE_ID_PATTERN, `mix-${layer}-${hostname()}`);
  const epochLengthMs = envInt(env, 'EPOCH_LENGTH_MS', 600_000, 1_000, 7 * 24 * 3_600_000);
  return {
    port,
    nodeId,
    layer,
    advertisedUrl: readAdvertisedUrl(env, port),
    directoryUrl: envUrl(env, 'DIRECTORY_URL', 'http://directory:8080'),
    dataDir: envString(env, 'DATA_DIR', '/data'),
    epochLengthMs,
    keyGraceMs: envInt(env, 'KEY_GRACE_MS', defaultGraceMs(epochLengthMs), 0, epochLengthMs - 1),
    nextKeyWindowMs: envInt(env, 'NEXT_KEY_WINDOW_MS', defaultNextKeyWindowMs(epochLengthMs), 0, epochLengthMs - 1),
    heartbeatMs: envInt(env, 'HEARTBEAT_MS', 5_000, 100, 3_600_000),
    packetFormat: envChoice(env, 'PACKET_FORMAT', PACKET_FORMAT_NAMES, 'sphinx'),
    strategy: readStrategy(env),
    maxPacketBytes: envInt(env, 'MAX_PACKET_BYTES', 64 * 1024, 64, 1024 * 1024),
    maxPacketsPerRequest: envInt(env, 'MAX_PACKETS_PER_REQUEST', 1000, 1, 100_000),
    maxPendingFrames: envInt(env, 'MAX_PENDING_FRAMES', DEFAULT_MAX_PENDING_FRAMES, 1, 10_000_000),
    workers: env.WORKERS?.trim() === 'auto' ? availableParallelism() : envInt(env, 'WORKERS', 0, 0, 256),
    replayRatePerSecond: envOptionalInt(env, 'REPLAY_RATE_PER_SECOND', 1, 10_000_000),
    replayFalsePositiveRate: envNumber(env, 'REPLAY_FALSE_POSITIVE_RATE', 1e-6, 1e-12, 0.1),
    loopRate: envNumber(env, 'LOOP_RATE', 0, 0, 1000),
    loopTimeoutMs: envInt(env, 'LOOP_TIMEOUT_MS', 30_000, 100, 3_600_000),
    loopAlarm: {
      window: envInt(env, 'LOOP_ALARM_WINDOW', 10, 1, 10_000),
      threshold: envNumber(env, 'LOOP_ALARM_THRESHOLD', 0.5, 0.01, 1),
    },
    logLevel: envLogLevel(env),
    tapAddress: envTapAddress(env),
    enrollDir: envOptionalString(env, 'ENROLL_DIR'),
  };
}

/** ADVERTISED_URL, else this host's address (in ADVERTISED_SUBNET when set) and port. */
function readAdvertisedUrl(env: Env, port: number): string {
  if (env.ADVERTISED_URL?.trim()) return envUrl(env, 'ADVERTISED_URL');
  const subnet = env.ADVERTISED_SUBNET?.trim() || undefined;
  return `http://${advertisedAddress(networkInterfaces(), hostname(), subnet)}:${port}`;
}

const DEFAULT_STRATEGY = 'threshold:n=10';

function readStrategy(env: Env): StrategyConfig {
  try {
    return parseStrategyConfig(envString(env, 'STRATEGY', DEFAULT_STRATEGY));
  } catch (error) {
    throw new ConfigError(`STRATEGY: ${(error as Error).message}`);
  }
}
