import { PACKET_FORMAT_NAMES, type PacketFormatName } from '@mixlab/packet';
import {
  type Env,
  envChoice,
  envInt,
  envLogLevel,
  envPattern,
  envString,
  envTapAddress,
  envUrl,
  type LogLevel,
} from '@mixlab/service-kit';
import { GATEWAY_ID_PATTERN } from '@mixlab/topology';

export interface GatewayConfig {
  readonly port: number;
  readonly directoryUrl: string;
  /** Registered in the directory; clients name it in their packets, exit nodes look it up. */
  readonly gatewayId: string;
  /** URL at which exit nodes reach this gateway. */
  readonly advertisedUrl: string;
  readonly packetFormat: PacketFormatName;
  readonly maxPacketBytes: number;
  readonly maxPacketsPerRequest: number;
  readonly maxMessagesPerMailbox: number;
  readonly maxMailboxes: number;
  /** Payload bytes held across all mailboxes. */
  readonly maxStoredBytes: number;
  /** Where the mailboxes are kept (`mailboxes.sqlite`): a volume, so a restart keeps them. */
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  /** The anonymity observer's tap (host:port), told of every request on the gateway's links; none when unset. */
  readonly tapAddress: string | undefined;
}

export function readConfig(env: Env): GatewayConfig {
  return {
    port: envInt(env, 'PORT', 8080, 1, 65535),
    directoryUrl: envUrl(env, 'DIRECTORY_URL', 'http://directory:8080'),
    gatewayId: envPattern(env, 'GATEWAY_ID', GATEWAY_ID_PATTERN, 'gateway-1'),
    advertisedUrl: envUrl(env, 'ADVERTISED_URL', 'http://client-gateway:8080'),
    packetFormat: envChoice(env, 'PACKET_FORMAT', PACKET_FORMAT_NAMES, 'sphinx'),
    maxPacketBytes: envInt(env, 'MAX_PACKET_BYTES', 64 * 1024, 64, 1024 * 1024),
    maxPacketsPerRequest: envInt(env, 'MAX_PACKETS_PER_REQUEST', 100, 1, 10_000),
    maxMessagesPerMailbox: envInt(env, 'MAX_MESSAGES_PER_MAILBOX', 1000, 1, 1_000_000),
    maxMailboxes: envInt(env, 'MAX_MAILBOXES', 10_000, 1, 1_000_000),
    maxStoredBytes: envInt(env, 'MAX_STORED_BYTES', 1024 ** 3, 1024, 1024 ** 4),
    dataDir: envString(env, 'DATA_DIR', '/data'),
    logLevel: envLogLevel(env),
    tapAddress: envTapAddress(env),
  };
}
