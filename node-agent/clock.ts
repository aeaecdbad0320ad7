// rpf-agent's time source, injected (STYLE habit 7) so that idle timeouts and
// durations are testable with a fake clock. `now()` has the shape of
// rpf-server's Clock (server/clock.ts); the timers have the shape of
// PodWatcher's WatcherTimers, so one object can serve both.

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the epoch, like Date.now(). */
  now(): number;
  /** Calls `callback` after `ms`; the handle is for clearTimeout. Never keeps the process alive. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock; its timers are unref'd (the sockets keep the process alive, not a timeout). */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms).unref(),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as NodeJS.Timeout | undefined),
});
