// One reverse port-forward session on the agent's side: the WebSocket to the
// client, the protocol session on it, and the listeners in the pod. Every
// connection a process in the pod makes to a listener becomes a channel in
// the tunnel. Listeners close the moment the session ends, however it ends.
// Its start and end lines carry rpf-server's event and field names
// (server/logging.ts), so one query finds a session on both sides.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import {
  CHANNEL_REASON,
  GOAWAY_REASON,
  Session,
  isRpfProtocolError,
  joinSocket,
  readIntoChannel,
  releaseConsumedReads,
  SharedReadBuffer,
  truncateUtf8,
  type Channel,
  type GoawayReason,
} from '../protocol/index.ts';
import { systemClock, type Clock } from './clock.ts';
import type { AgentMetrics } from './metrics.ts';
import { DEFAULT_MAX_PEER_BACKLOG_BYTES, guardPeerBacklog } from './peer-backlog.ts';
import type { OpenedListener } from './netns-listeners.ts';
import { adoptConnection } from './pod-socket.ts';

/** Who asked for the session and for which pod. */
export interface SessionTarget {
  namespace: string;
  pod: string;
  podUID: string;
  user: string;
}

/** Limits applied to one session. */
export interface SessionLimits {
  maxConnections: number;
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  /** End the session after this long without any pod connection open (0: never). */
  idleTimeoutMs: number;
  /** End the session when its WebSocket holds more than this unread by the peer (default DEFAULT_MAX_PEER_BACKLOG_BYTES). */
  maxPeerBacklogBytes?: number;
}

/**
 * Why a session ended: the `endedBy` of its session-end log line, named as
 * rpf-server's are (server/logging.ts).
 */
export const SESSION_END = Object.freeze({
  /** The client ended the tunnel: a GOAWAY, or a clean WebSocket close. */
  CLIENT: 'client',
  /** The tunnel failed on the client's side: a protocol error, no keepalive answer, a WebSocket error or abnormal close. */
  CLIENT_ERROR: 'client-error',
  /** The client left more than --max-peer-backlog-bytes unread. */
  PEER_BACKLOG: 'peer-backlog',
  /** No pod connection was open for --idle-timeout-seconds. */
  IDLE_TIMEOUT: 'idle-timeout',
  /** The session's pod went away. */
  POD_GONE: 'pod-gone',
  /** An administrator deleted the session. */
  DELETED: 'deleted',
  /** rpf-server ended it: the user's authorization was revoked (GOAWAY FORBIDDEN). */
  FORBIDDEN: 'forbidden',
  /** rpf-server ended it by policy, e.g. the maximum session lifetime (GOAWAY POLICY). */
  POLICY: 'policy',
  /** rpf-agent is shutting down. */
  AGENT_SHUTDOWN: 'agent-shutdown',
  /** The agent ended it for another reason (a GOAWAY reason without a name here). */
  AGENT: 'agent',
} as const);

/** A value of {@link SESSION_END}. */
export type SessionEndReason = (typeof SESSION_END)[keyof typeof SESSION_END];

/** The end reason of a session the agent closes with a GOAWAY reason. */
function endReasonFor(reason: GoawayReason): SessionEndReason {
  switch (reason) {
    case GOAWAY_REASON.IDLE_TIMEOUT:
      return SESSION_END.IDLE_TIMEOUT;
    case GOAWAY_REASON.POD_GONE:
      return SESSION_END.POD_GONE;
    case GOAWAY_REASON.DELETED:
      return SESSION_END.DELETED;
    case GOAWAY_REASON.FORBIDDEN:
      return SESSION_END.FORBIDDEN;
    case GOAWAY_REASON.POLICY:
      return SESSION_END.POLICY;
    case GOAWAY_REASON.SHUTTING_DOWN:
      return SESSION_END.AGENT_SHUTDOWN;
    default:
      return SESSION_END.AGENT;
  }
}

/** A new session id: the pod's name (cut) and 8 random hex digits. */
export function newSessionId(pod: string): string {
  return `${pod.slice(0, 40)}-${randomBytes(4).toString('hex')}`;
}

/** Longest WebSocket close reason: a close frame's payload is at most 125 bytes, two of them the code. */
const MAX_CLOSE_REASON_BYTES = 123;

/** WebSocket close codes of a clean end (normal, going away, no status). */
const CLEAN_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1005]);

/** The session as listed by `GET /v1/sessions`. */
export interface SessionSummary {
  id: string;
  namespace: string;
  pod: string;
  podUID: string;
  user: string;
  ports: { address: string; port: number; requestedPort: number }[];
  connections: { open: number; total: number };
  bytesToPod: number;
  bytesFromPod: number;
  startTime: string;
}

/** A live session; created once the WebSocket is up and the listeners are open. */
export class TunnelSession {
  readonly id: string;
  readonly target: SessionTarget;
  readonly startTime: Date;
  readonly #clock: Clock;
  readonly #ws: WebSocket;
  readonly #session: Session;
  readonly #listeners: OpenedListener[];
  readonly #sockets = new Set<net.Socket>();
  readonly #metrics: AgentMetrics;
  readonly #log: Logger;
  readonly #limits: SessionLimits;
  #connectionsTotal = 0;
  #bytesToPod = 0;
  #bytesFromPod = 0;
  #ended = false;
  /** Set by the first cause: a close() before the protocol session's own 'close' keeps its reason. */
  #endedBy: SessionEndReason | undefined;
  #endError: string | undefined;
  #idleTimer: unknown;
  readonly #readBuffer: SharedReadBuffer;
  readonly #onEnd: (session: TunnelSession) => void;

  constructor(options: {
    ws: WebSocket;
    target: SessionTarget;
    listeners: OpenedListener[];
    limits: SessionLimits;
    metrics: AgentMetrics;
    log: Logger;
    auditId?: string;
    onEnd: (session: TunnelSession) => void;
    /** Time for the idle timeout and the durations (default: the real clock). */
    clock?: Clock;
    /** The session's id (default: a new one); the agent names it in the 101 before the session exists. */
    id?: string;
    /** What pod connections read into; the agent shares one among its sessions (default: the session's own). */
    readBuffer?: SharedReadBuffer;
  }) {
    this.id = options.id ?? newSessionId(options.target.pod);
    this.target = options.target;
    this.#clock = options.clock ?? systemClock;
    this.startTime = new Date(this.#clock.now());
    this.#ws = options.ws;
    this.#listeners = options.listeners;
    this.#limits = options.limits;
    this.#metrics = options.metrics;
    this.#log = options.log.child({ session: this.id, ...(options.auditId ? { auditId: options.auditId } : {}) });
    this.#onEnd = options.onEnd;
    this.#readBuffer = options.readBuffer ?? new SharedReadBuffer();
    const maxBacklog = options.limits.maxPeerBacklogBytes ?? DEFAULT_MAX_PEER_BACKLOG_BYTES;
    const backlogExceeded = guardPeerBacklog(this.#ws, maxBacklog, (buffered) => {
      this.#metrics.sessionsEnded.inc({ reason: 'peer_backlog' });
      this.#log.warn({ bufferedBytes: buffered, maxPeerBacklogBytes: maxBacklog }, 'the tunnel peer leaves too much unread: session ended');
      // Nothing more can reach a peer that does not read: no GOAWAY, just the end.
      this.end(SESSION_END.PEER_BACKLOG, `the peer left more than ${maxBacklog} bytes unread`);
    });
    this.#session = new Session({
      role: 'agent',
      maxChannels: options.limits.maxConnections,
      keepaliveIntervalMs: options.limits.keepaliveIntervalMs,
      keepaliveTimeoutMs: options.limits.keepaliveTimeoutMs,
      // ws keeps no reference to a message after its 'message' event.
      releaseReceived: true,
      send: (message, done) => {
        this.#ws.send(message, { binary: true }, done);
        backlogExceeded();
      },
    });
    this.#session.on('error', (error) => this.#log.warn({ code: error.code, err: error.message }, 'tunnel protocol error'));
    this.#session.on('close', (error) => (error ? this.end(SESSION_END.CLIENT_ERROR, `${error.code}: ${error.message}`) : this.end(SESSION_END.CLIENT)));
    // The session frees each message once handled (releaseReceived), this the reads ws copied into it (issue 9).
    releaseConsumedReads(this.#ws);
    this.#ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!backlogExceeded()) this.#session.receive(data, isBinary);
    });
    this.#ws.on('close', (code, reason) =>
      CLEAN_CLOSE_CODES.has(code) ? this.end(SESSION_END.CLIENT) : this.end(SESSION_END.CLIENT_ERROR, `websocket closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`),
    );
    this.#ws.on('error', (error) => this.end(SESSION_END.CLIENT_ERROR, `websocket error: ${error.message}`));
    for (const listener of this.#listeners) {
      listener.server.on('connection', (socket) => this.#accept(listener, socket));
      listener.server.on('error', (error) => this.#log.warn({ err: error.message }, 'listener error'));
    }
    this.#metrics.sessionsActive.inc();
    this.#metrics.listenersActive.inc(this.#listeners.length);
    this.#session.sendListening(this.#listeners.map(({ address, port, requestedPort }) => ({ address, port, requestedPort })));
    this.#armIdleTimer();
    this.#log.info({ event: 'session-start', ...this.#logFields() }, 'reverse port-forward session started');
  }

  /** The fields both log lines carry, named as rpf-server's (ports and addresses as requested; listeners as opened). */
  #logFields(): Record<string, unknown> {
    const { user, namespace, pod, podUID } = this.target;
    return {
      user,
      namespace,
      pod,
      podUID,
      ports: [...new Set(this.#listeners.map((l) => l.requestedPort))],
      addresses: [...new Set(this.#listeners.map((l) => l.address))],
      listeners: this.ports(),
    };
  }

  /** The listeners as `{address, port, requestedPort}`. */
  ports(): SessionSummary['ports'] {
    return this.#listeners.map(({ address, port, requestedPort }) => ({ address, port, requestedPort }));
  }

  /** What `GET /v1/sessions` reports. */
  summary(): SessionSummary {
    const { toPod, fromPod } = this.bytes;
    return {
      id: this.id,
      ...this.target,
      ports: this.ports(),
      connections: { open: this.#sockets.size, total: this.#connectionsTotal },
      bytesToPod: toPod,
      bytesFromPod: fromPod,
      startTime: this.startTime.toISOString(),
    };
  }

  /** Ends the session: GOAWAY to the client, listeners and pod connections closed. */
  close(reason: GoawayReason, message: string): void {
    this.#endedBy ??= endReasonFor(reason);
    this.#session.close(reason, message);
    // ws throws on a reason over 123 bytes: cut by bytes, not characters (a user name may be any UTF-8).
    this.#ws.close(1000, truncateUtf8(message, MAX_CLOSE_REASON_BYTES));
    this.end(endReasonFor(reason));
  }

  /** Releases everything; safe to call more than once (the first reason is the one logged). */
  end(reason: SessionEndReason, error?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#endedBy === undefined) {
      this.#endedBy = reason;
      this.#endError = error;
    }
    this.#clock.clearTimeout(this.#idleTimer);
    for (const listener of this.#listeners) listener.server.close();
    this.#metrics.listenersActive.dec(this.#listeners.length);
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#session.destroy();
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) this.#ws.terminate();
    this.#metrics.sessionsActive.dec();
    this.#log.info(
      {
        event: 'session-end',
        ...this.#logFields(),
        connections: this.#connectionsTotal,
        durationMs: this.#clock.now() - this.startTime.getTime(),
        endedBy: this.#endedBy,
        bytesToPod: this.bytes.toPod,
        bytesFromPod: this.bytes.fromPod,
        ...(this.#endError === undefined ? {} : { error: this.#endError }),
      },
      'reverse port-forward session ended',
    );
    this.#onEnd(this);
  }

  #accept(listener: OpenedListener, accepted: net.Socket): void {
    if (this.#ended) {
      this.#metrics.connectionsRejected.inc({ reason: 'session_closing' });
      accepted.resetAndDestroy();
      return;
    }
    let channel: Channel;
    try {
      channel = this.#session.open({
        listenerPort: listener.port,
        address: listener.address,
        peer: `${accepted.remoteAddress}:${accepted.remotePort}`,
      });
    } catch (error) {
      if (isRpfProtocolError(error) && error.code === 'RPF_ERR_PROTOCOL_CONNECTION_LIMIT') {
        this.#metrics.connectionsRejected.inc({ reason: 'connection_limit' });
        this.#log.warn({ limit: this.#limits.maxConnections }, 'reverse port-forward connection limit reached');
      } else {
        this.#metrics.connectionsRejected.inc({ reason: 'session_closing' });
      }
      accepted.resetAndDestroy();
      return;
    }
    // Reads go straight into the channel through one buffer shared by the
    // session's connections (readIntoChannel); joinSocket still carries FIN and errors.
    const socket = adoptConnection(accepted, readIntoChannel(channel, this.#readBuffer.memory, () => socket.resume()));
    this.#connectionsTotal++;
    this.#sockets.add(socket);
    this.#clock.clearTimeout(this.#idleTimer);
    socket.setNoDelay(true);
    const started = this.#clock.now();
    let outcome: 'completed' | 'reset' | 'local_unreachable' = 'completed';
    // joinSocket pipes both ways with backpressure (the channel's writes wait
    // for the client's credit), carries a FIN as EOF, and turns a RESET, a
    // refused local dial or the session's end into a TCP RST for the pod.
    joinSocket(channel, socket, (error) => {
      if (!error) return;
      const refused = isRpfProtocolError(error) && (error.reason === CHANNEL_REASON.CONNECT_REFUSED || error.reason === CHANNEL_REASON.CONNECT_FAILED);
      outcome = refused ? 'local_unreachable' : 'reset';
      if (refused) this.#metrics.errors.inc({ type: 'local_unreachable' });
      this.#log.debug({ peer: `${socket.remoteAddress}:${socket.remotePort}`, err: error.message }, 'pod connection reset');
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      // The socket's own counters: no per-chunk work on the data path.
      this.#bytesFromPod += socket.bytesRead;
      this.#bytesToPod += socket.bytesWritten;
      this.#metrics.connectionsTotal.inc({ outcome });
      this.#metrics.bytes.inc({ direction: 'from_pod' }, socket.bytesRead);
      this.#metrics.bytes.inc({ direction: 'to_pod' }, socket.bytesWritten);
      this.#metrics.connectionDuration.observe((this.#clock.now() - started) / 1000);
      this.#log.debug({ peer: `${socket.remoteAddress}:${socket.remotePort}`, outcome }, 'pod connection closed');
      if (this.#sockets.size === 0) this.#armIdleTimer();
    });
  }

  #armIdleTimer(): void {
    if (this.#limits.idleTimeoutMs <= 0 || this.#ended) return;
    this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = this.#clock.setTimeout(() => this.close(GOAWAY_REASON.IDLE_TIMEOUT, `session idle for ${this.#limits.idleTimeoutMs / 1000}s`), this.#limits.idleTimeoutMs);
  }

  /** Bytes our WebSocket holds that the peer has not read yet (bounded by maxPeerBacklogBytes). */
  get peerBacklogBytes(): number {
    return this.#ws.bufferedAmount;
  }

  /** Bytes carried so far: closed connections plus the open ones' counters. */
  get bytes(): { toPod: number; fromPod: number } {
    let toPod = this.#bytesToPod;
    let fromPod = this.#bytesFromPod;
    for (const socket of this.#sockets) {
      toPod += socket.bytesWritten;
      fromPod += socket.bytesRead;
    }
    return { toPod, fromPod };
  }
}
