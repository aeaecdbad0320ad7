/**
 * The maximum lifetime of a tunnel (--max-session-lifetime, chart value
 * policy.maxSessionLifetime): once a tunnel has been open that long, it ends
 * with GOAWAY POLICY and a message naming the limit, which the client prints
 * and does not retry. A lifetime is counted from the upgrade; 0 means none.
 */
import type { Timers } from '../protocol/index.ts';
import { formatGoDuration } from './duration.ts';

/** Longest single timer Node keeps (about 24.8 days); longer lifetimes re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The message the client prints when its tunnel reached the maximum lifetime. */
export function lifetimeMessage(maxMs: number): string {
  return `the session reached its maximum lifetime of ${formatGoDuration(maxMs)}`;
}

/**
 * Calls `onExpired` with {@link lifetimeMessage} once `maxMs` has passed on
 * `timers`' clock, unless the returned function (call it when the tunnel
 * ends) is called first. Does nothing for 0.
 */
export function limitLifetime(timers: Timers, maxMs: number, onExpired: (message: string) => void): () => void {
  if (maxMs <= 0) return () => {};
  const deadline = timers.now() + maxMs;
  let handle: unknown;
  let stopped = false;
  const arm = (): void => {
    const left = deadline - timers.now();
    if (left <= 0) {
      stopped = true;
      onExpired(lifetimeMessage(maxMs));
      return;
    }
    handle = timers.setTimeout(() => {
      if (!stopped) arm();
    }, Math.min(left, MAX_TIMER_MS));
  };
  arm();
  return () => {
    stopped = true;
    timers.clearTimeout(handle);
  };
}
