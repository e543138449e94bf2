import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trafficOutcome } from './outcome.ts';
import type { MessageRecord } from './traffic.ts';

const FAULT_AT = 10_000;
const via = (node: string) => ({ route: ['mix-1-a', node, 'mix-3-c'] });

function record(id: string, fields: Partial<MessageRecord>): MessageRecord {
  return { id, firstSendAt: 0, attempts: [], failedAttempts: 0, ...fields };
}

describe('trafficOutcome', () => {
  const records = [
    // Before the fault: a 1.2 s and a 1.6 s round trip.
    record('a', {
      attempts: [{ at: 1_000, ...via('mix-2-b') }],
      firstSendAt: 1_000,
      ackedAt: 2_200,
      ackedAfterAttempts: 1,
      deliveredAt: 1_800,
    }),
    record('b', {
      attempts: [{ at: 2_000, ...via('mix-2-b') }],
      firstSendAt: 2_000,
      ackedAt: 3_600,
      ackedAfterAttempts: 1,
      deliveredAt: 3_000,
    }),
    // During: retransmitted twice (one refused), delivered twice.
    record('c', {
      firstSendAt: 11_000,
      attempts: [
        { at: 11_000, ...via('mix-2-b') },
        { at: 19_000, ...via('mix-2-b') },
      ],
      failedAttempts: 1,
      ackedAt: 20_000,
      ackedAfterAttempts: 3,
      deliveredAt: 19_500,
    }),
    // Through the other node on its first attempt: not the faulted node's recovery.
    record('d', {
      firstSendAt: 12_000,
      attempts: [{ at: 12_000, ...via('mix-2-x') }],
      ackedAt: 13_000,
      ackedAfterAttempts: 1,
      deliveredAt: 12_500,
    }),
    // The faulted node again, first attempt: recovered.
    record('e', {
      firstSendAt: 14_000,
      attempts: [{ at: 14_000, ...via('mix-2-b') }],
      ackedAt: 15_500,
      ackedAfterAttempts: 1,
      deliveredAt: 15_000,
    }),
    // Given up, never delivered.
    record('f', { firstSendAt: 11_500, attempts: [{ at: 11_500, ...via('mix-2-b') }], expiredAt: 40_000 }),
    // Acknowledged, never delivered: what must not happen.
    record('g', {
      firstSendAt: 16_000,
      attempts: [{ at: 16_000, ...via('mix-2-x') }],
      ackedAt: 17_000,
      ackedAfterAttempts: 1,
    }),
    record('refused-1', {
      firstSendAt: 10_500,
      failedAttempts: 1,
      refused: 'POST http://127.0.0.1:40123/v1/packets failed',
    }),
  ];

  it('counts every outcome, duplicates from the deliveries beyond the distinct ones', () => {
    const outcome = trafficOutcome(records, { messageDeliveries: 7, unreadable: 1 }, FAULT_AT, 'mix-2-b');
    assert.equal(outcome.sent, 7);
    assert.equal(outcome.refused, 1);
    assert.equal(outcome.acknowledged, 6);
    assert.equal(outcome.delivered, 5);
    assert.equal(outcome.duplicated, 1);
    assert.equal(outcome.unreadable, 1);
    assert.equal(outcome.lost, 1);
    assert.equal(outcome.gaveUp, 1);
    assert.equal(outcome.undelivered, 2);
    assert.equal(outcome.attempts, 9);
    assert.equal(outcome.failedRetransmissions, 1);
    assert.deepEqual(outcome.refusals, { 'POST http://…/v1/packets failed': 1 });
  });

  it('times recovery to the first first-attempt acknowledgement through the faulted node', () => {
    const outcome = trafficOutcome(records, { messageDeliveries: 7, unreadable: 1 }, FAULT_AT, 'mix-2-b');
    assert.equal(outcome.recoveryMs, 5_500);
    assert.equal(outcome.recoveredSendMs, 4_000);
    assert.equal(outcome.ackBeforeP50Ms, 1_200);
  });

  it('counts any route when the faulted service is on every route or none', () => {
    assert.equal(
      trafficOutcome(records, { messageDeliveries: 7, unreadable: 1 }, FAULT_AT, undefined).recoveryMs,
      3_000,
    );
  });

  it('says never when nothing came back through the faulted node', () => {
    assert.equal(
      trafficOutcome(records.slice(0, 4), { messageDeliveries: 4, unreadable: 0 }, FAULT_AT, 'mix-2-b').recoveryMs,
      null,
    );
  });
});
