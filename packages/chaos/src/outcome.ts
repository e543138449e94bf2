/** What a fault run's traffic shows, from its message records alone (pure arithmetic). */
import type { MessageRecord, TrafficCounts } from './traffic.ts';

export interface TrafficOutcome {
  /** Messages whose first send the gateway accepted. */
  readonly sent: number;
  /** First sends refused at once (the client knew; nothing entered the network). */
  readonly refused: number;
  readonly acknowledged: number;
  /** Distinct messages that reached their recipient. */
  readonly delivered: number;
  /** Copies delivered beyond the first (the recipient drops them). */
  readonly duplicated: number;
  /** Deliveries that did not open as a message. */
  readonly unreadable: number;
  /** Acknowledged but never delivered: must be 0. */
  readonly lost: number;
  /** Sent, not acknowledged after the last attempt. */
  readonly gaveUp: number;
  /** Sent and never delivered by the end of the retries (gave up or still out). */
  readonly undelivered: number;
  /** Sends in all, and how many of them were retransmissions the gateway refused. */
  readonly attempts: number;
  readonly failedRetransmissions: number;
  /** Acknowledgement round trip (first send to acknowledgement) of the messages sent before the fault, median. */
  readonly ackBeforeP50Ms: number | null;
  /**
   * From the fault's start to the acknowledgement of the first message sent after it that went
   * through the faulted service on its first attempt (every route goes through the gateway; none
   * through the directory, so any route counts for it): the service carries traffic again.
   */
  readonly recoveryMs: number | null;
  /** That message's send, from the fault's start. */
  readonly recoveredSendMs: number | null;
  /** Refused first sends: their reasons, each once, with how often. */
  readonly refusals: Record<string, number>;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

/**
 * `faultAt`: when the fault started. `via`: the faulted mix node's id, or undefined when every
 * route counts (gateway, directory).
 */
export function trafficOutcome(
  records: Iterable<MessageRecord>,
  counts: Pick<TrafficCounts, 'messageDeliveries' | 'unreadable'>,
  faultAt: number,
  via: string | undefined,
): TrafficOutcome {
  const all = [...records];
  const sent = all.filter((r) => r.refused === undefined);
  const delivered = sent.filter((r) => r.deliveredAt !== undefined).length;
  const refusals: Record<string, number> = {};
  for (const r of all) {
    if (r.refused === undefined) continue;
    // One line per reason, without the variable parts (ids, addresses).
    const reason = r.refused.replace(/[0-9a-f]{12,}/g, '…').replace(/\d+(\.\d+)*:\d+/g, '…');
    refusals[reason] = (refusals[reason] ?? 0) + 1;
  }
  const recovered = sent
    .filter(
      (r) =>
        r.firstSendAt >= faultAt &&
        r.ackedAt !== undefined &&
        r.ackedAfterAttempts === 1 &&
        (via === undefined || r.attempts[0]?.route.includes(via)),
    )
    .sort((a, b) => a.firstSendAt - b.firstSendAt)[0];
  return {
    sent: sent.length,
    refused: all.length - sent.length,
    acknowledged: sent.filter((r) => r.ackedAt !== undefined).length,
    delivered,
    duplicated: Math.max(0, counts.messageDeliveries - counts.unreadable - delivered),
    unreadable: counts.unreadable,
    lost: sent.filter((r) => r.ackedAt !== undefined && r.deliveredAt === undefined).length,
    gaveUp: sent.filter((r) => r.expiredAt !== undefined).length,
    undelivered: sent.length - delivered,
    attempts: sent.reduce((sum, r) => sum + r.attempts.length + r.failedAttempts, 0),
    failedRetransmissions: sent.reduce((sum, r) => sum + r.failedAttempts, 0),
    ackBeforeP50Ms: median(
      sent.filter((r) => r.firstSendAt < faultAt && r.ackedAt !== undefined).map((r) => r.ackedAt! - r.firstSendAt),
    ),
    recoveryMs: recovered?.ackedAt !== undefined ? recovered.ackedAt - faultAt : null,
    recoveredSendMs: recovered ? recovered.firstSendAt - faultAt : null,
    refusals,
  };
}
