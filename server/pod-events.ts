/**
 * Events on a session's pod (issue 11), so `kubectl describe pod` and
 * `kubectl get events` show who tunnelled into it: one when a session opens
 * (user, ports, addresses) and one when it closes (duration, bytes each way,
 * how it ended). events.k8s.io/v1, reported by `rpf.kube-rpf.dev/rpf-server`.
 *
 * Events are a record, never a gate: recording is fire and forget from a
 * bounded queue, a failure is logged and counted, and a tunnel never waits
 * for kube-apiserver. A reconnect loop must not flood etcd, so sessions are
 * rate limited before anything is queued, by two token buckets: one per
 * (pod, user) (a burst of 10 sessions, then one a minute) and one for the
 * whole server (100, then 2 a second). A session either gets both of its
 * Events or neither, so the record never shows an open without its close;
 * the next recorded session says how many were left out.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { truncateUtf8 } from '../protocol/index.ts';
import type { Clock } from './clock.ts';
import { formatGoDuration } from './duration.ts';
import type { GovernanceMetrics } from './governance-metrics.ts';
import type { SessionEnd, SessionFields } from './logging.ts';

/** The reportingController of every Event rpf-server records. */
export const REPORTING_CONTROLLER = 'rpf.kube-rpf.dev/rpf-server';

/** The reasons of session Events. */
export const EVENT_REASON = { opened: 'ReversePortForwardOpened', closed: 'ReversePortForwardClosed' } as const;

/** The actions of session Events. */
export const EVENT_ACTION = { opened: 'Open', closed: 'Close' } as const;

/** Longest note events.k8s.io/v1 accepts (bytes). */
export const MAX_NOTE_BYTES = 1024;

/** One Event about a pod, as {@link PodEventsClient} creates it. */
export interface PodEvent {
  readonly namespace: string;
  readonly name: string;
  readonly regarding: { readonly name: string; readonly uid: string };
  readonly reason: string;
  readonly action: string;
  readonly type: 'Normal' | 'Warning';
  readonly note: string;
  /** ms since the epoch. */
  readonly eventTime: number;
  readonly reportingController: string;
  readonly reportingInstance: string;
}

/** Creates Events in kube-apiserver (server/events-client.ts); rejects on failure. */
export interface PodEventsClient {
  createEvent(event: PodEvent): Promise<void>;
}

/** A session, as its Events describe it. */
export interface SessionFacts extends Pick<SessionFields, 'user' | 'namespace' | 'pod' | 'podUID' | 'ports' | 'addresses'> {
  /** The agent's session id ('' when the agent did not name it). */
  readonly sessionId: string;
}

/** A token bucket: `burst` tokens, one more every `refillMs`. */
export interface BucketLimit {
  readonly burst: number;
  readonly refillMs: number;
}

/** Bounds of the recorder. */
export interface PodEventLimits {
  /** Sessions recorded per (pod, user). */
  readonly perKey: BucketLimit;
  /** Sessions recorded by this server in all. */
  readonly global: BucketLimit;
  /** Events waiting for kube-apiserver; more are dropped. */
  readonly maxQueued: number;
  /** Event creations in flight at once. */
  readonly concurrency: number;
  /** (pod, user) buckets kept; the least recently used go first. */
  readonly maxKeys: number;
}

/** The defaults described at the top of this file. */
export const DEFAULT_POD_EVENT_LIMITS: PodEventLimits = {
  perKey: { burst: 10, refillMs: 60_000 },
  global: { burst: 100, refillMs: 500 },
  maxQueued: 1000,
  concurrency: 4,
  maxKeys: 10_000,
};

/** What {@link PodEventRecorder} needs. */
export interface PodEventRecorderDeps {
  readonly client: PodEventsClient;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GovernanceMetrics;
  /** The reportingInstance: this rpf-server's pod name. */
  readonly instance: string;
  readonly limits?: PodEventLimits;
}

interface Bucket {
  tokens: number;
  at: number;
  /** Sessions not recorded since the last recorded one. */
  skipped: number;
}

function take(bucket: Bucket, limit: BucketLimit, now: number): boolean {
  const refilled = Math.floor((now - bucket.at) / limit.refillMs);
  if (refilled > 0) {
    bucket.tokens = Math.min(limit.burst, bucket.tokens + refilled);
    bucket.at = bucket.tokens === limit.burst ? now : bucket.at + refilled * limit.refillMs;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens--;
  return true;
}

function listOf(values: readonly (number | string)[]): string {
  return values.length === 0 ? 'none' : values.join(', ');
}

function portsPhrase(facts: SessionFacts): string {
  // Port 0 asks the agent for any free port; the agent tells the client which.
  const ports = facts.ports.map((p) => (p === 0 ? 'any free port' : String(p)));
  return `${facts.ports.length === 1 ? 'port' : 'ports'} ${listOf(ports)} on ${listOf(facts.addresses)}`;
}

/**
 * How a session ended, in words, for its closing Event. rpf-server does not
 * parse the tunnel, so a clean close is known only by which socket closed
 * first; the agent's closes first even when the client said goodbye (the
 * WebSocket server closes the TCP connection), so both are worded as a close.
 */
export function endPhrase(end: SessionEnd): string {
  const detail = end.detail ?? end.error ?? '';
  switch (end.endedBy) {
    case 'client':
      return 'the client closed the tunnel';
    case 'agent':
      return 'the tunnel closed (the client left, or the rpf-agent ended it: pod gone, idle timeout, deleted)';
    case 'client-error':
      return `the connection to the client failed${detail === '' ? '' : `: ${detail}`}`;
    case 'agent-error':
      return `the connection to the rpf-agent failed${detail === '' ? '' : `: ${detail}`}`;
    case 'server-shutdown':
      return 'rpf-server shut down';
    case 'revoked':
      return `authorization was revoked${detail === '' ? '' : `: ${detail}`}`;
    case 'max-lifetime':
      return detail === '' ? 'it reached its maximum lifetime' : detail;
  }
}

/** The note of an opened Event. */
export function openedNote(facts: SessionFacts, skipped: number): string {
  const session = facts.sessionId === '' ? '' : ` (session ${facts.sessionId})`;
  const left = skipped === 0 ? '' : `; ${skipped} earlier ${skipped === 1 ? 'session' : 'sessions'} of this user to this pod were not recorded (rate limit)`;
  return truncateUtf8(`User ${JSON.stringify(facts.user)} opened a reverse port-forward to ${portsPhrase(facts)}${session}${left}`, MAX_NOTE_BYTES).toString('utf8');
}

/** The note of a closed Event. */
export function closedNote(facts: SessionFacts, end: SessionEnd): string {
  const session = facts.sessionId === '' ? '' : ` (session ${facts.sessionId})`;
  const text = `Reverse port-forward of user ${JSON.stringify(facts.user)} to ${portsPhrase(facts)}${session} closed after ${formatGoDuration(Math.max(0, Math.round(end.durationMs)))}, ${end.bytesToPod} bytes to the pod and ${end.bytesFromPod} from it: ${endPhrase(end)}`;
  return truncateUtf8(text, MAX_NOTE_BYTES).toString('utf8');
}

/** Warning for ends a person should look at; Normal otherwise. */
function closedType(end: SessionEnd): 'Normal' | 'Warning' {
  return end.endedBy === 'revoked' || end.endedBy === 'client-error' || end.endedBy === 'agent-error' ? 'Warning' : 'Normal';
}

/** An Event name: the pod's (a DNS subdomain, cut, without a trailing dot or dash) and random hex, as client-go names them. */
function eventName(pod: string): string {
  const base = pod.slice(0, 200).replace(/[^a-z0-9]+$/, '');
  return `${base === '' ? 'pod' : base}.${randomBytes(8).toString('hex')}`;
}

/** Records session Events on pods, rate limited, through a bounded queue. */
export class PodEventRecorder {
  readonly #deps: PodEventRecorderDeps;
  readonly #limits: PodEventLimits;
  readonly #buckets = new Map<string, Bucket>();
  readonly #global: Bucket;
  readonly #queue: PodEvent[] = [];
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(deps: PodEventRecorderDeps) {
    this.#deps = deps;
    this.#limits = deps.limits ?? DEFAULT_POD_EVENT_LIMITS;
    this.#global = { tokens: this.#limits.global.burst, at: deps.clock.now(), skipped: 0 };
  }

  /** Events queued or being created. */
  get pending(): number {
    return this.#queue.length + this.#inFlight;
  }

  /**
   * Records that a session opened, if the rate limits allow; returns what
   * records its end (a no-op when its opening was not recorded).
   */
  opened(facts: SessionFacts): (end: SessionEnd) => void {
    const now = this.#deps.clock.now();
    const bucket = this.#bucket(`${facts.podUID}\u0000${facts.user}`, now);
    // The per-key bucket is asked first, so one looping user does not drain the global one.
    if (!take(bucket, this.#limits.perKey, now) || !take(this.#global, this.#limits.global, now)) {
      bucket.skipped++;
      this.#deps.metrics.podEvents.inc({ result: 'rate_limited' }, 2);
      return () => {};
    }
    const skipped = bucket.skipped;
    bucket.skipped = 0;
    this.#enqueue(this.#event(facts, EVENT_REASON.opened, EVENT_ACTION.opened, 'Normal', openedNote(facts, skipped), now));
    return (end) => this.#enqueue(this.#event(facts, EVENT_REASON.closed, EVENT_ACTION.closed, closedType(end), closedNote(facts, end), this.#deps.clock.now()));
  }

  /** Resolves when every queued Event was sent, or after `timeoutMs` (shutdown). */
  flush(timeoutMs: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #bucket(key: string, now: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket !== undefined) {
      // Most recently used last, so eviction takes the coldest key.
      this.#buckets.delete(key);
    } else {
      bucket = { tokens: this.#limits.perKey.burst, at: now, skipped: 0 };
    }
    this.#buckets.set(key, bucket);
    while (this.#buckets.size > this.#limits.maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest === undefined) break;
      this.#buckets.delete(oldest);
    }
    return bucket;
  }

  #event(facts: SessionFacts, reason: string, action: string, type: 'Normal' | 'Warning', note: string, at: number): PodEvent {
    return {
      namespace: facts.namespace,
      name: eventName(facts.pod),
      regarding: { name: facts.pod, uid: facts.podUID },
      reason,
      action,
      type,
      note,
      eventTime: at,
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#deps.instance,
    };
  }

  #enqueue(event: PodEvent): void {
    if (this.#queue.length >= this.#limits.maxQueued) {
      this.#deps.metrics.podEvents.inc({ result: 'queue_full' });
      return;
    }
    this.#queue.push(event);
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.#limits.concurrency && this.#queue.length > 0) {
      const event = this.#queue.shift()!;
      this.#inFlight++;
      this.#deps.client.createEvent(event).then(
        () => this.#deps.metrics.podEvents.inc({ result: 'created' }),
        (err: unknown) => {
          this.#deps.metrics.podEvents.inc({ result: 'failed' });
          this.#deps.logger.warn({ err, namespace: event.namespace, pod: event.regarding.name, reason: event.reason }, 'cannot record an Event on the pod');
        },
      ).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.pending === 0) for (const done of this.#idle.splice(0)) done();
      });
    }
  }
}
