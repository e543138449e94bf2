import type { Clock } from '@mixlab/runtime';

/**
 * Calls `onTick` every `intervalMs`, the first one interval from now. Each tick is
 * scheduled against the start time, so late timers do not accumulate drift; a tick
 * that is more than a whole interval late skips the ticks it missed rather than
 * bursting to catch up. Returns a function that stops the ticking.
 */
export function every(clock: Clock, intervalMs: number, onTick: () => void): () => void {
  const start = clock.now();
  let ticks = 0;
  let cancel: () => void;
  const scheduleNext = (): void => {
    const now = clock.now();
    ticks = Math.max(ticks + 1, Math.floor((now - start) / intervalMs) + 1);
    cancel = clock.schedule(start + ticks * intervalMs - now, tick);
  };
  // Schedule the next tick first, so that a throwing onTick cannot end the schedule.
  const tick = (): void => {
    scheduleNext();
    onTick();
  };
  scheduleNext();
  return () => cancel();
}
