import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { Mailboxes, type MailboxLimits, type StoredMessage } from './mailboxes.ts';

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

let root: string;
let files = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mixlab-mailboxes-'));
});
after(() => rm(root, { recursive: true, force: true }));

/** Mailboxes in a new file of their own (or `path`'s, to reopen it as a restarted gateway would). */
function open(limits: Partial<MailboxLimits> & { path?: string } = {}): Mailboxes {
  const { path = join(root, `mailboxes-${++files}.sqlite`), ...rest } = limits;
  return Mailboxes.open(path, {
    maxPerMailbox: 10,
    maxMailboxes: 10,
    maxBytes: 1 << 20,
    maxBytesPerMailbox: 1 << 20,
    ...rest,
  }).mailboxes;
}

describe('Mailboxes', () => {
  it('stores a message with a fresh 32-hex-digit id, a copy of the payload and the time of arrival', () => {
    let now = 1_000;
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10, now: () => now });
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
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const body = bytes(0, 1, 2, 3, 4, 5);
    const message = stored(boxes.store(ALICE, body.subarray(2, 4)));
    assert.deepEqual(message.payload, bytes(2, 3));
    assert.equal(message.payload.buffer.byteLength, 2);
  });

  it('lists pending messages per address in arrival order; unknown addresses have none', () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    const b1 = stored(boxes.store(BOB, bytes(2)));
    const a2 = stored(boxes.store(ALICE, bytes(3)));
    assert.deepEqual(boxes.pending(ALICE), [a1, a2]);
    assert.deepEqual(boxes.pending(BOB), [b1]);
    assert.deepEqual(boxes.pending(CAROL), []);
    assert.equal(boxes.size, 3);
  });

  it('acknowledge removes the named messages, returns how many it removed and ignores unknown ids', () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
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
    const boxes = open({ maxPerMailbox: 2, maxMailboxes: 10 });
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
    const boxes = open({ maxPerMailbox: 5, maxMailboxes: 2 });
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

  it("refuses a message past its mailbox's byte limit, tells onRefused, and takes it again once acknowledged", () => {
    const refusals: string[] = [];
    const boxes = open({ maxBytesPerMailbox: 100, onRefused: (refusal) => refusals.push(refusal) });
    const first = stored(boxes.store(ALICE, new Uint8Array(60)));
    assert.deepEqual(boxes.store(ALICE, new Uint8Array(41)), { refused: 'mailbox_bytes_full' });
    stored(boxes.store(ALICE, new Uint8Array(40)));
    stored(boxes.store(BOB, new Uint8Array(100))); // another mailbox has bytes of its own
    assert.deepEqual(refusals, ['mailbox_bytes_full']);
    boxes.acknowledge(ALICE, [first.id]);
    stored(boxes.store(ALICE, new Uint8Array(60)));
  });

  it('calls subscribers of an address for each new message, until they unsubscribe', () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
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
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const seen: StoredMessage[] = [];
    const unsubscribeFirst = boxes.subscribe(ALICE, () => {});
    unsubscribeFirst();
    boxes.subscribe(ALICE, (message) => seen.push(message));
    unsubscribeFirst();
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    assert.deepEqual(seen, [a1]);
  });

  it('does not notify subscribers of a refused message', () => {
    const boxes = open({ maxPerMailbox: 1, maxMailboxes: 1 });
    const seen: StoredMessage[] = [];
    boxes.subscribe(ALICE, (message) => seen.push(message));
    boxes.subscribe(BOB, (message) => seen.push(message));
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    assert.deepEqual(boxes.store(ALICE, bytes(2)), { refused: 'mailbox_full' });
    assert.deepEqual(boxes.store(BOB, bytes(3)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(seen, [a1]);
  });

  it('counts messages across all mailboxes in size', () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    assert.equal(boxes.size, 0);
    const ids = [ALICE, BOB, ALICE, CAROL].map((address) => stored(boxes.store(address, bytes(1))).id);
    assert.equal(boxes.size, 4);
    boxes.acknowledge(ALICE, ids);
    assert.equal(boxes.size, 2);
    boxes.acknowledge(BOB, ids);
    boxes.acknowledge(CAROL, ids);
    assert.equal(boxes.size, 0);
  });

  it('refuses a message that would take the payload bytes held beyond maxBytes, in any mailbox', () => {
    const boxes = open({ maxBytes: 5 });
    const a1 = stored(boxes.store(ALICE, bytes(1, 2, 3)));
    assert.deepEqual(boxes.store(BOB, bytes(4, 5, 6)), { refused: 'storage_full' });
    stored(boxes.store(BOB, bytes(4, 5)));
    assert.equal(boxes.bytes, 5);
    boxes.acknowledge(ALICE, [a1.id]);
    assert.equal(boxes.bytes, 2);
    stored(boxes.store(CAROL, bytes(7, 8, 9)));
  });
});

describe('Mailboxes across a restart (the same file reopened)', () => {
  it('keeps every unacknowledged message, with its id, payload, time and order; acknowledged ones stay gone', () => {
    const path = join(root, 'restart.sqlite');
    let now = 5_000;
    const before = open({ path, now: () => now });
    const [a1, b1, a2] = [ALICE, BOB, ALICE].map((address, i) => {
      now += 10;
      return stored(before.store(address, bytes(i, i + 1)));
    });
    before.acknowledge(BOB, [b1!.id]);
    before.close();

    const after = open({ path });
    assert.deepEqual(after.pending(ALICE), [a1, a2]);
    assert.deepEqual(after.pending(BOB), []);
    assert.equal(after.size, 2);
    assert.equal(after.bytes, 4);
    assert.deepEqual(after.acknowledge(ALICE, [a2!.id]), [a2!.id]);
    after.close();
    assert.deepEqual(open({ path }).pending(ALICE), [a1]);
  });

  it('applies the bounds to what it held before the restart', () => {
    const path = join(root, 'bounds.sqlite');
    const before = open({ path, maxPerMailbox: 2, maxMailboxes: 2 });
    stored(before.store(ALICE, bytes(1)));
    stored(before.store(ALICE, bytes(2)));
    stored(before.store(BOB, bytes(3)));
    before.close();
    const after = open({ path, maxPerMailbox: 2, maxMailboxes: 2, maxBytes: 4 });
    assert.deepEqual(after.store(ALICE, bytes(4)), { refused: 'mailbox_full' });
    assert.deepEqual(after.store(CAROL, bytes(5)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(after.store(BOB, bytes(6, 7)), { refused: 'storage_full' });
    stored(after.store(BOB, bytes(6)));
  });

  it('stores a batch in one commit: when it fails, nothing of it is kept, counted or pushed', () => {
    const path = join(root, 'failing.sqlite');
    const boxes = open({ path });
    const a1 = stored(boxes.store(ALICE, bytes(1)));
    // A disk that fails on the batch's third message, emulated by a trigger in the file.
    const other = new DatabaseSync(path);
    other.exec(
      "CREATE TRIGGER fail BEFORE INSERT ON messages WHEN length(NEW.payload) = 3 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    other.close();
    const seen: StoredMessage[] = [];
    boxes.subscribe(BOB, (message) => seen.push(message));
    assert.throws(
      () =>
        boxes.storeAll([
          { address: BOB, payload: bytes(1) },
          { address: CAROL, payload: bytes(1, 2) },
          { address: BOB, payload: bytes(1, 2, 3) },
        ]),
      /disk I\/O error/,
    );
    assert.deepEqual([boxes.size, boxes.bytes, seen.length], [1, 1, 0]);
    assert.deepEqual(boxes.pending(BOB), []);
    assert.deepEqual(boxes.pending(CAROL), []);
    boxes.close();
    const reopened = open({ path, maxMailboxes: 2 });
    assert.deepEqual(reopened.pending(ALICE), [a1]);
    assert.equal(reopened.size, 1);
    stored(reopened.store(BOB, bytes(9)));
  });
});
