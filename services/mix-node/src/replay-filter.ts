/**
 * Replay tags this node has let through, one Bloom filter per key epoch (as Nym keeps
 * them): a fixed bit array sized for the packets one key can open at the node's
 * capacity, with a stated false-positive rate. It never fills up and never refuses a
 * packet for lack of room; past its planned entries its false-positive rate rises
 * gradually instead. A filter is freed whole when its key is dropped.
 *
 * The bits live in a SharedArrayBuffer so that every peel worker tests and sets the same
 * filter. A tag's k bit positions come straight from its bytes: replay tags are KDF
 * outputs (Sphinx) or X25519 public keys (onion), uniform already, and a sender grinding
 * its own tags can set no more than k bits a packet, like anyone else.
 */

/** Header words before the bits: a lock and the count of tags let through. */
const LOCK = 0;
const ENTRIES = 1;
const HEADER_WORDS = 2;
/** The positions use the first 12 bytes of a tag: two 48-bit numbers. */
export const REPLAY_TAG_MIN_BYTES = 12;
/** Bits a filter may have: positions are below 2^32 (512 MiB of bits). */
const MAX_BITS = 2 ** 32 - 32;

/** How large a filter is: what the bits are planned for, and the resulting shape. */
export interface ReplayFilterSize {
  /** Tags the filter is planned for. */
  readonly entries: number;
  /** The false-positive rate once it holds `entries` tags: the chance that a new packet is taken for a replay. */
  readonly falsePositiveRate: number;
  readonly bits: number;
  /** Bit positions per tag (k). */
  readonly hashes: number;
}

/** The optimal Bloom filter for `entries` tags at `falsePositiveRate`: m = -n ln p / (ln 2)^2 bits, k = (m/n) ln 2. */
export function replayFilterSize(entries: number, falsePositiveRate: number): ReplayFilterSize {
  if (!Number.isSafeInteger(entries) || entries < 1) {
    throw new RangeError(`a replay filter needs a positive integer of entries, got ${entries}`);
  }
  if (!(falsePositiveRate > 0 && falsePositiveRate < 1)) {
    throw new RangeError(`a false-positive rate is between 0 and 1, got ${falsePositiveRate}`);
  }
  const bits = Math.ceil((-entries * Math.log(falsePositiveRate)) / Math.LN2 ** 2 / 32) * 32;
  if (bits > MAX_BITS) {
    throw new RangeError(
      `${entries} entries at a false-positive rate of ${falsePositiveRate} need ${bits / 8} bytes; at most ${MAX_BITS / 8} fit`,
    );
  }
  return { entries, falsePositiveRate, bits, hashes: Math.max(1, Math.round((bits / entries) * Math.LN2)) };
}

/** What a filter is made of, as posted to a worker (the buffer is shared, not copied). */
export interface SharedReplayFilter {
  readonly buffer: SharedArrayBuffer;
  readonly bits: number;
  readonly hashes: number;
}

/** The 48-bit number at bytes [at, at + 6) of `tag`. */
function uint48(tag: Uint8Array, at: number): number {
  return (
    ((tag[at] as number) | ((tag[at + 1] as number) << 8) | ((tag[at + 2] as number) << 16)) +
    ((tag[at + 3] as number) | ((tag[at + 4] as number) << 8) | ((tag[at + 5] as number) << 16)) * 2 ** 24
  );
}

export class ReplayFilter {
  readonly #words: Int32Array;
  readonly #bits: number;
  readonly #hashes: number;
  /** Scratch space for one tag's bits: a filter object belongs to one thread, so it is never shared. */
  readonly #wordAt: Int32Array;
  readonly #bitAt: Int32Array;
  readonly shared: SharedReplayFilter;

  constructor(shared: SharedReplayFilter) {
    this.shared = shared;
    this.#words = new Int32Array(shared.buffer);
    this.#bits = shared.bits;
    this.#hashes = shared.hashes;
    this.#wordAt = new Int32Array(shared.hashes);
    this.#bitAt = new Int32Array(shared.hashes);
  }

  /** A new, empty filter of `size`. */
  static create(size: Pick<ReplayFilterSize, 'bits' | 'hashes'>): ReplayFilter {
    const buffer = new SharedArrayBuffer((HEADER_WORDS + size.bits / 32) * 4);
    return new ReplayFilter({ buffer, bits: size.bits, hashes: size.hashes });
  }

  /**
   * True when every bit of `tag` was set already (a replay, or a false positive); otherwise
   * sets them and returns false. Atomic across threads: two copies of one packet peeled at
   * once by two workers are let through once. Setting the bits one atomic OR at a time
   * would not do: each copy can find a different bit still clear and both pass. So the
   * k ORs run under a spin lock; it is held for k memory operations (well under a
   * microsecond), against the X25519 of a peel (tens of microseconds).
   */
  seen(tag: Uint8Array): boolean {
    const words = this.#words;
    this.#locate(tag);
    const wordAt = this.#wordAt;
    const bitAt = this.#bitAt;
    while (Atomics.compareExchange(words, LOCK, 0, 1) !== 0);
    let clear = false;
    for (let i = 0; i < this.#hashes; i++) {
      const bit = bitAt[i] as number;
      if ((Atomics.or(words, wordAt[i] as number, bit) & bit) === 0) clear = true;
    }
    if (clear) Atomics.add(words, ENTRIES, 1);
    Atomics.store(words, LOCK, 0);
    return !clear;
  }

  /** True when every bit of `tag` is set, setting none: what `seen` would say, for measuring the filter. */
  has(tag: Uint8Array): boolean {
    this.#locate(tag);
    const wordAt = this.#wordAt;
    const bitAt = this.#bitAt;
    for (let i = 0; i < this.#hashes; i++) {
      const bit = bitAt[i] as number;
      if ((Atomics.load(this.#words, wordAt[i] as number) & bit) === 0) return false;
    }
    return true;
  }

  /** Puts the word index and bit mask of each of the k bits of `tag` in the scratch arrays (no allocation). */
  #locate(tag: Uint8Array): void {
    if (tag.length < REPLAY_TAG_MIN_BYTES) throw new RangeError(`a replay tag needs ${REPLAY_TAG_MIN_BYTES} bytes`);
    const m = this.#bits;
    // Enhanced double hashing (Dillinger & Manolios 2004): k positions from two numbers of the tag.
    let position = uint48(tag, 0) % m;
    let step = uint48(tag, 6) % m;
    const wordAt = this.#wordAt;
    const bitAt = this.#bitAt;
    for (let i = 0; i < this.#hashes; i++) {
      wordAt[i] = HEADER_WORDS + (position >>> 5);
      bitAt[i] = 1 << (position & 31);
      position = (position + step) % m;
      step = (step + i + 1) % m;
    }
  }

  /** Tags let through so far. */
  get entries(): number {
    return Atomics.load(this.#words, ENTRIES);
  }

  /** Memory held, exactly. */
  get bytes(): number {
    return this.#words.byteLength;
  }
}

/**
 * The filters of the epochs whose keys a node peels with: made on the thread that owns
 * them and handed to the peel workers with the keys.
 */
export class ReplayFilters {
  readonly #size: ReplayFilterSize;
  readonly #byEpoch = new Map<number, ReplayFilter>();

  constructor(size: ReplayFilterSize) {
    this.#size = size;
  }

  get size(): ReplayFilterSize {
    return this.#size;
  }

  /** Keeps a filter for every epoch in `epochs` (a new, empty one for an epoch not seen yet) and frees the rest. */
  keep(epochs: Iterable<number>): ReadonlyMap<number, SharedReplayFilter> {
    const wanted = new Set(epochs);
    for (const epoch of this.#byEpoch.keys()) if (!wanted.has(epoch)) this.#byEpoch.delete(epoch);
    const shared = new Map<number, SharedReplayFilter>();
    for (const epoch of wanted) {
      let filter = this.#byEpoch.get(epoch);
      if (!filter) {
        filter = ReplayFilter.create(this.#size);
        this.#byEpoch.set(epoch, filter);
      }
      shared.set(epoch, filter.shared);
    }
    return shared;
  }

  get entries(): number {
    let total = 0;
    for (const filter of this.#byEpoch.values()) total += filter.entries;
    return total;
  }

  get bytes(): number {
    let total = 0;
    for (const filter of this.#byEpoch.values()) total += filter.bytes;
    return total;
  }
}
