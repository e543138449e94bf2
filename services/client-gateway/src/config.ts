import { PACKET_FORMAT_NAMES, type PacketFormatName } from '@mixlab/packet';
import {
  DEFAULT_MAX_PENDING_FRAMES,
  type Env,
  envChoice,
  envInt,
  envLogLevel,
  envNumber,
  envOptionalString,
  envPattern,
  envString,
  envTapAddress,
  envUrl,
  type LogLevel,
} from '@mixlab/service-kit';
import { GATEWAY_ID_PATTERN } from '@mixlab/topology';
import { RATE_LIMIT_KEYS, type RateLimit, type RateLimitKey } from './rate-limit.ts';

export interface GatewayConfig {
  /** The client port: submissions, mailboxes, topology, /health. */
  readonly port: number;
  /** The delivery listener (exit nodes, /metrics, /health, /ready): plain HTTP, inside the compose network only. */
  readonly deliveryPort: number;
  /** The gateway's Ed25519 identity (a @mixlab/runtime key file), created at first start. */
  readonly identityKeyFile: string;
  readonly directoryUrl: string;
  /** Registered in the directory; clients name it in their packets, exit nodes look it up. */
  readonly gatewayId: string;
  /** URL at which exit nodes reach this gateway: its delivery listener. */
  readonly advertisedUrl: string;
  readonly packetFormat: PacketFormatName;
  readonly maxPacketBytes: number;
  readonly maxPacketsPerRequest: number;
  readonly maxMessagesPerMailbox: number;
  /** Payload bytes held for one recipient. */
  readonly maxBytesPerMailbox: number;
  /** Mailbox sessions held at once; past it the oldest goes (its client renews). */
  readonly maxSessions: number;
  readonly maxMailboxes: number;
  /** Payload bytes held across all mailboxes. */
  readonly maxStoredBytes: number;
  /** Where the mailboxes are kept (`mailboxes.sqlite`): a volume, so a restart keeps them. */
  readonly dataDir: string;
  /** Submissions being forwarded to layer 1 at once; past it, 503 overloaded. */
  readonly maxSubmitsInFlight: number;
  /** One client's share of them (clients told apart by the rate limit's key). */
  readonly maxSubmitsInFlightPerClient: number;
  /** Frames waiting for or in requests to one layer-1 node; past it, packets are refused as overloaded. */
  readonly maxPendingFrames: number;
  /** What tells clients apart for their rate limit (rate-limit.ts says what each key is worth). */
  readonly rateLimitKey: RateLimitKey;
  readonly rateLimit: RateLimit;
  readonly logLevel: LogLevel;
  /** The anonymity observer's tap (host:port), told of every request on the gateway's links; none when unset. */
  readonly tapAddress: string | undefined;
  /** Where the gateway writes its public identity key at start (`<gatewayId>.pub`) to enroll; none when unset. */
  readonly enrollDir: string | undefined;
}

export function readConfig(env: Env): GatewayConfig {
  return {
    port: envInt(env, 'PORT', 8080, 1, 65535),
    deliveryPort: envInt(env, 'DELIVERY_PORT', 8081, 1, 65535),
    identityKeyFile: envString(env, 'IDENTITY_KEY_FILE', '/data/identity.json'),
    directoryUrl: envUrl(env, 'DIRECTORY_URL', 'http://directory:8080'),
    gatewayId: envPattern(env, 'GATEWAY_ID', GATEWAY_ID_PATTERN, 'gateway-1'),
    advertisedUrl: envUrl(env, 'ADVERTISED_URL', 'http://client-gateway:8081'),
    packetFormat: envChoice(env, 'PACKET_FORMAT', PACKET_FORMAT_NAMES, 'sphinx'),
    maxPacketBytes: envInt(env, 'MAX_PACKET_BYTES', 64 * 1024, 64, 1024 * 1024),
    maxPacketsPerRequest: envInt(env, 'MAX_PACKETS_PER_REQUEST', 100, 1, 10_000),
    maxMessagesPerMailbox: envInt(env, 'MAX_MESSAGES_PER_MAILBOX', 1000, 1, 1_000_000),
    maxBytesPerMailbox: envInt(env, 'MAX_BYTES_PER_MAILBOX', 16 * 1024 ** 2, 1024, 1024 ** 4),
    maxSessions: envInt(env, 'MAX_SESSIONS', 10_000, 1, 10_000_000),
    maxMailboxes: envInt(env, 'MAX_MAILBOXES', 10_000, 1, 1_000_000),
    maxStoredBytes: envInt(env, 'MAX_STORED_BYTES', 1024 ** 3, 1024, 1024 ** 4),
    dataDir: envString(env, 'DATA_DIR', '/data'),
    maxSubmitsInFlight: envInt(env, 'MAX_SUBMITS_IN_FLIGHT', 64, 1, 100_000),
    maxSubmitsInFlightPerClient: envInt(env, 'MAX_SUBMITS_IN_FLIGHT_PER_CLIENT', 16, 1, 100_000),
    maxPendingFrames: envInt(env, 'MAX_PENDING_FRAMES', DEFAULT_MAX_PENDING_FRAMES, 1, 10_000_000),
    rateLimitKey: envChoice(env, 'RATE_LIMIT_KEY', RATE_LIMIT_KEYS, 'address'),
    rateLimit: {
      perSecond: envNumber(env, 'RATE_LIMIT_PER_SECOND', 100, 0.001, 1_000_000),
      burst: envInt(env, 'RATE_LIMIT_BURST', 200, 1, 10_000_000),
    },
    logLevel: envLogLevel(env),
    tapAddress: envTapAddress(env),
    enrollDir: envOptionalString(env, 'ENROLL_DIR'),
  };
}
