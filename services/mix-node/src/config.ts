import { availableParallelism, hostname, networkInterfaces } from 'node:os';
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
  envPattern,
  envString,
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
  /** Where the identity key is kept: `${dataDir}/${nodeId}/identity.json` (a volume, so a restart keeps it). */
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
  readonly logLevel: LogLevel;
}

/** This host's first external IPv4 address (what other containers reach), else its host name. */
function ownAddress(): string {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address?.family === 'IPv4' && !address.internal);
  return external?.address ?? hostname();
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
    advertisedUrl: envUrl(env, 'ADVERTISED_URL', `http://${ownAddress()}:${port}`),
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
    logLevel: envLogLevel(env),
  };
}

const DEFAULT_STRATEGY = 'threshold:n=10';

function readStrategy(env: Env): StrategyConfig {
  try {
    return parseStrategyConfig(envString(env, 'STRATEGY', DEFAULT_STRATEGY));
  } catch (error) {
    throw new ConfigError(`STRATEGY: ${(error as Error).message}`);
  }
}
