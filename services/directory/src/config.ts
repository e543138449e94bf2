import { type Env, envInt, envLogLevel, envString, type LogLevel } from '@mixlab/service-kit';

export interface DirectoryConfig {
  readonly port: number;
  /** Number of mix layers; a node's layer must be in 1..layerCount. */
  readonly layerCount: number;
  /** Where the directory key (`directory-key.json`, `directory.pub`) and registrations (`registry.sqlite`) live: a volume, so a restart keeps them. */
  readonly dataDir: string;
  /** Epochs of this length counted from the Unix epoch (genesis 0): every service with the same length agrees. */
  readonly epochLengthMs: number;
  /** A node not heard from for longer than this leaves the next topology and counts as dead. */
  readonly livenessTimeoutMs: number;
  /** A descriptor's issuedAt is accepted within the directory's clock ± this. */
  readonly maxSkewMs: number;
  /** The operator's enrollment: `<id>.pub` per node or gateway allowed to register (enrollment.ts). */
  readonly enrollmentDir: string;
  readonly logLevel: LogLevel;
}

const HOUR_MS = 3_600_000;

/** Reads the directory's configuration; throws a ConfigError naming the variable. */
export function readDirectoryConfig(env: Env): DirectoryConfig {
  return {
    port: envInt(env, 'PORT', 8080, 1, 65535),
    layerCount: envInt(env, 'LAYERS', 3, 1, 16),
    dataDir: envString(env, 'DATA_DIR', '/data'),
    epochLengthMs: envInt(env, 'EPOCH_LENGTH_MS', 600_000, 1_000, 7 * 24 * HOUR_MS),
    livenessTimeoutMs: envInt(env, 'LIVENESS_TIMEOUT_MS', 15_000, 100, HOUR_MS),
    maxSkewMs: envInt(env, 'MAX_SKEW_MS', 30_000, 0, HOUR_MS),
    enrollmentDir: envString(env, 'ENROLLMENT_DIR', '/enrollment'),
    logLevel: envLogLevel(env),
  };
}
