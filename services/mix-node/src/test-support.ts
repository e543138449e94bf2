/** Helpers shared by the mix node's tests. */
import { ManualClock } from '@mixlab/mixing';
import type { WallClock } from './mixing-keys.ts';

/** A wall clock that starts at `startMs` (ms since the Unix epoch) and moves with a ManualClock. */
export function manualWallClock(startMs: number): { clock: ManualClock; wall: WallClock } {
  const clock = new ManualClock();
  return { clock, wall: { now: () => startMs + clock.now(), schedule: (ms, fn) => clock.schedule(ms, fn) } };
}
