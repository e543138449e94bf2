import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Mailboxes, type StoredMessage } from './mailboxes.ts';

const ALICE = 'a'.repeat(64);
const BOB = 'b'.repeat(64);
const CAROL = 'c'.repeat(64);

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function stored(result: ReturnType<Mailboxes['store']>): StoredMessage {
  assert.ok('stored' in result, `expected a stored message, got ${JSON.stringify(result)}`);
  return result.stored;
}

describe('Mailboxes', () => {
  it('stores a message with a fresh 32-hex-digit id, a copy of the payload and the time of arrival', () => {
    let now = 1_000;
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10, now: () => now });
    const payload = bytes(1, 2, 3);
    const first = stored(boxes.store(ALICE, payload));
    payload[0] = 99;
    now = 2_500;
    const second = stored(boxes.store(ALICE, bytes(4)));
    assert.match(first.id, /^[0-9a-f]{32}$/);
    assert.match(second.id, /^[0-9a-f]{32}$/);
    assert.notEqual(first.id, second.id);
    assert.deepEqual(first.payload, bytes(1, 2, 3), 'the stored payload is a copy');
    assert.equal(first.receivedAt, 1_000);
    assert.equal(second.receivedAt, 2_500);
  });

  it('copies a payload that is a view into a larger buffer, and only the view', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10 });
    const body = bytes(0, 1, 2, 3, 4, 5);
    const message = stored(boxes.store(ALICE, body.subarray(2, 4)));
    assert.deepEqual(message.payload, bytes(2, 3));
    assert.equal(message.payload.buffer.byteLength, 2);
  });

  it('lists pending messages per address in arrival order; unknown addresses have none', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10 });
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    const b1 = stored(boxes.store(BOB, bytes(2)));
    const a2 = stored(boxes.store(ALICE, bytes(3)));
    assert.deepEqual(boxes.pending(ALICE), [a1, a2]);
    assert.deepEqual(boxes.pending(BOB), [b1]);
    assert.deepEqual(boxes.pending(CAROL), []);
    assert.equal(boxes.size, 3);
  });

  it('acknowledge removes the named messages, returns how many it removed and ignores unknown ids', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10 });
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    const a2 = stored(boxes.store(ALICE, bytes(2)));
    const a3 = stored(boxes.store(ALICE, bytes(3)));
    const b1 = stored(boxes.store(BOB, bytes(4)));
    assert.equal(boxes.acknowledge(ALICE, [a1.id, a3.id, 'f'.repeat(32), a1.id]).length, 2);
    assert.deepEqual(boxes.pending(ALICE), [a2]);
    assert.equal(boxes.size, 2);
    assert.equal(boxes.acknowledge(ALICE, [b1.id]).length, 0, "one recipient cannot acknowledge another's messages");
    assert.deepEqual(boxes.pending(BOB), [b1]);
    assert.equal(boxes.acknowledge(CAROL, [b1.id]).length, 0);
    assert.equal(boxes.acknowledge(ALICE, []).length, 0);
    assert.equal(boxes.size, 2);
  });

  it('refuses a message for a full mailbox without touching the others', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 2, maxMailboxes: 10 });
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    stored(boxes.store(ALICE, bytes(2)));
    assert.deepEqual(boxes.store(ALICE, bytes(3)), { refused: 'mailbox_full' });
    assert.equal(boxes.pending(ALICE).length, 2);
    assert.equal(boxes.size, 2);
    stored(boxes.store(BOB, bytes(4)));
    // Room again once one is acknowledged.
    boxes.acknowledge(ALICE, [a1.id]);
    stored(boxes.store(ALICE, bytes(5)));
    assert.deepEqual(
      boxes.pending(ALICE).map((message) => [...message.payload]),
      [[2], [5]],
    );
  });

  it('refuses a new mailbox beyond maxMailboxes, but still stores into existing ones', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 5, maxMailboxes: 2 });
    stored(boxes.store(ALICE, bytes(1)));
    const b1 = stored(boxes.store(BOB, bytes(2)));
    assert.deepEqual(boxes.store(CAROL, bytes(3)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(boxes.pending(CAROL), []);
    stored(boxes.store(ALICE, bytes(4)));
    assert.equal(boxes.size, 3);
    // An emptied mailbox is removed, which frees a slot.
    assert.equal(boxes.acknowledge(BOB, [b1.id]).length, 1);
    stored(boxes.store(CAROL, bytes(5)));
    assert.deepEqual(boxes.store(BOB, bytes(6)), { refused: 'too_many_mailboxes' });
  });

  it('calls subscribers of an address for each new message, until they unsubscribe', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10 });
    const seenA: StoredMessage[] = [];
    const seenA2: StoredMessage[] = [];
    const seenB: StoredMessage[] = [];
    const before = stored(boxes.store(ALICE, bytes(0)));
    const unsubscribeA = boxes.subscribe(ALICE, (message) => seenA.push(message));
    const unsubscribeA2 = boxes.subscribe(ALICE, (message) => seenA2.push(message));
    boxes.subscribe(BOB, (message) => seenB.push(message));
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    const b1 = stored(boxes.store(BOB, bytes(2)));
    unsubscribeA();
    const a2 = stored(boxes.store(ALICE, bytes(3)));
    assert.deepEqual(seenA, [a1], 'no replay of earlier messages; nothing after unsubscribing');
    assert.deepEqual(seenA2, [a1, a2]);
    assert.deepEqual(seenB, [b1]);
    unsubscribeA2();
    unsubscribeA2(); // idempotent
    stored(boxes.store(ALICE, bytes(4)));
    assert.deepEqual(seenA2, [a1, a2]);
    assert.notEqual(before.id, a1.id);
  });

  it('a stale unsubscribe called again leaves later subscribers of the address subscribed', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10 });
    const seen: StoredMessage[] = [];
    const unsubscribeFirst = boxes.subscribe(ALICE, () => {});
    unsubscribeFirst();
    boxes.subscribe(ALICE, (message) => seen.push(message));
    unsubscribeFirst();
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    assert.deepEqual(seen, [a1]);
  });

  it('does not notify subscribers of a refused message', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 1, maxMailboxes: 1 });
    const seen: StoredMessage[] = [];
    boxes.subscribe(ALICE, (message) => seen.push(message));
    boxes.subscribe(BOB, (message) => seen.push(message));
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    assert.deepEqual(boxes.store(ALICE, bytes(2)), { refused: 'mailbox_full' });
    assert.deepEqual(boxes.store(BOB, bytes(3)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(seen, [a1]);
  });

  it('counts messages across all mailboxes in size', () => {
    const boxes = new Mailboxes({ maxPerMailbox: 10, maxMailboxes: 10 });
    assert.equal(boxes.size, 0);
    const ids = [ALICE, BOB, ALICE, CAROL].map((address) => stored(boxes.store(address, bytes(1))).id);
    assert.equal(boxes.size, 4);
    boxes.acknowledge(ALICE, ids);
    assert.equal(boxes.size, 2);
    boxes.acknowledge(BOB, ids);
    boxes.acknowledge(CAROL, ids);
    assert.equal(boxes.size, 0);
  });
});
