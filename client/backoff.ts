// The delays between reconnect attempts: exponential with jitter (0.5 s
// doubling to a 10 s cap by default), so that many clients cut off by the same
// rpf-server restart do not all come back in the same instant, and a long
// outage costs one attempt per ~10 s. No give-up limit: like autossh, the
// client keeps trying until the cause passes or the user presses Ctrl-C.

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** The first delay (default 500 ms). */
  initialMs?: number;
  /** The largest delay (default 10 s). */
  maxMs?: number;
  /** Each delay is the base times a factor in [1 - jitter, 1 + jitter) (default 0.2). */
  jitter?: number;
  /** A number in [0, 1); injected by tests (default Math.random). */
  random?: () => number;
}

/** Default first delay between reconnect attempts. */
export const DEFAULT_BACKOFF_INITIAL_MS = 500;
/** Default largest delay between reconnect attempts. */
export const DEFAULT_BACKOFF_MAX_MS = 10_000;

/** Exponential backoff with jitter; next() gives the next delay, reset() starts over. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #base: number;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    this.#jitter = options.jitter ?? 0.2;
    this.#random = options.random ?? Math.random;
    this.#base = this.#initialMs;
  }

  /** The largest delay: a session that lived longer than this resets the backoff. */
  get maxMs(): number {
    return this.#maxMs;
  }

  /** The delay before the next attempt, in milliseconds; doubles the base for the one after. */
  next(): number {
    const base = this.#base;
    this.#base = Math.min(this.#maxMs, base * 2);
    const factor = 1 - this.#jitter + 2 * this.#jitter * this.#random();
    return Math.round(Math.min(this.#maxMs, base * factor));
  }

  /** Starts over at the first delay. */
  reset(): void {
    this.#base = this.#initialMs;
  }
}
