/**
 * The raw wire trace, as the taps showed it: the last `capacity` events the model was fed,
 * with endpoints named from public knowledge only (node ids, gateway ids, client slots).
 * The passive attacks of @mixlab/attacks read it through GET /v1/trace; it holds the
 * WireEvent fields and nothing else.
 */
import type { WireEvent } from '@mixlab/anonymity';

export interface TracePage {
  /** Sequence number of the first event returned (events are numbered from 0 as recorded). */
  readonly from: number;
  /** Pass as `since` to get the events after these. */
  readonly next: number;
  /** Events asked for that had already been overwritten (the buffer holds `capacity`). */
  readonly dropped: number;
  readonly events: readonly WireEvent[];
}

export class TraceRecorder {
  readonly capacity: number;
  readonly #ring: WireEvent[] = [];
  /** Events recorded so far; the newest has number `#recorded - 1`. */
  #recorded = 0;

  constructor(capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1))
      throw new RangeError(`capacity must be >= 1, got ${capacity}`);
    this.capacity = capacity;
  }

  record(event: WireEvent): void {
    const { atMs, from, to, bytes, packets } = event;
    this.#ring[this.#recorded % this.capacity] = { atMs, from, to, bytes, packets };
    this.#recorded++;
  }

  /** Up to `limit` events numbered `since` or later, oldest first. */
  page(since: number, limit: number): TracePage {
    const oldest = Math.max(0, this.#recorded - this.capacity);
    const from = Math.min(Math.max(since, oldest), this.#recorded);
    const to = Math.min(from + limit, this.#recorded);
    const events: WireEvent[] = [];
    for (let i = from; i < to; i++) events.push(this.#ring[i % this.capacity] as WireEvent);
    return { from, next: to, dropped: Math.max(0, oldest - Math.max(since, 0)), events };
  }
}
