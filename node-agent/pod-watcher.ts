// Notices that a session's pod went away (issue 8, finding 5) without asking
// the API (the agent has no ServiceAccount token): every interval it asks a
// probe whether the pod's process still holds the network namespace. The
// listeners themselves keep a dead pod's namespace alive, so without this a
// deleted pod's session would live on. One check at a time; the first "gone"
// calls onGone once and stops.
import type { PodProcess } from './netns-resolver.ts';

/** Says whether the pod still runs: the process to check next time, or undefined when it is gone. */
export type PodProbe = (last: PodProcess) => Promise<PodProcess | undefined>;

/** Timers, injected so tests can drive the clock. */
export interface WatcherTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: WatcherTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Default time between two checks: a deleted pod's session ends within about this long. */
export const DEFAULT_POD_CHECK_INTERVAL_MS = 2000;

/** Watches one pod for one session. */
export class PodWatcher {
  readonly #probe: PodProbe;
  readonly #intervalMs: number;
  readonly #timers: WatcherTimers;
  readonly #onGone: () => void;
  readonly #onError: (error: unknown) => void;
  #last: PodProcess;
  #timer: unknown;
  #stopped = false;

  constructor(options: {
    probe: PodProbe;
    process: PodProcess;
    intervalMs?: number;
    timers?: WatcherTimers;
    onGone: () => void;
    /** A probe that throws counts as "still there" (a transient read error must not end a session); this hears of it. */
    onError?: (error: unknown) => void;
  }) {
    this.#probe = options.probe;
    this.#last = options.process;
    this.#intervalMs = options.intervalMs ?? DEFAULT_POD_CHECK_INTERVAL_MS;
    this.#timers = options.timers ?? systemTimers;
    this.#onGone = options.onGone;
    this.#onError = options.onError ?? (() => {});
    this.#schedule();
  }

  /** Stops watching; no onGone after this. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#stopped || this.#intervalMs <= 0) return;
    this.#timer = this.#timers.setTimeout(() => void this.#check(), this.#intervalMs);
  }

  async #check(): Promise<void> {
    this.#timer = undefined;
    let next: PodProcess | undefined;
    try {
      next = await this.#probe(this.#last);
    } catch (error) {
      this.#onError(error);
      next = this.#last;
    }
    if (this.#stopped) return;
    if (next === undefined) {
      this.#stopped = true;
      this.#onGone();
      return;
    }
    this.#last = next;
    this.#schedule();
  }
}
