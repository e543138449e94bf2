/**
 * One mailbox per recipient address, kept in a SQLite file (synchronous FULL): a message is
 * on disk before `storeAll` returns, so the gateway tells an exit node "stored" only for
 * messages a crash or restart cannot lose, and a message stays until its recipient
 * acknowledges it. Bounded in messages and payload bytes per mailbox, in mailboxes and in
 * payload bytes overall; the counts are kept in memory, read once at open. Subscriptions (open WebSockets) live in
 * memory only.
 */
import { randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { GATEWAY_MAILBOX_LIMITS } from '@mixlab/metrics';
import { type DatabaseSchema, inTransaction, type OpenedDatabase, openDatabase } from '@mixlab/runtime';

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
}

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

export class Mailboxes {
  readonly #db: DatabaseSync;
  readonly #limits: MailboxLimits;
  readonly #now: () => number;
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #pending: StatementSync;
  /** Messages and payload bytes held per recipient (no entry: an empty mailbox, which does not count). */
  readonly #counts = new Map<string, { messages: number; bytes: number }>();
  readonly #listeners = new Map<string, Set<Listener>>();
  #total = 0;
  #bytes = 0;

  /** Opens (or creates) the mailbox file at `path`; throws a DatabaseFileError naming the file if it cannot be used. */
  static open(path: string, limits: MailboxLimits): { mailboxes: Mailboxes; opened: OpenedDatabase } {
    const opened = openDatabase(path, MAILBOX_SCHEMA, {
      durability: 'full',
      ifReplaced: 'the messages it holds for recipients are lost',
    });
    return { mailboxes: new Mailboxes(opened.db, limits), opened };
  }

  constructor(db: DatabaseSync, limits: MailboxLimits) {
    this.#db = db;
    this.#limits = limits;
    this.#now = limits.now ?? Date.now;
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

  /** Messages held across all mailboxes. */
  get size(): number {
    return this.#total;
  }

  /** Payload bytes held across all mailboxes. */
  get bytes(): number {
    return this.#bytes;
  }

  store(address: string, payload: Uint8Array): StoreResult {
    return this.storeAll([{ address, payload }])[0] as StoreResult;
  }

  /**
   * Stores each message that fits the bounds, all in one commit, and only then tells
   * subscribers. Throws (storing none of them) when the commit fails.
   */
  storeAll(messages: readonly { address: string; payload: Uint8Array }[]): StoreResult[] {
    const receivedAt = this.#now();
    const added: { address: string; bytes: number }[] = [];
    let results: StoreResult[];
    try {
      results = inTransaction(this.#db, () =>
        messages.map(({ address, payload }): StoreResult => {
          const refusal = this.#refusal(address, payload.length);
          if (refusal) {
            this.#limits.onRefused?.(refusal);
            return { refused: refusal };
          }
          // Copy: the payload may be a view into a request body.
          const message: StoredMessage = {
            id: randomBytes(16).toString('hex'),
            payload: Uint8Array.from(payload),
            receivedAt,
          };
          this.#insert.run(message.id, address, message.payload, receivedAt);
          this.#count(address, 1, payload.length);
          added.push({ address, bytes: payload.length });
          return { stored: message };
        }),
      );
    } catch (error) {
      for (const { address, bytes } of added) this.#count(address, -1, -bytes);
      throw error;
    }
    messages.forEach(({ address }, i) => {
      const result = results[i] as StoreResult;
      if ('stored' in result) for (const listener of this.#listeners.get(address) ?? []) listener(result.stored);
    });
    return results;
  }

  pending(address: string): StoredMessage[] {
    if (!this.#counts.has(address)) return [];
    return (this.#pending.all(address) as unknown as StoredMessage[]).map(({ id, payload, receivedAt }) => ({
      id,
      payload,
      receivedAt,
    }));
  }

  /** Removes acknowledged messages, in one commit; returns the ids that were there. Unknown ids are ignored. */
  acknowledge(address: string, ids: readonly string[]): string[] {
    if (!this.#counts.has(address) || ids.length === 0) return [];
    const removed: { id: string; bytes: number }[] = [];
    inTransaction(this.#db, () => {
      for (const id of new Set(ids)) {
        const row = this.#delete.get(address, id) as { bytes: number } | undefined;
        if (row) removed.push({ id, bytes: row.bytes });
      }
    });
    for (const { bytes } of removed) this.#count(address, -1, -bytes);
    return removed.map(({ id }) => id);
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

  close(): void {
    this.#db.close();
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
