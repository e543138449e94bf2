import { parseStrategyConfig, type StrategyConfig } from '@mixlab/mixing';
import { ConfigError, type Env, envInt, envLogLevel, envString, envUrl, type LogLevel } from '@mixlab/service-kit';

export interface ObserverConfig {
  /** HTTP: /metrics, /health, /v1/estimates. */
  readonly port: number;
  /** UDP port the services' taps send to. */
  readonly tapPort: number;
  /** Where the public topology comes from: which address is which node or gateway. */
  readonly directoryUrl: string;
  /**
   * Every mix node's mixing rule: public knowledge (each node exports it as its `strategy`
   * label), given as configuration because the directory's documents do not carry it.
   */
  readonly strategy: StrategyConfig;
  /** Client connections the model can tell apart; the rest are counted as unmapped. */
  readonly maxClients: number;
  /** How long an event may take to arrive after another it followed on the wire. */
  readonly slackMs: number;
  /** The model's releaseLagMs (see ObserverOptions in @mixlab/anonymity). */
  readonly releaseLagMs: number;
  /** Per-message estimates kept for /v1/estimates. */
  readonly recentMessages: number;
  readonly topologyRefreshMs: number;
  readonly logLevel: LogLevel;
}

export function readConfig(env: Env): ObserverConfig {
  return {
    port: envInt(env, 'PORT', 8080, 1, 65535),
    tapPort: envInt(env, 'TAP_PORT', 9999, 1, 65535),
    directoryUrl: envUrl(env, 'DIRECTORY_URL', 'http://directory:8080'),
    strategy: readStrategy(env),
    maxClients: envInt(env, 'MAX_CLIENTS', 256, 1, 10_000),
    slackMs: envInt(env, 'SLACK_MS', 250, 0, 60_000),
    releaseLagMs: envInt(env, 'RELEASE_LAG_MS', 100, 0, 60_000),
    recentMessages: envInt(env, 'RECENT_MESSAGES', 5_000, 1, 1_000_000),
    topologyRefreshMs: envInt(env, 'TOPOLOGY_REFRESH_MS', 2_000, 100, 600_000),
    logLevel: envLogLevel(env),
  };
}

function readStrategy(env: Env): StrategyConfig {
  try {
    return parseStrategyConfig(envString(env, 'STRATEGY'));
  } catch (error) {
    throw new ConfigError(`STRATEGY: ${(error as Error).message}`);
  }
}
