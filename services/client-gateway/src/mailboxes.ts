import { randomBytes } from 'node:crypto';

/** A message held for a recipient until it acknowledges it. */
export interface StoredMessage {
  /** Gateway-assigned, unguessable; what the recipient acknowledges. */
  readonly id: string;
  /** End-to-end sealed to the recipient: the gateway cannot read it. */
  readonly payload: Uint8Array;
  readonly receivedAt: number;
}

export type StoreResult = { stored: StoredMessage } | { refused: 'mailbox_full' | 'too_many_mailboxes' };
type Listener = (message: StoredMessage) => void;

/** One mailbox per recipient address, bounded in messages and in mailboxes. */
export class Mailboxes {
  readonly #boxes = new Map<string, Map<string, StoredMessage>>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #maxPerMailbox: number;
  readonly #maxMailboxes: number;
  readonly #now: () => number;
  #total = 0;

  constructor(options: { maxPerMailbox: number; maxMailboxes: number; now?: () => number }) {
    this.#maxPerMailbox = options.maxPerMailbox;
    this.#maxMailboxes = options.maxMailboxes;
    this.#now = options.now ?? Date.now;
  }

  /** Messages held across all mailboxes. */
  get size(): number {
    return this.#total;
  }

  store(address: string, payload: Uint8Array): StoreResult {
    let box = this.#boxes.get(address);
    if (!box) {
      if (this.#boxes.size >= this.#maxMailboxes) return { refused: 'too_many_mailboxes' };
      box = new Map();
      this.#boxes.set(address, box);
    }
    if (box.size >= this.#maxPerMailbox) return { refused: 'mailbox_full' };
    // Copy: the payload may be a view into a request body.
    const message: StoredMessage = {
      id: randomBytes(16).toString('hex'),
      payload: Uint8Array.from(payload),
      receivedAt: this.#now(),
    };
    box.set(message.id, message);
    this.#total++;
    for (const listener of this.#listeners.get(address) ?? []) listener(message);
    return { stored: message };
  }

  pending(address: string): StoredMessage[] {
    return [...(this.#boxes.get(address)?.values() ?? [])];
  }

  /** Removes acknowledged messages; returns the ids that were there. Unknown ids are ignored. */
  acknowledge(address: string, ids: readonly string[]): string[] {
    const box = this.#boxes.get(address);
    if (!box) return [];
    const removed = ids.filter((id) => box.delete(id));
    this.#total -= removed.length;
    if (box.size === 0) this.#boxes.delete(address);
    return removed;
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
}
