/**
 * Re-authorization of open tunnels (issue 11): a tunnel was authorized once,
 * when it opened; RBAC may change while it lives. Every open tunnel is checked
 * again with the same SubjectAccessReviews as at open (`create`, and `expose`
 * when it listens on a non-loopback address) about every interval. A definite
 * denial ends it; a review that fails (kube-apiserver unavailable) does not:
 * the tunnel was authorized, and cutting every tunnel whenever the API server
 * blips would be worse than a late revocation. That is logged and counted.
 *
 * How late a revocation can be: the Authorizer reuses a decision for its TTL
 * (10 s), and a tunnel is checked at most 1.1 intervals (22 s) apart, so the
 * first check that cannot see a decision older than the RBAC change comes
 * within TTL + 1.1 x interval = 32 s of it, plus the review itself and the
 * GOAWAY's trip; the contract is 45 s.
 *
 * Load: each tunnel is checked on its own timer, the first one at a random
 * point of the second half of an interval and the next ones an interval
 * apart with +-10% jitter, so tunnels opened together (a reconnect wave after
 * a restart) spread out; at most `maxConcurrent` reviews are in flight, the
 * rest wait in a FIFO holding at most one entry per tunnel; tunnels of one
 * user and pod share the Authorizer's cached decision.
 */
import type { Logger } from 'pino';
import type { Timers } from '../protocol/index.ts';
import type { Authorizer, TunnelTarget, TunnelVerb } from './authorizer.ts';
import { RpfServerError } from './errors.ts';
import type { UserInfo } from './front-proxy-auth.ts';
import type { GovernanceMetrics, ReauthorizationResult } from './governance-metrics.ts';

/** Time between two checks of one tunnel (ms): with the 10 s decision cache, a revocation ends a tunnel within ~32 s. */
export const DEFAULT_REAUTHORIZE_INTERVAL_MS = 20_000;

/** Reviews in flight at once, whatever the number of open tunnels. */
export const DEFAULT_MAX_CONCURRENT_REAUTHORIZATIONS = 8;

/** Spread of the interval: each wait is interval x (1 +- JITTER). */
const JITTER = 0.1;

/** One open tunnel to keep checking. */
export interface ReauthorizedTunnel {
  readonly user: UserInfo;
  readonly target: TunnelTarget;
  /** The verbs checked at open, in that order. */
  readonly verbs: readonly TunnelVerb[];
  /** Called once, with the Forbidden text worded as kube-apiserver words it, on a denial; the checks stop. */
  readonly onDenied: (message: string) => void;
  /** Fields of its log lines (who, which pod). */
  readonly logFields: Readonly<Record<string, unknown>>;
}

/** What {@link Reauthorizer} needs. */
export interface ReauthorizerDeps {
  readonly authorizer: Pick<Authorizer, 'authorize'>;
  readonly timers: Timers;
  /** A number in [0, 1), Math.random by default. */
  readonly random?: () => number;
  readonly logger: Logger;
  readonly metrics: GovernanceMetrics;
  readonly intervalMs?: number;
  readonly maxConcurrent?: number;
}

type EntryState = 'waiting' | 'queued' | 'checking' | 'done';

interface Entry {
  readonly tunnel: ReauthorizedTunnel;
  state: EntryState;
  timer: unknown;
  /** The last check failed (logged once per run of failures, not once per check). */
  failing: boolean;
}

/** Checks open tunnels again and again until they end or are denied. */
export class Reauthorizer {
  readonly #deps: ReauthorizerDeps;
  readonly #intervalMs: number;
  readonly #maxConcurrent: number;
  readonly #random: () => number;
  readonly #entries = new Set<Entry>();
  #queue: Entry[] = [];
  #inFlight = 0;

  constructor(deps: ReauthorizerDeps) {
    this.#deps = deps;
    this.#intervalMs = deps.intervalMs ?? DEFAULT_REAUTHORIZE_INTERVAL_MS;
    this.#maxConcurrent = deps.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_REAUTHORIZATIONS;
    this.#random = deps.random ?? Math.random;
  }

  /** Tunnels being checked. */
  get size(): number {
    return this.#entries.size;
  }

  /** Reviews in flight now (never more than maxConcurrent). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Starts checking a tunnel; the returned function stops (call it when the tunnel ends). */
  track(tunnel: ReauthorizedTunnel): () => void {
    const entry: Entry = { tunnel, state: 'waiting', timer: undefined, failing: false };
    this.#entries.add(entry);
    this.#wait(entry, this.#intervalMs * (0.5 + 0.5 * this.#random()));
    return () => this.#drop(entry);
  }

  /** Stops every check (server shutdown). */
  stop(): void {
    for (const entry of [...this.#entries]) this.#drop(entry);
  }

  #drop(entry: Entry): void {
    if (entry.state === 'done') return;
    entry.state = 'done';
    this.#deps.timers.clearTimeout(entry.timer);
    this.#entries.delete(entry);
    // A queued entry is skipped when it comes up; compacting here keeps the queue bounded by live tunnels.
    if (this.#queue.length > 2 * this.#entries.size + 16) this.#queue = this.#queue.filter((e) => e.state === 'queued');
  }

  #wait(entry: Entry, ms: number): void {
    entry.state = 'waiting';
    entry.timer = this.#deps.timers.setTimeout(() => {
      if (entry.state !== 'waiting') return;
      entry.state = 'queued';
      this.#queue.push(entry);
      this.#pump();
    }, Math.max(1, Math.round(ms)));
  }

  #pump(): void {
    while (this.#inFlight < this.#maxConcurrent && this.#queue.length > 0) {
      const entry = this.#queue.shift()!;
      if (entry.state !== 'queued') continue;
      entry.state = 'checking';
      this.#inFlight++;
      void this.#check(entry).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #check(entry: Entry): Promise<void> {
    const { tunnel } = entry;
    let result: ReauthorizationResult = 'allowed';
    let denial = '';
    let failure: unknown;
    try {
      for (const verb of tunnel.verbs) await this.#deps.authorizer.authorize(tunnel.user, tunnel.target, verb);
    } catch (err) {
      if (err instanceof RpfServerError && err.code === 'RPF_ERR_SERVER_FORBIDDEN') {
        result = 'denied';
        denial = err.message;
      } else {
        result = 'error';
        failure = err;
      }
    }
    this.#deps.metrics.reauthorizations.inc({ result });
    // The tunnel ended while its review was in flight: nothing to act on.
    if (entry.state !== 'checking') return;
    const log = this.#deps.logger;
    if (result === 'denied') {
      this.#drop(entry);
      log.info({ event: 'session-revoked', ...tunnel.logFields, reason: denial }, 'authorization of an open tunnel was revoked; ending it');
      tunnel.onDenied(denial);
      return;
    }
    if (result === 'error' && !entry.failing) {
      log.warn({ ...tunnel.logFields, err: failure }, 'cannot re-authorize an open tunnel; it stays open (it was authorized) and is checked again');
    } else if (result === 'allowed' && entry.failing) {
      log.info({ ...tunnel.logFields }, 'an open tunnel is re-authorized again');
    }
    entry.failing = result === 'error';
    this.#wait(entry, this.#intervalMs * (1 - JITTER + 2 * JITTER * this.#random()));
  }
}
