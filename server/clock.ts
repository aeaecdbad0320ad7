/** The time source, injected so caches and durations are testable. */

/** Milliseconds since the epoch, like Date.now(). */
export interface Clock {
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
