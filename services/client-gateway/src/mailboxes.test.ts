import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import {
  type MailboxCommit,
  Mailboxes,
  type MailboxLimits,
  type StoredMessage,
  type StoreResult,
} from './mailboxes.ts';

const ALICE = 'a'.repeat(64);
const BOB = 'b'.repeat(64);
const CAROL = 'c'.repeat(64);

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function stored(result: StoreResult): StoredMessage {
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
  it('stores a message with a fresh 32-hex-digit id, a copy of the payload and the time of arrival', async () => {
    let now = 1_000;
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10, now: () => now });
    const payload = bytes(1, 2, 3);
    const first = stored(await boxes.store(ALICE, payload));
    payload[0] = 99;
    now = 2_500;
    const second = stored(await boxes.store(ALICE, bytes(4)));
    assert.match(first.id, /^[0-9a-f]{32}$/);
    assert.match(second.id, /^[0-9a-f]{32}$/);
    assert.notEqual(first.id, second.id);
    assert.deepEqual(first.payload, bytes(1, 2, 3), 'the stored payload is a copy');
    assert.equal(first.receivedAt, 1_000);
    assert.equal(second.receivedAt, 2_500);
  });

  it('gives every message its own id, past the ids drawn at once', async () => {
    const boxes = open({ maxPerMailbox: 600 });
    const results = await boxes.storeAll(Array.from({ length: 600 }, () => ({ address: ALICE, payload: bytes(1) })));
    const ids = results.map((result) => stored(result).id);
    assert.equal(new Set(ids).size, 600);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    boxes.close();
  });

  it('copies a payload that is a view into a larger buffer, and only the view', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const body = bytes(0, 1, 2, 3, 4, 5);
    const message = stored(await boxes.store(ALICE, body.subarray(2, 4)));
    assert.deepEqual(message.payload, bytes(2, 3));
    assert.equal(message.payload.buffer.byteLength, 2);
  });

  it('lists pending messages per address in arrival order; unknown addresses have none', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    const b1 = stored(await boxes.store(BOB, bytes(2)));
    const a2 = stored(await boxes.store(ALICE, bytes(3)));
    assert.deepEqual(boxes.pending(ALICE), [a1, a2]);
    assert.deepEqual(boxes.pending(BOB), [b1]);
    assert.deepEqual(boxes.pending(CAROL), []);
    assert.equal(boxes.size, 3);
  });

  it('acknowledge removes the named messages, returns how many it removed and ignores unknown ids', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    const a2 = stored(await boxes.store(ALICE, bytes(2)));
    const a3 = stored(await boxes.store(ALICE, bytes(3)));
    const b1 = stored(await boxes.store(BOB, bytes(4)));
    assert.equal((await boxes.acknowledge(ALICE, [a1.id, a3.id, 'f'.repeat(32), a1.id])).length, 2);
    assert.deepEqual(boxes.pending(ALICE), [a2]);
    assert.equal(boxes.size, 2);
    assert.equal(
      (await boxes.acknowledge(ALICE, [b1.id])).length,
      0,
      "one recipient cannot acknowledge another's messages",
    );
    assert.deepEqual(boxes.pending(BOB), [b1]);
    assert.equal((await boxes.acknowledge(CAROL, [b1.id])).length, 0);
    assert.equal((await boxes.acknowledge(ALICE, [])).length, 0);
    assert.equal(boxes.size, 2);
  });

  it('refuses a message for a full mailbox without touching the others', async () => {
    const boxes = open({ maxPerMailbox: 2, maxMailboxes: 10 });
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    stored(await boxes.store(ALICE, bytes(2)));
    assert.deepEqual(await boxes.store(ALICE, bytes(3)), { refused: 'mailbox_full' });
    assert.equal(boxes.pending(ALICE).length, 2);
    assert.equal(boxes.size, 2);
    stored(await boxes.store(BOB, bytes(4)));
    // Room again once one is acknowledged.
    await boxes.acknowledge(ALICE, [a1.id]);
    stored(await boxes.store(ALICE, bytes(5)));
    assert.deepEqual(
      boxes.pending(ALICE).map((message) => [...message.payload]),
      [[2], [5]],
    );
  });

  it('refuses a new mailbox beyond maxMailboxes, but still stores into existing ones', async () => {
    const boxes = open({ maxPerMailbox: 5, maxMailboxes: 2 });
    stored(await boxes.store(ALICE, bytes(1)));
    const b1 = stored(await boxes.store(BOB, bytes(2)));
    assert.deepEqual(await boxes.store(CAROL, bytes(3)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(boxes.pending(CAROL), []);
    stored(await boxes.store(ALICE, bytes(4)));
    assert.equal(boxes.size, 3);
    // An emptied mailbox is removed, which frees a slot.
    assert.equal((await boxes.acknowledge(BOB, [b1.id])).length, 1);
    stored(await boxes.store(CAROL, bytes(5)));
    assert.deepEqual(await boxes.store(BOB, bytes(6)), { refused: 'too_many_mailboxes' });
  });

  it("refuses a message past its mailbox's byte limit, tells onRefused, and takes it again once acknowledged", async () => {
    const refusals: string[] = [];
    const boxes = open({ maxBytesPerMailbox: 100, onRefused: (refusal) => refusals.push(refusal) });
    const first = stored(await boxes.store(ALICE, new Uint8Array(60)));
    assert.deepEqual(await boxes.store(ALICE, new Uint8Array(41)), { refused: 'mailbox_bytes_full' });
    stored(await boxes.store(ALICE, new Uint8Array(40)));
    stored(await boxes.store(BOB, new Uint8Array(100))); // another mailbox has bytes of its own
    assert.deepEqual(refusals, ['mailbox_bytes_full']);
    await boxes.acknowledge(ALICE, [first.id]);
    stored(await boxes.store(ALICE, new Uint8Array(60)));
  });

  it('calls subscribers of an address for each new message, until they unsubscribe', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const seenA: StoredMessage[] = [];
    const seenA2: StoredMessage[] = [];
    const seenB: StoredMessage[] = [];
    const before = stored(await boxes.store(ALICE, bytes(0)));
    const unsubscribeA = boxes.subscribe(ALICE, (message) => seenA.push(message));
    const unsubscribeA2 = boxes.subscribe(ALICE, (message) => seenA2.push(message));
    boxes.subscribe(BOB, (message) => seenB.push(message));
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    const b1 = stored(await boxes.store(BOB, bytes(2)));
    unsubscribeA();
    const a2 = stored(await boxes.store(ALICE, bytes(3)));
    assert.deepEqual(seenA, [a1], 'no replay of earlier messages; nothing after unsubscribing');
    assert.deepEqual(seenA2, [a1, a2]);
    assert.deepEqual(seenB, [b1]);
    unsubscribeA2();
    unsubscribeA2(); // idempotent
    stored(await boxes.store(ALICE, bytes(4)));
    assert.deepEqual(seenA2, [a1, a2]);
    assert.notEqual(before.id, a1.id);
  });

  it('a subscriber that throws neither fails the store nor keeps the others from hearing of it', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const seen: StoredMessage[] = [];
    boxes.subscribe(ALICE, () => {
      throw new Error('a broken subscriber');
    });
    boxes.subscribe(ALICE, (message) => seen.push(message));
    const message = stored(await boxes.store(ALICE, bytes(1)));
    assert.deepEqual(seen, [message]);
    assert.deepEqual(
      boxes.pending(ALICE).map(({ id }) => id),
      [message.id],
      'still stored, for the next connection',
    );
  });

  it('a stale unsubscribe called again leaves later subscribers of the address subscribed', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    const seen: StoredMessage[] = [];
    const unsubscribeFirst = boxes.subscribe(ALICE, () => {});
    unsubscribeFirst();
    boxes.subscribe(ALICE, (message) => seen.push(message));
    unsubscribeFirst();
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    assert.deepEqual(seen, [a1]);
  });

  it('does not notify subscribers of a refused message', async () => {
    const boxes = open({ maxPerMailbox: 1, maxMailboxes: 1 });
    const seen: StoredMessage[] = [];
    boxes.subscribe(ALICE, (message) => seen.push(message));
    boxes.subscribe(BOB, (message) => seen.push(message));
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    assert.deepEqual(await boxes.store(ALICE, bytes(2)), { refused: 'mailbox_full' });
    assert.deepEqual(await boxes.store(BOB, bytes(3)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(seen, [a1]);
  });

  it('counts messages across all mailboxes in size', async () => {
    const boxes = open({ maxPerMailbox: 10, maxMailboxes: 10 });
    assert.equal(boxes.size, 0);
    const ids: string[] = [];
    for (const address of [ALICE, BOB, ALICE, CAROL]) ids.push(stored(await boxes.store(address, bytes(1))).id);
    assert.equal(boxes.size, 4);
    await boxes.acknowledge(ALICE, ids);
    assert.equal(boxes.size, 2);
    await boxes.acknowledge(BOB, ids);
    await boxes.acknowledge(CAROL, ids);
    assert.equal(boxes.size, 0);
  });

  it('refuses a message that would take the payload bytes held beyond maxBytes, in any mailbox', async () => {
    const boxes = open({ maxBytes: 5 });
    const a1 = stored(await boxes.store(ALICE, bytes(1, 2, 3)));
    assert.deepEqual(await boxes.store(BOB, bytes(4, 5, 6)), { refused: 'storage_full' });
    stored(await boxes.store(BOB, bytes(4, 5)));
    assert.equal(boxes.bytes, 5);
    await boxes.acknowledge(ALICE, [a1.id]);
    assert.equal(boxes.bytes, 2);
    stored(await boxes.store(CAROL, bytes(7, 8, 9)));
  });
});

describe('Mailboxes across a restart (the same file reopened)', () => {
  it('keeps every unacknowledged message, with its id, payload, time and order; acknowledged ones stay gone', async () => {
    const path = join(root, 'restart.sqlite');
    let now = 5_000;
    const before = open({ path, now: () => now });
    const held: StoredMessage[] = [];
    for (const [i, address] of [ALICE, BOB, ALICE].entries()) {
      now += 10;
      held.push(stored(await before.store(address, bytes(i, i + 1))));
    }
    const [a1, b1, a2] = held;
    await before.acknowledge(BOB, [b1!.id]);
    before.close();

    const after = open({ path });
    assert.deepEqual(after.pending(ALICE), [a1, a2]);
    assert.deepEqual(after.pending(BOB), []);
    assert.equal(after.size, 2);
    assert.equal(after.bytes, 4);
    assert.deepEqual(await after.acknowledge(ALICE, [a2!.id]), [a2!.id]);
    after.close();
    assert.deepEqual(open({ path }).pending(ALICE), [a1]);
  });

  it('applies the bounds to what it held before the restart', async () => {
    const path = join(root, 'bounds.sqlite');
    const before = open({ path, maxPerMailbox: 2, maxMailboxes: 2 });
    stored(await before.store(ALICE, bytes(1)));
    stored(await before.store(ALICE, bytes(2)));
    stored(await before.store(BOB, bytes(3)));
    before.close();
    const after = open({ path, maxPerMailbox: 2, maxMailboxes: 2, maxBytes: 4 });
    assert.deepEqual(await after.store(ALICE, bytes(4)), { refused: 'mailbox_full' });
    assert.deepEqual(await after.store(CAROL, bytes(5)), { refused: 'too_many_mailboxes' });
    assert.deepEqual(await after.store(BOB, bytes(6, 7)), { refused: 'storage_full' });
    stored(await after.store(BOB, bytes(6)));
  });

  it('stores a batch in one commit: when it fails, nothing of it is kept, counted or pushed', async () => {
    const path = join(root, 'failing.sqlite');
    const boxes = open({ path });
    const a1 = stored(await boxes.store(ALICE, bytes(1)));
    // A disk that fails on the batch's third message, emulated by a trigger in the file.
    const other = new DatabaseSync(path);
    other.exec(
      "CREATE TRIGGER fail BEFORE INSERT ON messages WHEN length(NEW.payload) = 3 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    other.close();
    const seen: StoredMessage[] = [];
    boxes.subscribe(BOB, (message) => seen.push(message));
    await assert.rejects(
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
    stored(await reopened.store(BOB, bytes(9)));
  });
});

describe('Mailboxes group commit (one commit per event-loop turn)', () => {
  /** Mailboxes whose commits run only when the test says: what is asked for before `commit()` shares one. */
  /** With `holdSyncs`, each WAL sync lasts until the test ends it with `synced()`; else the disk's. */
  function manual(limits: Partial<MailboxLimits> = {}, { holdSyncs = false } = {}) {
    const scheduled: (() => void)[] = [];
    const commits: MailboxCommit[] = [];
    /** WAL syncs under way, each ended (with an error, to fail it) when the test says. */
    const syncs: ((error?: Error) => void)[] = [];
    const path = join(root, `group-${++files}.sqlite`);
    const boxes = open({
      path,
      ...limits,
      schedule: (commit) => scheduled.push(commit),
      onCommit: (c) => commits.push(c),
      ...(holdSyncs && {
        datasync: async (_fd, kind) => {
          if (kind === 'file')
            await new Promise<void>((resolve, reject) => syncs.push((error) => (error ? reject(error) : resolve())));
        },
      }),
    });
    const commit = () => {
      for (const run of scheduled.splice(0)) run();
    };
    /** Ends the oldest sync under way, and lets its callers go on. */
    const synced = async (error?: Error) => {
      for (let turn = 0; turn < 5 && syncs.length === 0; turn++) await new Promise(setImmediate);
      const end = syncs.shift();
      assert.ok(end, 'a WAL sync is under way');
      end(error);
      await new Promise(setImmediate);
    };
    return { boxes, commits, scheduled, commit, syncs, synced, path };
  }

  /** Settles `promise` into a box the test can look at without awaiting it. */
  function watch<T>(promise: Promise<T>): { value?: T } {
    const box: { value?: T } = {};
    promise.then((value) => {
      box.value = value;
    });
    return box;
  }

  it('stores the deliveries of several requests in one commit, tells subscribers at the commit and answers none before the WAL is synced', async () => {
    const { boxes, commits, scheduled, commit, synced } = manual({}, { holdSyncs: true });
    const seen: StoredMessage[] = [];
    boxes.subscribe(ALICE, (message) => seen.push(message));
    const first = watch(boxes.storeAll([{ address: ALICE, payload: bytes(1) }]));
    const second = watch(
      boxes.storeAll([
        { address: BOB, payload: bytes(2) },
        { address: ALICE, payload: bytes(3) },
      ]),
    );
    await new Promise(setImmediate);
    assert.equal(scheduled.length, 1, 'one commit scheduled for the turn');
    assert.deepEqual([first.value, second.value, seen.length, boxes.size], [undefined, undefined, 0, 0]);
    commit();
    await new Promise(setImmediate);
    assert.deepEqual(commits, [{ durability: 'full', requests: 2, stored: 3, removed: 0 }]);
    assert.deepEqual([first.value, second.value], [undefined, undefined], 'committed, not yet on disk');
    assert.deepEqual(
      seen.map((message) => [...message.payload]),
      [[1], [3]],
      'pushed at the commit: a recipient that has it loses nothing to a power cut',
    );
    assert.equal(boxes.size, 3, 'counted at the commit (the next ones see the room taken)');
    await synced();
    assert.deepEqual(
      [first.value, second.value].flat().map((result) => [...stored(result as StoreResult).payload]),
      [[1], [2], [3]],
    );
  });

  it('commits made while a WAL sync runs wait for the next one, and share it', async () => {
    const { boxes, commits, commit, syncs, synced } = manual({}, { holdSyncs: true });
    const first = watch(boxes.store(ALICE, bytes(1)));
    commit();
    await new Promise(setImmediate);
    assert.equal(syncs.length, 1);
    const second = watch(boxes.store(BOB, bytes(2)));
    commit();
    const third = watch(boxes.store(CAROL, bytes(3)));
    commit();
    assert.equal(commits.length, 3);
    await synced();
    assert.ok(first.value && !second.value && !third.value, 'the running sync may have started before their commits');
    await synced();
    assert.ok(second.value && third.value);
    assert.equal(syncs.length, 0, 'one sync for both');
  });

  it('answers acknowledgements without waiting for the disk, and a commit that stored nothing too', async () => {
    const { boxes, commits, commit, syncs, synced } = manual({ maxPerMailbox: 1 }, { holdSyncs: true });
    const a1 = watch(boxes.store(ALICE, bytes(1)));
    commit();
    await synced();
    const ack = watch(boxes.acknowledge(ALICE, [stored(a1.value as StoreResult).id]));
    const bob = watch(boxes.store(BOB, bytes(1, 2)));
    const carol = watch(boxes.store(CAROL, bytes(1)));
    const full = watch(boxes.store(CAROL, bytes(2)));
    commit();
    await new Promise(setImmediate);
    assert.deepEqual(ack.value, [stored(a1.value as StoreResult).id], 'answered with the sync still under way');
    assert.deepEqual([bob.value, carol.value, full.value], [undefined, undefined, undefined], 'stores wait for it');
    assert.deepEqual(commits.at(-1), { durability: 'full', requests: 4, stored: 2, removed: 1 });
    await synced();
    stored(bob.value as StoreResult);
    stored(carol.value as StoreResult);
    assert.deepEqual(full.value, { refused: 'mailbox_full' });
    const refused = watch(boxes.store(CAROL, bytes(3)));
    commit();
    await new Promise(setImmediate);
    assert.deepEqual(refused.value, { refused: 'mailbox_full' }, 'a commit that stored nothing waits for no sync');
    assert.deepEqual(commits.at(-1), { durability: 'normal', requests: 1, stored: 0, removed: 0 });
    assert.equal(syncs.length, 0);
  });

  it('a sync the disk refuses fails the stores it was for (their exits send again); the messages stay', async () => {
    const { boxes, commit, synced } = manual({}, { holdSyncs: true });
    const seen: StoredMessage[] = [];
    boxes.subscribe(ALICE, (message) => seen.push(message));
    const store = boxes.store(ALICE, bytes(1));
    commit();
    const failed = assert.rejects(store, /EIO/);
    await synced(new Error('EIO: i/o error, fdatasync'));
    await failed;
    assert.equal(seen.length, 1, 'told at the commit');
    assert.equal(boxes.pending(ALICE).length, 1);
    const next = boxes.store(ALICE, bytes(2));
    commit();
    await synced();
    stored(await next);
    assert.equal(seen.length, 2, 'the next sync is a new one');
  });

  it('commits acknowledgements alone in one NORMAL commit, each answered with the ids it removed', async () => {
    const { boxes, commits, commit, path } = manual();
    const stores = Promise.all([
      boxes.store(ALICE, bytes(1)),
      boxes.store(BOB, bytes(2)),
      boxes.store(ALICE, bytes(3)),
    ]);
    commit();
    const [a1, b1, a2] = (await stores).map(stored);
    const acks = Promise.all([
      boxes.acknowledge(ALICE, [a1!.id]),
      boxes.acknowledge(BOB, [b1!.id, 'f'.repeat(32)]),
      boxes.acknowledge(ALICE, [a1!.id]),
    ]);
    commit();
    assert.deepEqual(await acks, [[a1!.id], [b1!.id], []], 'a repeated acknowledgement removes nothing');
    assert.deepEqual(commits.at(-1), { durability: 'normal', requests: 3, stored: 0, removed: 2 });
    assert.deepEqual(boxes.pending(ALICE), [a2]);
    assert.deepEqual([boxes.size, boxes.bytes], [1, 1]);
    boxes.close();
    const reopened = open({ path });
    assert.deepEqual(reopened.pending(ALICE), [a2], 'what was acknowledged stays gone');
    reopened.close();
  });

  it('applies the calls of one commit in the order they came: the limits are exact within it', async () => {
    const refusals: string[] = [];
    const { boxes, commits, commit } = manual({
      maxPerMailbox: 2,
      maxMailboxes: 2,
      onRefused: (r) => refusals.push(r),
    });
    const first = Promise.all([boxes.store(ALICE, bytes(1)), boxes.store(ALICE, bytes(2))]);
    commit();
    const [a1] = (await first).map(stored);
    const results = Promise.all([
      boxes.store(ALICE, bytes(3)), // full: the acknowledgement comes after it
      boxes.acknowledge(ALICE, [a1!.id]),
      boxes.store(ALICE, bytes(4)), // the room the acknowledgement freed
      boxes.store(BOB, bytes(5)),
      boxes.store(CAROL, bytes(6)), // a third mailbox
    ]);
    commit();
    const [full, removed, fourth, bob, carol] = await results;
    assert.deepEqual(full, { refused: 'mailbox_full' });
    assert.deepEqual(removed, [a1!.id]);
    assert.deepEqual([...stored(fourth as StoreResult).payload], [4]);
    stored(bob as StoreResult);
    assert.deepEqual(carol, { refused: 'too_many_mailboxes' });
    assert.deepEqual(refusals, ['mailbox_full', 'too_many_mailboxes']);
    assert.deepEqual(commits.at(-1), { durability: 'full', requests: 5, stored: 2, removed: 1 });
    assert.deepEqual([boxes.size, boxes.bytes], [3, 3]);
  });

  it('fails every call of a failed commit and undoes its counts; the next commit is unaffected', async () => {
    const { boxes, commits, commit, path } = manual({ maxPerMailbox: 2 });
    const first = Promise.all([boxes.store(ALICE, bytes(1)), boxes.store(BOB, bytes(2))]);
    commit();
    const [a1, b1] = (await first).map(stored);
    const other = new DatabaseSync(path);
    other.exec(
      "CREATE TRIGGER fail BEFORE INSERT ON messages WHEN length(NEW.payload) = 3 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    );
    other.close();
    const ack = boxes.acknowledge(ALICE, [a1!.id]);
    const fits = boxes.store(CAROL, bytes(1, 2));
    const fails = boxes.store(BOB, bytes(1, 2, 3));
    commit();
    for (const call of [ack, fits, fails]) await assert.rejects(call, /disk I\/O error/);
    assert.equal(commits.length, 1, 'a failed commit is not counted');
    assert.deepEqual([boxes.size, boxes.bytes], [2, 2]);
    assert.deepEqual(boxes.pending(ALICE), [a1], 'the acknowledgement was rolled back with the rest');
    assert.deepEqual(boxes.pending(CAROL), []);
    const retried = Promise.all([boxes.acknowledge(ALICE, [a1!.id]), boxes.acknowledge(BOB, [b1!.id])]);
    commit();
    assert.deepEqual(await retried, [[a1!.id], [b1!.id]]);
    assert.deepEqual([boxes.size, boxes.bytes], [0, 0]);
  });

  it('commits what is queued when closed', async () => {
    const { boxes, path } = manual();
    const message = boxes.store(ALICE, bytes(7));
    boxes.close();
    const kept = stored(await message);
    const reopened = open({ path });
    assert.deepEqual(reopened.pending(ALICE), [kept]);
    reopened.close();
  });

  it('commits at the end of the event-loop turn by default', async () => {
    const commits: MailboxCommit[] = [];
    const boxes = open({ onCommit: (c) => commits.push(c) });
    const results = await Promise.all([boxes.store(ALICE, bytes(1)), boxes.store(BOB, bytes(2))]);
    assert.deepEqual(commits, [{ durability: 'full', requests: 2, stored: 2, removed: 0 }]);
    await Promise.all(results.map((result, i) => boxes.acknowledge([ALICE, BOB][i] as string, [stored(result).id])));
    assert.deepEqual(commits.at(-1), { durability: 'normal', requests: 2, stored: 0, removed: 2 });
    boxes.close();
  });
});
