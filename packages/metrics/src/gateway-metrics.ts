import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { stageMetrics } from './stage-metrics.ts';

/** End-to-end latencies from 10 ms to about 5 minutes. */
export const END_TO_END_LATENCY_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.01 * 2 ** i);

/** What became of a submitted packet (bounded label set): refused before any work as rate_limited or overloaded. */
export const GATEWAY_SUBMIT_OUTCOMES = [
  'forwarded',
  'rejected',
  'wrong_size',
  'forward_failed',
  'rate_limited',
  'overloaded',
] as const;

/** What became of a session request or of a request's session (bounded label set). */
export const GATEWAY_SESSION_OUTCOMES = [
  'opened',
  'evicted',
  'session_required',
  'session_expired',
  'wrong_mailbox',
] as const;

/** The mailbox limits a delivered message can hit. */
export const GATEWAY_MAILBOX_LIMITS = [
  'mailbox_full',
  'mailbox_bytes_full',
  'too_many_mailboxes',
  'storage_full',
] as const;

export interface GatewayMetrics {
  readonly packetsSubmitted: Counter<'outcome'>;
  readonly messagesDelivered: Counter<'outcome'>;
  readonly messagesPushed: Counter;
  readonly messagesAcknowledged: Counter;
  readonly mailboxMessages: Gauge;
  readonly connectedClients: Gauge;
  readonly endToEndLatency: Histogram;
  readonly clientDeliveries: Counter<'event'>;
  /** Sessions opened and evicted, and requests refused for their session. */
  readonly sessions: Counter<'outcome'>;
  readonly openSessions: Gauge;
  /** Messages refused by a mailbox limit, by the limit. */
  readonly mailboxLimits: Counter<'limit'>;
  /** Mailbox commits (each holds the stores and acknowledgements of one event-loop turn), by durability. */
  readonly mailboxCommits: Counter<'durability'>;
  /** gateway_submit, gateway_delivery, mailbox_push. */
  readonly stage: Histogram<'stage'>;
}

export function gatewayMetrics(registry: Registry): GatewayMetrics {
  const registers = [registry];
  const packetsSubmitted = new Counter({
    name: 'mixlab_gateway_packets_submitted_total',
    help: 'Packets clients submitted, by whether they reached a layer-1 node.',
    labelNames: ['outcome'],
    registers,
  });
  const messagesDelivered = new Counter({
    name: 'mixlab_gateway_messages_delivered_total',
    help: 'Messages exit nodes handed to this gateway, by whether a mailbox took them.',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of GATEWAY_SUBMIT_OUTCOMES) packetsSubmitted.inc({ outcome }, 0);
  for (const outcome of ['stored', 'rejected', 'mailbox_full']) messagesDelivered.inc({ outcome }, 0);
  const clientDeliveries = new Counter({
    name: 'mixlab_client_deliveries_total',
    help: 'Acknowledged sending as clients that opt in report it: acknowledged, retransmitted, expired.',
    labelNames: ['event'],
    registers,
  });
  for (const event of ['acknowledged', 'retransmitted', 'expired']) clientDeliveries.inc({ event }, 0);
  const sessions = new Counter({
    name: 'mixlab_gateway_sessions_total',
    help: 'Mailbox sessions opened and evicted (table full), and requests refused for their session.',
    labelNames: ['outcome'],
    registers,
  });
  for (const outcome of GATEWAY_SESSION_OUTCOMES) sessions.inc({ outcome }, 0);
  const mailboxLimits = new Counter({
    name: 'mixlab_gateway_mailbox_limits_total',
    help: 'Delivered messages a mailbox limit refused, by the limit.',
    labelNames: ['limit'],
    registers,
  });
  for (const limit of GATEWAY_MAILBOX_LIMITS) mailboxLimits.inc({ limit }, 0);
  const mailboxCommits = new Counter({
    name: 'mixlab_gateway_mailbox_commits_total',
    help: 'Mailbox commits, each of the stores and acknowledgements of one event-loop turn: full (stored messages, answered once the WAL is synced) or normal (nothing stored: acknowledgements, refusals).',
    labelNames: ['durability'],
    registers,
  });
  for (const durability of ['full', 'normal']) mailboxCommits.inc({ durability }, 0);
  return {
    sessions,
    openSessions: new Gauge({
      name: 'mixlab_gateway_sessions',
      help: 'Mailbox sessions held (live or expired but not yet dropped).',
      registers,
    }),
    mailboxLimits,
    mailboxCommits,
    packetsSubmitted,
    messagesDelivered,
    messagesPushed: new Counter({
      name: 'mixlab_gateway_messages_pushed_total',
      help: 'Messages pushed to clients over WebSocket (a message is pushed again after a reconnect).',
      registers,
    }),
    messagesAcknowledged: new Counter({
      name: 'mixlab_gateway_messages_acknowledged_total',
      help: 'Messages clients acknowledged, which removes them from the mailbox.',
      registers,
    }),
    mailboxMessages: new Gauge({
      name: 'mixlab_gateway_mailbox_messages',
      help: 'Messages held in mailboxes, not yet acknowledged.',
      registers,
    }),
    connectedClients: new Gauge({
      name: 'mixlab_gateway_connected_clients',
      help: 'Open WebSocket connections.',
      registers,
    }),
    clientDeliveries,
    endToEndLatency: new Histogram({
      name: 'mixlab_end_to_end_latency_seconds',
      help: 'Send to receipt, as recipients that opt in report it with their acknowledgements.',
      buckets: END_TO_END_LATENCY_BUCKETS,
      registers,
    }),
    stage: stageMetrics(registry),
  };
}
