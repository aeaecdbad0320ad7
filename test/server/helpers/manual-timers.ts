/**
 * Timers (protocol/keepalive.ts's interface) that run only when a test moves
 * the clock: `advance(ms)` fires every timer due by then, in order, letting
 * promises settle between them, so code that awaits between timers (a review,
 * then the next wait) behaves as it would in real time.
 */
import type { Timers } from '../../../protocol/index.ts';

/** Manual timers and their clock. */
export interface ManualTimers extends Timers {
  /** Moves the clock by `ms`, firing what comes due (promises settle after each). */
  advance(ms: number): Promise<void>;
  /** Timers waiting. */
  readonly pending: number;
  /** Every delay asked of setTimeout, in order. */
  readonly delays: number[];
}

/** Lets queued promise callbacks run (a few rounds, for chains of awaits). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

/** New manual timers starting at `start` ms. */
export function manualTimers(start = 0): ManualTimers {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; seq: number; callback: () => void }>();
  const delays: number[] = [];
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = ++seq;
      delays.push(ms);
      timers.set(id, { at: now + ms, seq: id, callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    get pending() {
      return timers.size;
    },
    delays,
    async advance(ms) {
      const until = now + ms;
      await settle();
      for (;;) {
        let next: [number, { at: number; seq: number; callback: () => void }] | undefined;
        for (const entry of timers) if (entry[1].at <= until && (next === undefined || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq))) next = entry;
        if (next === undefined) break;
        timers.delete(next[0]);
        now = Math.max(now, next[1].at);
        next[1].callback();
        await settle();
      }
      now = until;
    },
  };
}
