/**
 * Replay tags this node has seen, one table per key epoch: a replayed packet has the
 * same tag as its first copy and is dropped. Each table is a fixed open-addressing
 * hash set of 16-byte tag prefixes in one preallocated buffer, so memory is bounded
 * and known exactly (`bytes`), and a table is freed whole when its epoch retires.
 */
export const REPLAY_TAG_PREFIX_BYTES = 16;
const MAX_LOAD = 0.75;

export type ReplayVerdict = 'new' | 'replay' | 'full';

class TagTable {
  readonly #slots: Uint8Array;
  readonly #used: Uint8Array;
  readonly #capacity: number;
  readonly #maxEntries: number;
  entries = 0;

  constructor(maxEntries: number) {
    let capacity = 1;
    while (capacity * MAX_LOAD < maxEntries) capacity *= 2;
    this.#capacity = capacity;
    this.#maxEntries = maxEntries;
    this.#slots = new Uint8Array(capacity * REPLAY_TAG_PREFIX_BYTES);
    this.#used = new Uint8Array(capacity);
  }

  get bytes(): number {
    return this.#slots.byteLength + this.#used.byteLength;
  }

  add(tag: Uint8Array): ReplayVerdict {
    // Tags are outputs of a KDF, so their first bytes are already a uniform hash.
    const mask = this.#capacity - 1;
    let slot = ((tag[0] ?? 0) | ((tag[1] ?? 0) << 8) | ((tag[2] ?? 0) << 16) | ((tag[3] ?? 0) << 24)) & mask;
    for (;;) {
      if (this.#used[slot] === 0) break;
      if (this.#matches(slot, tag)) return 'replay';
      slot = (slot + 1) & mask;
    }
    if (this.entries >= this.#maxEntries) return 'full';
    this.#used[slot] = 1;
    this.#slots.set(tag.subarray(0, REPLAY_TAG_PREFIX_BYTES), slot * REPLAY_TAG_PREFIX_BYTES);
    this.entries++;
    return 'new';
  }

  #matches(slot: number, tag: Uint8Array): boolean {
    const offset = slot * REPLAY_TAG_PREFIX_BYTES;
    for (let i = 0; i < REPLAY_TAG_PREFIX_BYTES; i++) if (this.#slots[offset + i] !== tag[i]) return false;
    return true;
  }
}

export class ReplayCache {
  readonly #maxEntriesPerEpoch: number;
  readonly #tables = new Map<number, TagTable>();

  constructor(options: { maxEntriesPerEpoch: number }) {
    if (!Number.isInteger(options.maxEntriesPerEpoch) || options.maxEntriesPerEpoch < 1) {
      throw new RangeError(`maxEntriesPerEpoch must be a positive integer, got ${options.maxEntriesPerEpoch}`);
    }
    this.#maxEntriesPerEpoch = options.maxEntriesPerEpoch;
  }

  /** Remembers `tag` for `epoch`: 'new' the first time, 'replay' after, 'full' when the epoch's table is full. */
  check(epoch: number, tag: Uint8Array): ReplayVerdict {
    if (tag.length < REPLAY_TAG_PREFIX_BYTES)
      throw new RangeError(`a replay tag needs ${REPLAY_TAG_PREFIX_BYTES} bytes`);
    let table = this.#tables.get(epoch);
    if (!table) {
      table = new TagTable(this.#maxEntriesPerEpoch);
      this.#tables.set(epoch, table);
    }
    return table.add(tag);
  }

  /** Frees the tables of every epoch before `epoch` (their keys are gone, so no packet can replay into them). */
  retireBefore(epoch: number): void {
    for (const known of this.#tables.keys()) if (known < epoch) this.#tables.delete(known);
  }

  get entries(): number {
    let total = 0;
    for (const table of this.#tables.values()) total += table.entries;
    return total;
  }

  /** Memory held by the tables, exactly. */
  get bytes(): number {
    let total = 0;
    for (const table of this.#tables.values()) total += table.bytes;
    return total;
  }
}
