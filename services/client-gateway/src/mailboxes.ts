/**
 * One mailbox per recipient address, kept in a SQLite file: a message is on disk (its commit
 * fdatasynced) before `storeAll` resolves, so the gateway tells an exit node "stored" only for
 * messages a crash, restart or power cut cannot lose, and a message stays until its recipient
 * acknowledges it. Bounded in messages and payload bytes per mailbox, in mailboxes and in
 * payload bytes overall; the counts are kept in memory, read once at open. Subscriptions (open
 * WebSockets) live in memory only.
 *
 * Group commit, off the event loop: node:sqlite is synchronous, and a FULL commit would hold the
 * event loop for its fsync. So the stores and acknowledgements asked for in one event-loop turn
 * are queued and applied, in the order they were asked, in one transaction at the end of the
 * turn (setImmediate), committed at synchronous NORMAL (WAL: written, not synced). A commit that
 * stored messages is then made durable by WalSync (an fdatasync of the WAL on the thread pool,
 * shared by every commit made while the previous one ran), and only then are its stores answered;
 * its messages are pushed at the commit (see #commit for why that loses nothing). Acknowledgements are answered at once: a deletion a power cut loses
 * only means that the message is pushed again, and clients drop duplicates by id.
 */
import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { GATEWAY_MAILBOX_LIMITS } from '@mixlab/metrics';
import {
  type DatabaseSchema,
  type Datasync,
  inTransaction,
  type OpenedDatabase,
  openDatabase,
  WalSync,
} from '@mixlab/runtime';

/** A message held for a recipient until it acknowledges it. */
export interface StoredMessage {
  /** Gateway-assigned, unguessable; what the recipient acknowledges. */
  readonly id: string;
  /** End-to-end sealed to the recipient: the gateway cannot read it. */
  readonly payload: Uint8Array;
  readonly receivedAt: number;
}

/** The limit a message hit: each counted in mixlab_gateway_mailbox_limits_total{limit}. */
export type MailboxRefusal = (typeof GATEWAY_MAILBOX_LIMITS)[number];
export type StoreResult = { stored: StoredMessage } | { refused: MailboxRefusal };
type Listener = (message: StoredMessage) => void;

export interface MailboxLimits {
  readonly maxPerMailbox: number;
  /** Payload bytes held for one recipient. */
  readonly maxBytesPerMailbox: number;
  readonly maxMailboxes: number;
  /** Payload bytes held across all mailboxes. */
  readonly maxBytes: number;
  /** ms since the Unix epoch, for receivedAt; injected in tests. */
  readonly now?: () => number;
  /** Told of every message a limit refused, with the limit: so that limits hit are counted. */
  readonly onRefused?: (refusal: MailboxRefusal) => void;
  /** Told of every commit, after it: so that commits (and what each held) are counted. */
  readonly onCommit?: (commit: MailboxCommit) => void;
  /** When to commit what was queued; default setImmediate (the end of this event-loop turn). Tests inject their own. */
  readonly schedule?: (commit: () => void) => void;
  /** How the WAL file is synced; default fdatasync on the thread pool. Tests inject their own. */
  readonly datasync?: Datasync;
}

/** One commit of queued stores and acknowledgements. */
export interface MailboxCommit {
  /** full: it stored messages (answered once the WAL is synced); normal: it did not (acknowledgements, refusals). */
  readonly durability: 'full' | 'normal';
  /** storeAll and acknowledge calls it answered. */
  readonly requests: number;
  readonly stored: number;
  readonly removed: number;
}

type Delivery = { readonly address: string; readonly payload: Uint8Array };
/** A call waiting for the next commit, answered (or failed) with it. */
type Queued =
  | {
      readonly kind: 'store';
      readonly messages: readonly Delivery[];
      readonly resolve: (results: StoreResult[]) => void;
      readonly reject: (error: unknown) => void;
    }
  | {
      readonly kind: 'acknowledge';
      readonly address: string;
      readonly ids: readonly string[];
      readonly resolve: (removed: string[]) => void;
      readonly reject: (error: unknown) => void;
    };
/** A change to the in-memory counts, undone when its commit fails. */
type CountChange = { readonly address: string; readonly messages: number; readonly bytes: number };

export const MAILBOX_SCHEMA: DatabaseSchema = {
  application: 'mixlab-gateway-mailboxes',
  version: 1,
  // seq keeps arrival order; AUTOINCREMENT never reuses one, so order holds across deletes.
  create: `
    CREATE TABLE messages (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      recipient TEXT NOT NULL,
      payload BLOB NOT NULL,
      received_at INTEGER NOT NULL
    );
    CREATE INDEX messages_of_recipient ON messages (recipient, seq);`,
};

/** Message ids, 16 random bytes in hex, drawn 256 at a time: one call into the CSPRNG, not one per message. */
class MessageIds {
  static readonly #BYTES = 16;
  #drawn = Buffer.alloc(0);
  #at = 0;

  next(): string {
    if (this.#at === this.#drawn.length) {
      this.#drawn = randomBytes(256 * MessageIds.#BYTES);
      this.#at = 0;
    }
    const id = this.#drawn.toString('hex', this.#at, this.#at + MessageIds.#BYTES);
    this.#at += MessageIds.#BYTES;
    return id;
  }
}

export class Mailboxes {
  readonly #db: DatabaseSync;
  readonly #limits: MailboxLimits;
  readonly #now: () => number;
  readonly #schedule: (commit: () => void) => void;
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #pending: StatementSync;
  readonly #wal: WalSync;
  /** Messages and payload bytes held per recipient (no entry: an empty mailbox, which does not count). */
  readonly #counts = new Map<string, { messages: number; bytes: number }>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #ids = new MessageIds();
  #queue: Queued[] = [];
  #total = 0;
  #bytes = 0;

  /** Opens (or creates) the mailbox file at `path`; throws a DatabaseFileError naming the file if it cannot be used. */
  static open(path: string, limits: MailboxLimits): { mailboxes: Mailboxes; opened: OpenedDatabase } {
    // NORMAL: a commit that stores messages is made durable by WalSync, off the event loop.
    const opened = openDatabase(path, MAILBOX_SCHEMA, {
      durability: 'normal',
      ifReplaced: 'the messages it holds for recipients are lost',
    });
    let wal: WalSync;
    try {
      wal = new WalSync(path, limits.datasync);
    } catch (error) {
      opened.db.close();
      throw error;
    }
    return { mailboxes: new Mailboxes(opened.db, wal, limits), opened };
  }

  /** `db` in WAL mode at synchronous NORMAL, `wal` its WAL file: Mailboxes.open makes both. */
  constructor(db: DatabaseSync, wal: WalSync, limits: MailboxLimits) {
    this.#db = db;
    this.#wal = wal;
    this.#limits = limits;
    this.#now = limits.now ?? Date.now;
    this.#schedule = limits.schedule ?? setImmediate;
    this.#insert = db.prepare('INSERT INTO messages (id, recipient, payload, received_at) VALUES (?, ?, ?, ?)');
    this.#delete = db.prepare('DELETE FROM messages WHERE recipient = ? AND id = ? RETURNING length(payload) AS bytes');
    this.#pending = db.prepare(
      'SELECT id, payload, received_at AS receivedAt FROM messages WHERE recipient = ? ORDER BY seq',
    );
    const held = db
      .prepare('SELECT recipient, count(*) AS messages, sum(length(payload)) AS bytes FROM messages GROUP BY recipient')
      .all() as { recipient: string; messages: number; bytes: number }[];
    for (const { recipient, messages, bytes } of held) {
      this.#counts.set(recipient, { messages, bytes });
      this.#total += messages;
      this.#bytes += bytes;
    }
  }

  /** Messages held across all mailboxes (as of the last commit). */
  get size(): number {
    return this.#total;
  }

  /** Payload bytes held across all mailboxes (as of the last commit). */
  get bytes(): number {
    return this.#bytes;
  }

  async store(address: string, payload: Uint8Array): Promise<StoreResult> {
    return (await this.storeAll([{ address, payload }]))[0] as StoreResult;
  }

  /**
   * Stores each message that fits the bounds, in the next commit, and resolves once that commit
   * is on disk (subscribers were told at the commit). Rejects when the commit fails (storing none
   * of them) or when the disk fails to sync it (then they stay committed: see #commit).
   */
  storeAll(messages: readonly Delivery[]): Promise<StoreResult[]> {
    return new Promise((resolve, reject) => this.#enqueue({ kind: 'store', messages, resolve, reject }));
  }

  pending(address: string): StoredMessage[] {
    if (!this.#counts.has(address)) return [];
    return (this.#pending.all(address) as unknown as StoredMessage[]).map(({ id, payload, receivedAt }) => ({
      id,
      payload,
      receivedAt,
    }));
  }

  /**
   * Removes acknowledged messages in the next commit and resolves with the ids that were there,
   * without waiting for the disk. Unknown ids are ignored.
   */
  acknowledge(address: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => this.#enqueue({ kind: 'acknowledge', address, ids, resolve, reject }));
  }

  /** Calls `listener` for every message stored for `address` from now on. */
  subscribe(address: string, listener: Listener): () => void {
    const listeners = this.#listeners.get(address) ?? new Set();
    listeners.add(listener);
    this.#listeners.set(address, listeners);
    return () => {
      // A repeated call deletes nothing, so it cannot drop a later subscriber's set.
      if (listeners.delete(listener) && listeners.size === 0) this.#listeners.delete(address);
    };
  }

  /** Commits what is queued, then closes the file (SQLite checkpoints and syncs it on the way). */
  close(): void {
    this.#commit();
    this.#db.close();
    this.#wal.close();
  }

  #enqueue(call: Queued): void {
    if (this.#queue.push(call) === 1) this.#schedule(() => this.#commit());
  }

  /** Applies the queued calls in the order they came, in one transaction, and answers each after the commit. */
  #commit(): void {
    const queued = this.#queue;
    if (queued.length === 0) return;
    this.#queue = [];
    const receivedAt = this.#now();
    const changes: CountChange[] = [];
    let answers: (StoreResult[] | string[])[];
    try {
      answers = inTransaction(this.#db, () =>
        queued.map((call) =>
          call.kind === 'store'
            ? this.#insertAll(call.messages, receivedAt, changes)
            : this.#deleteAll(call.address, call.ids, changes),
        ),
      );
    } catch (error) {
      for (const { address, messages, bytes } of changes.reverse()) this.#count(address, -messages, -bytes);
      for (const call of queued) call.reject(error);
      return;
    }
    let stored = 0;
    let removed = 0;
    for (const change of changes) {
      if (change.messages > 0) stored++;
      else removed++;
    }
    const durability = stored > 0 ? 'full' : 'normal';
    this.#limits.onCommit?.({ durability, requests: queued.length, stored, removed });
    const stores: { call: Extract<Queued, { kind: 'store' }>; results: StoreResult[] }[] = [];
    queued.forEach((call, i) => {
      if (call.kind === 'store') stores.push({ call, results: answers[i] as StoreResult[] });
      else call.resolve(answers[i] as string[]);
    });
    if (durability === 'normal') {
      for (const { call, results } of stores) call.resolve(results);
      return;
    }
    // Subscribers hear of the messages once they are committed, before the WAL is on disk: a
    // message pushed and then lost to a power cut is with its recipient already, and its exit,
    // answered only after the sync, sends it again (the recipient drops the duplicate). So the
    // sync costs the exit's answer its time, not the message's way to the recipient.
    for (const { call, results } of stores) {
      call.messages.forEach(({ address }, j) => {
        const result = results[j] as StoreResult;
        if ('stored' in result)
          for (const listener of this.#listeners.get(address) ?? []) tell(listener, result.stored);
      });
    }
    // A sync the disk refused leaves the messages committed and counted: their exits hear 503 and
    // retry (the recipient drops the duplicate).
    this.#wal.sync().then(
      () => {
        for (const { call, results } of stores) call.resolve(results);
      },
      (error: unknown) => {
        for (const { call } of stores) call.reject(error);
      },
    );
  }

  /** Inside the commit's transaction: each message that fits the bounds as they stand now. */
  #insertAll(messages: readonly Delivery[], receivedAt: number, changes: CountChange[]): StoreResult[] {
    return messages.map(({ address, payload }): StoreResult => {
      const refusal = this.#refusal(address, payload.length);
      if (refusal) {
        this.#limits.onRefused?.(refusal);
        return { refused: refusal };
      }
      // Copy: the payload may be a view into a request body.
      const message: StoredMessage = {
        id: this.#ids.next(),
        payload: new Uint8Array(payload),
        receivedAt,
      };
      this.#insert.run(message.id, address, message.payload, receivedAt);
      this.#change(changes, { address, messages: 1, bytes: payload.length });
      return { stored: message };
    });
  }

  /** Inside the commit's transaction: the ids that were in the mailbox. */
  #deleteAll(address: string, ids: readonly string[], changes: CountChange[]): string[] {
    if (!this.#counts.has(address)) return [];
    const removed: string[] = [];
    for (const id of new Set(ids)) {
      const row = this.#delete.get(address, id) as { bytes: number } | undefined;
      if (!row) continue;
      removed.push(id);
      this.#change(changes, { address, messages: -1, bytes: -row.bytes });
    }
    return removed;
  }

  /** Counts at once (later calls of the same commit see the room a store took or an acknowledgement freed), undone if it fails. */
  #change(changes: CountChange[], change: CountChange): void {
    this.#count(change.address, change.messages, change.bytes);
    changes.push(change);
  }

  #refusal(address: string, bytes: number): MailboxRefusal | undefined {
    const held = this.#counts.get(address);
    if (held === undefined && this.#counts.size >= this.#limits.maxMailboxes) return 'too_many_mailboxes';
    if ((held?.messages ?? 0) >= this.#limits.maxPerMailbox) return 'mailbox_full';
    if ((held?.bytes ?? 0) + bytes > this.#limits.maxBytesPerMailbox) return 'mailbox_bytes_full';
    if (this.#bytes + bytes > this.#limits.maxBytes) return 'storage_full';
    return undefined;
  }

  #count(address: string, messages: number, bytes: number): void {
    const held = this.#counts.get(address) ?? { messages: 0, bytes: 0 };
    held.messages += messages;
    held.bytes += bytes;
    if (held.messages === 0) this.#counts.delete(address);
    else this.#counts.set(address, held);
    this.#total += messages;
    this.#bytes += bytes;
  }
}

/**
 * A subscriber that throws must not take the gateway down, nor keep the commit's other callers
 * from their answers: the message stays stored and is pushed again on the recipient's next connection.
 */
function tell(listener: Listener, message: StoredMessage): void {
  try {
    listener(message);
  } catch {}
}
