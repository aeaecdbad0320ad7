// Keepalive: PING while nothing arrives, declare the peer dead when nothing
// arrived for the timeout. Any incoming message counts as a sign of life, so a
// busy tunnel sends no PINGs at all. One timer, re-armed only when it fires:
// received() is called per message and must stay a field write.

/** Clock and timers, injected so tests can drive time by hand. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds on a monotonic clock. */
  now(): number;
}

/** The real clock; its timers are unref'd, the WebSocket keeps the process alive, not the keepalive. */
export const systemTimers: Timers = Object.freeze({
  setTimeout(callback: () => void, ms: number): unknown {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
  now(): number {
    return performance.now();
  },
});

/** Options of {@link Keepalive}. */
export interface KeepaliveOptions {
  timers: Timers;
  /** Idle time before a PING; 0 disables keepalive entirely. */
  intervalMs: number;
  /** Time without any incoming message after which the peer is dead. */
  timeoutMs: number;
  sendPing: () => void;
  onTimeout: () => void;
}

/** Keepalive state of one session. */
export class Keepalive {
  readonly #options: KeepaliveOptions;
  #lastReceived = 0;
  #lastPing = Number.NEGATIVE_INFINITY;
  #handle: unknown = undefined;
  #running = false;

  constructor(options: KeepaliveOptions) {
    this.#options = options;
  }

  /** Starts the clock; the peer counts as heard from now. */
  start(): void {
    if (this.#running || this.#options.intervalMs <= 0) return;
    this.#running = true;
    this.#lastReceived = this.#options.timers.now();
    this.#arm(this.#options.intervalMs);
  }

  /** Records that a message arrived. */
  received(): void {
    if (this.#running) this.#lastReceived = this.#options.timers.now();
  }

  /** Stops for good. */
  stop(): void {
    this.#running = false;
    if (this.#handle !== undefined) this.#options.timers.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #arm(ms: number): void {
    this.#handle = this.#options.timers.setTimeout(() => this.#tick(), Math.max(1, ms));
  }

  #tick(): void {
    this.#handle = undefined;
    if (!this.#running) return;
    const { intervalMs, timeoutMs, timers } = this.#options;
    const now = timers.now();
    const deadline = this.#lastReceived + timeoutMs;
    if (now >= deadline) {
      this.stop();
      this.#options.onTimeout();
      return;
    }
    if (now >= Math.max(this.#lastReceived, this.#lastPing) + intervalMs) {
      this.#lastPing = now;
      this.#options.sendPing();
    }
    const nextPing = Math.max(this.#lastReceived, this.#lastPing) + intervalMs;
    if (this.#running) this.#arm(Math.min(deadline, nextPing) - now);
  }
}
