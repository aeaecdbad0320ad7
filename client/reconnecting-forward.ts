// A forward that outlives the tunnels it runs on: when a session ends for a
// reason that may pass (reconnect-policy.ts), it waits (backoff.ts), resolves
// the target again when the pod itself is gone and the target is a workload,
// and opens the same listeners again: the same pod ports, and for a `0:LOCAL`
// spec the port the pod gave it before. It reports each state change to its
// caller and ends on a final error, on close(), or on the caller's signal.

import type { Clock } from './clock.ts';
import { Backoff } from './backoff.ts';
import { RpfClientError, toClientError } from './errors.ts';
import type { ListenerBinding } from './forwarder.ts';
import type { ForwardTunnel, TunnelOpener } from './forward-tunnel.ts';
import type { PodLeaving } from './pod-watch.ts';
import type { PortMapping } from './port-spec.ts';
import type { ResolvedPod } from './pod-resolver.ts';
import { portInUse, reconnectVerdict } from './reconnect-policy.ts';

/** How a forward ended. */
export interface ForwardEnd {
  /** Undefined when close() or the signal ended it; else the final error (POD_GONE, FORBIDDEN, SESSION_ENDED, ... or, with reconnection off, CONNECTION_LOST, KEEPALIVE_TIMEOUT). */
  error?: RpfClientError;
}

/** A change of state of a forward, as {@link ReconnectingForwardOptions.onStateChange} reports it. */
export type ForwardStateChange =
  | {
      /** Listeners are open in the pod: the first time, and after every reconnect. */
      readonly state: 'connected';
      readonly pod: ResolvedPod;
      readonly listeners: readonly ListenerBinding[];
      readonly protocol: string;
      /** How many times the forward has reconnected so far (0 for the first connection). */
      readonly reconnects: number;
    }
  | {
      /** The session was lost (attempt 1) or an attempt failed (attempt 2, 3, ...); the next attempt follows after `delayMs`. */
      readonly state: 'reconnecting';
      readonly reason: RpfClientError;
      readonly attempt: number;
      readonly delayMs: number;
    }
  | {
      /** The forward is over; `error` is undefined after close() or the signal. */
      readonly state: 'ended';
      readonly error?: RpfClientError;
    };

/** The state a forward is in. */
export type ForwardState = ForwardStateChange['state'];

/**
 * How long after a drop a 409 on a port the pod had picked for a `0:LOCAL`
 * spec still counts as our own old session holding it: the agent ends a
 * client it no longer hears from after its keepalive timeout (12 s), so the
 * port comes free within this; after it, someone else has it and the spec
 * asks for any free port again.
 */
export const DEFAULT_PORT_RECLAIM_MS = 20_000;

/** Options of {@link ReconnectingForward}. */
export interface ReconnectingForwardOptions {
  /** The tunnel the forward started with. */
  first: ForwardTunnel;
  /** The port specs, in order (`0:LOCAL` specs have remote 0). */
  mappings: readonly PortMapping[];
  /** Whether to reconnect at all (false: the first lost session ends the forward, as before issue 11). */
  reconnect: boolean;
  /** True for TYPE/NAME targets other than pods: a pod that is gone is followed to another pod of the target. */
  followsWorkload: boolean;
  /** The target as the user wrote it, for messages (`deployment/web`). */
  targetName: string;
  /** Opens one tunnel. */
  open: TunnelOpener;
  /** Resolves the target to a Ready pod of it (workload targets). */
  resolve: (signal: AbortSignal) => Promise<ResolvedPod>;
  /**
   * Workload targets: resolves once the pod in use is terminating, so the
   * forward moves to a Ready pod of the workload before the old one is gone
   * (make before break). Unset: only a lost session moves it.
   */
  podLeaving?: PodLeaving;
  clock: Clock;
  /** Delays between attempts (default: 0.5 s doubling to 10 s, with jitter). */
  backoff?: Backoff;
  /** See {@link DEFAULT_PORT_RECLAIM_MS}. */
  portReclaimMs?: number;
  /** Notes for the user (the CLI's stderr). */
  log: (line: string) => void;
  /** Detail for -v. */
  debug?: (line: string) => void;
  /** Told of every state change, the first 'connected' included. */
  onStateChange?: (change: ForwardStateChange) => void;
  /** Aborting it ends the forward like close(). */
  signal?: AbortSignal;
}

/** Collapses a message to one line, as the CLI prints every line. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** A forward that reconnects; see the file's comment. */
export class ReconnectingForward {
  readonly #options: ReconnectingForwardOptions;
  readonly #backoff: Backoff;
  readonly #stop = new AbortController();
  /** The pod port each `0:LOCAL` spec got last; undefined: ask for any. */
  readonly #picked: Array<number | undefined>;
  #tunnel: ForwardTunnel;
  #pod: ResolvedPod;
  #state: ForwardState = 'connected';
  #connectedAt: number;
  #reconnects = 0;

  /** Resolves once the forward is over, however it ended; never rejects. */
  readonly closed: Promise<ForwardEnd>;

  constructor(options: ReconnectingForwardOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? new Backoff();
    this.#tunnel = options.first;
    this.#pod = options.first.pod;
    this.#picked = options.mappings.map(() => undefined);
    this.#remember(options.first);
    this.#connectedAt = options.clock.now();
    this.#emit({ state: 'connected', pod: this.#pod, listeners: options.first.listeners, protocol: options.first.protocol, reconnects: 0 });
    this.closed = this.#run().then((end) => {
      this.#state = 'ended';
      this.#emit({ state: 'ended', ...(end.error === undefined ? {} : { error: end.error }) });
      return end;
    });
    const { signal } = options;
    signal?.addEventListener('abort', () => void this.close(), { once: true });
    if (signal?.aborted) void this.close();
  }

  /** The state now. */
  get state(): ForwardState {
    return this.#state;
  }

  /** The tunnel in use, or the last one while reconnecting. */
  get tunnel(): ForwardTunnel {
    return this.#tunnel;
  }

  /** Ends the forward: closes the tunnel or stops reconnecting; resolves once it is over. */
  async close(): Promise<void> {
    if (!this.#stop.signal.aborted) {
      this.#stop.abort(new RpfClientError('RPF_ERR_CLIENT_ABORTED', 'closed'));
      await this.#tunnel.close();
    }
    await this.closed;
  }

  #emit(change: ForwardStateChange): void {
    try {
      this.#options.onStateChange?.(change);
    } catch (error) {
      // The caller's bug must not stop the forward.
      this.#options.debug?.(`onStateChange threw: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /** Keeps the ports the pod picked for `0:LOCAL` specs, to ask for them again. */
  #remember(tunnel: ForwardTunnel): void {
    this.#options.mappings.forEach((mapping, index) => {
      if (mapping.remote === 0) this.#picked[index] = tunnel.specPorts[index] ?? this.#picked[index];
    });
  }

  /** The specs as a reconnect asks for them: a picked port instead of 0 where the pod gave one. */
  #requestMappings(): PortMapping[] {
    return this.#options.mappings.map((mapping, index) => {
      const picked = this.#picked[index];
      return mapping.remote === 0 && picked !== undefined ? { ...mapping, remote: picked } : mapping;
    });
  }

  async #run(): Promise<ForwardEnd> {
    for (;;) {
      const tunnel = this.#tunnel;
      if (await this.#leftBeforeEnd(tunnel)) {
        const moved = await this.#move(tunnel);
        if (moved !== undefined) {
          this.#tunnel = moved;
          // Its connections are reset: the pod they went to is terminating.
          void tunnel.close();
          continue;
        }
      }
      const lost = await tunnel.ended;
      if (lost === undefined || this.#stop.signal.aborted) return {};
      const verdict = reconnectVerdict(lost, this.#options.followsWorkload);
      if (!this.#options.reconnect || verdict === 'final') return { error: lost };
      this.#state = 'reconnecting';
      this.#options.log(`${oneLine(lost.message)}; reconnecting`);
      // A session that lived a while starts the backoff over; one that
      // dropped at once (a flapping path) keeps backing off.
      if (this.#options.clock.now() - this.#connectedAt >= this.#backoff.maxMs) this.#backoff.reset();
      const next = await this.#reconnect(lost, verdict === 'follow');
      if (next === undefined) return {};
      if (next instanceof RpfClientError) return { error: next };
      this.#tunnel = next;
    }
  }

  /** Waits for the tunnel's end or, for a workload, its pod leaving; true for the latter. */
  async #leftBeforeEnd(tunnel: ForwardTunnel): Promise<boolean> {
    const { podLeaving } = this.#options;
    if (podLeaving === undefined || !this.#options.reconnect) return false;
    const watching = new AbortController();
    const stop = AbortSignal.any([watching.signal, this.#stop.signal]);
    try {
      return await Promise.race([tunnel.ended.then(() => false), podLeaving(tunnel.pod, stop).then(() => !stop.aborted)]);
    } finally {
      watching.abort();
    }
  }

  /**
   * The pod in use is terminating: opens a tunnel to a Ready pod of the
   * workload while the old one still serves, and returns it; undefined when
   * there is none yet, the old tunnel ended meanwhile (the ordinary follow
   * takes over), or the forward was stopped.
   */
  async #move(old: ForwardTunnel): Promise<ForwardTunnel | undefined> {
    const { clock, debug, log } = this.#options;
    const moving = new AbortController();
    const signal = AbortSignal.any([moving.signal, this.#stop.signal]);
    void old.ended.then(() => moving.abort());
    try {
      const pod = await this.#options.resolve(signal);
      if (pod.name === old.pod.name && pod.namespace === old.pod.namespace) return undefined;
      log(`pod ${old.pod.namespace}/${old.pod.name} is terminating; following ${this.#options.targetName} to pod ${pod.namespace}/${pod.name}`);
      const tunnel = await this.#options.open(pod, this.#requestMappings(), signal);
      if (signal.aborted) {
        await tunnel.close();
        return undefined;
      }
      this.#pod = pod;
      this.#remember(tunnel);
      this.#connectedAt = clock.now();
      this.#reconnects++;
      this.#emit({ state: 'connected', pod: tunnel.pod, listeners: tunnel.listeners, protocol: tunnel.protocol, reconnects: this.#reconnects });
      return tunnel;
    } catch (error) {
      debug?.(`Not moving to another pod: ${(error as Error)?.message ?? String(error)}`);
      return undefined;
    } finally {
      moving.abort();
    }
  }

  /** Attempts until a tunnel is up (returned), a final error (returned), or the stop (undefined). */
  async #reconnect(lost: RpfClientError, follow: boolean): Promise<ForwardTunnel | RpfClientError | undefined> {
    const { clock, log, open } = this.#options;
    const stop = this.#stop.signal;
    const droppedAt = clock.now();
    let reason = lost;
    let lastLine = '';
    for (let attempt = 1; ; attempt++) {
      const delayMs = this.#backoff.next();
      this.#emit({ state: 'reconnecting', reason, attempt, delayMs });
      try {
        await clock.sleep(delayMs, stop);
      } catch {
        return undefined;
      }
      try {
        if (follow) {
          const pod = await this.#options.resolve(stop);
          if (pod.name !== this.#pod.name || pod.namespace !== this.#pod.namespace) {
            log(`following ${this.#options.targetName} to pod ${pod.namespace}/${pod.name}`);
          }
          this.#pod = pod;
          follow = false;
        }
        const tunnel = await open(this.#pod, this.#requestMappings(), stop);
        if (stop.aborted) {
          await tunnel.close();
          return undefined;
        }
        this.#remember(tunnel);
        this.#connectedAt = clock.now();
        this.#reconnects++;
        this.#state = 'connected';
        this.#emit({ state: 'connected', pod: tunnel.pod, listeners: tunnel.listeners, protocol: tunnel.protocol, reconnects: this.#reconnects });
        return tunnel;
      } catch (caught) {
        if (stop.aborted) return undefined;
        const error = toClientError(caught);
        const verdict = reconnectVerdict(error, this.#options.followsWorkload);
        if (verdict === 'final') return error;
        if (verdict === 'follow') follow = true;
        this.#releasePicked(portInUse(error), clock.now() - droppedAt);
        reason = error;
        // One line per new reason, not one per attempt: a long outage says
        // what it is once.
        const line = `still reconnecting: ${oneLine(error.message)}`;
        if (line !== lastLine) log(line);
        lastLine = line;
      }
    }
  }

  /**
   * A 409 on a port the pod had picked for a `0:LOCAL` spec: past the
   * reclaim time it is someone else's now, and the spec asks for any free port.
   */
  #releasePicked(port: number | undefined, sinceDropMs: number): void {
    if (port === undefined) return;
    const index = this.#picked.findIndex((picked, i) => picked === port && this.#options.mappings[i]?.remote === 0);
    if (index === -1 || sinceDropMs < (this.#options.portReclaimMs ?? DEFAULT_PORT_RECLAIM_MS)) return;
    this.#picked[index] = undefined;
    this.#options.log(`port ${port} in the pod is taken now; asking for any free port instead`);
  }
}
