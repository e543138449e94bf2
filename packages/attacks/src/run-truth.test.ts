import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Roles, WireEvent } from '@mixlab/anonymity';
import { parseStrategyConfig } from '@mixlab/mixing';
import { overCandidates, sendersOf } from './recorded-trace.ts';
import { coverLabels, joinTruth } from './run-truth.ts';

const strategy = parseStrategyConfig('threshold:n=1');
const roles: Roles = {
  clients: ['client-1', 'client-2', 'client-3', 'client-4'],
  gateways: ['gw'],
  nodes: [{ name: 'mix-1', layer: 1, strategy }],
};
const event = (atMs: number, from: string, to: string): WireEvent => ({ atMs, from, to, bytes: 2622, packets: 1 });

describe('joinTruth', () => {
  // Simulated client 0 submits on client-3 and is pushed to on client-2; client 1 on client-1 and client-4.
  const truth = {
    clients: 2,
    messages: [
      { from: 0, to: 1, sentAtMs: 1000, receivedAtMs: 1500 },
      { from: 1, to: 0, sentAtMs: 2000, receivedAtMs: 2600 },
      { from: 0, to: 1, sentAtMs: 3000, receivedAtMs: 3400 },
      { from: 1, to: 0, sentAtMs: 3100, receivedAtMs: null },
    ],
  };
  const events = [
    event(1020, 'client-3', 'gw'),
    event(1495, 'gw', 'client-4'),
    event(2030, 'client-1', 'gw'),
    event(2598, 'gw', 'client-2'),
    event(3010, 'client-3', 'gw'),
    event(3120, 'client-1', 'gw'),
    event(3390, 'gw', 'client-4'),
  ];

  it('names each simulated client by the connections its own times line up with, and numbers receipts per recipient', () => {
    const join = joinTruth(truth, events, roles);
    assert.deepEqual(join.senderSlots, ['client-3', 'client-1']);
    assert.deepEqual(join.recipientSlots, ['client-2', 'client-4']);
    assert.deepEqual(join.records, [
      { sender: 'client-3', recipient: 'client-4', order: 1 },
      { sender: 'client-1', recipient: 'client-2', order: 1 },
      { sender: 'client-3', recipient: 'client-4', order: 2 },
    ]);
    assert.equal(join.unjoined, 0);
  });

  it('numbers receipts within one millisecond in the order they came, not in send order', () => {
    // A batch pushes two messages to client-4 in the same millisecond, the later-sent one first.
    const batch = {
      clients: 3,
      messages: [
        { from: 0, to: 1, sentAtMs: 1000, receivedAtMs: 3000, receivedOrder: 2 },
        { from: 2, to: 1, sentAtMs: 1500, receivedAtMs: 3000, receivedOrder: 1 },
      ],
    };
    const wire = [
      event(1010, 'client-3', 'gw'),
      event(1510, 'client-1', 'gw'),
      event(2999, 'gw', 'client-4'),
      event(2999, 'gw', 'client-4'),
    ];
    assert.deepEqual(joinTruth(batch, wire, roles).records, [
      { sender: 'client-1', recipient: 'client-4', order: 1 },
      { sender: 'client-3', recipient: 'client-4', order: 2 },
    ]);
  });

  it("counts drop cover among a client's sends, and labels each submission cover or real", () => {
    const withCover = {
      ...truth,
      cover: [
        { from: 0, sentAtMs: 1200 },
        { from: 0, sentAtMs: 1300 },
        { from: 0, sentAtMs: 2500 },
      ],
    };
    const wire = [
      ...events,
      event(1203, 'client-3', 'gw'),
      event(1310, 'client-3', 'gw'),
      event(2502, 'client-3', 'gw'),
    ];
    const join = joinTruth(withCover, wire, roles);
    // Twice as many submissions as messages on client-3: without the cover it would not be named.
    assert.deepEqual(join.senderSlots, ['client-3', 'client-1']);
    assert.equal(joinTruth(truth, wire, roles).senderSlots[0], undefined);
    const labels = coverLabels(withCover, wire, roles, join);
    // traceEnds order: client-3 at 1020, 1203, 1310; client-1 at 2030; client-3 at 2502, 3010; client-1 at 3120.
    assert.deepEqual(labels, [false, true, true, false, true, false, false]);
  });

  it('leaves a client unnamed when nothing on the wire lines up with it', () => {
    const join = joinTruth(
      truth,
      events.filter((e) => e.from !== 'client-1'),
      roles,
    );
    assert.equal(join.senderSlots[1], undefined);
    assert.equal(join.unjoined, 1);
  });
});

describe('sendersOf and overCandidates', () => {
  it('keeps the connections that submitted and re-indexes estimates over them', () => {
    const events = [event(1, 'client-3', 'gw'), event(2, 'client-1', 'gw'), event(3, 'gw', 'client-2')];
    const senders = sendersOf(events, roles);
    assert.deepEqual(senders, ['client-1', 'client-3']);
    const [estimate] = overCandidates(
      [
        {
          recipient: 'client-2',
          order: 1,
          senders: { probabilities: Float64Array.of(0.25, 0, 0.75, 0), unattributed: 0 },
        },
      ],
      roles.clients,
      senders,
    );
    assert.deepEqual([...(estimate?.senders.probabilities ?? [])], [0.25, 0.75]);
    assert.throws(() => overCandidates([], roles.clients, ['nobody']), /nobody/);
  });
});
