import type { Clock } from './clock.ts';

interface ManualTimer {
  readonly at: number;
  /** Scheduling order, so that timers due at the same time fire first-scheduled first. */
  readonly seq: number;
  readonly fn: () => void;
  live: boolean;
}

function firesBefore(a: ManualTimer, b: ManualTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A clock that moves only when told to; timers fire in due order during `advance`.
 * It starts at `startMs` (0 by default; give ms since the Unix epoch to stand in for a
 * wall clock). Timers sit in a binary min-heap, so simulations with many thousands of
 * pending timers (one per packet in a continuous-time mix) stay fast.
 */
export class ManualClock implements Clock {
  #now: number;
  #nextSeq = 0;
  #live = 0;
  readonly #heap: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  schedule(delayMs: number, fn: () => void): () => void {
    const timer: ManualTimer = { at: this.#now + Math.max(0, delayMs), seq: this.#nextSeq++, fn, live: true };
    this.#push(timer);
    this.#live++;
    return () => {
      // Cancelled timers stay in the heap, marked dead, and are skipped when they surface.
      if (!timer.live) return;
      timer.live = false;
      this.#live--;
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#heap[0];
      if (!next || next.at > end) break;
      this.#pop();
      if (!next.live) continue;
      next.live = false;
      this.#live--;
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }

  get pendingTimers(): number {
    return this.#live;
  }

  #push(timer: ManualTimer): void {
    const heap = this.#heap;
    let i = heap.push(timer) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!firesBefore(timer, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = timer;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && firesBefore(heap[right]!, heap[left]!) ? right : left;
      if (!firesBefore(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
