// The client's one time source, injected (pod wait, listener wait) so tests
// need not wait. `now()` has the shape of rpf-server's Clock (server/clock.ts):
// milliseconds since the epoch, like Date.now(); the client also sleeps.

/** Time, injected so tests need not wait. */
export interface Clock {
  /** Milliseconds since the epoch, like Date.now(). */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason if it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** @deprecated The former name of {@link Clock}, kept for library callers. */
export type WaitClock = Clock;
