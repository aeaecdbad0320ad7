// rpf-agent's API (docs/agent-api.md) on a mutual-TLS server: only rpf-server's
// client certificate may open, list or end sessions; /healthz answers anyone,
// for kubelet's probes. A session request opens every listener in the pod
// first and only then upgrades to the tunnel, so every failure is a plain HTTP
// answer with a Status body that rpf-server relays to the user.
//
// One port, two protocols chosen by ALPN: HTTP/1.1 for tunnels (a WebSocket
// upgrade), probes and any client that offers nothing else; HTTP/2 for
// rpf-server's listing and deleting, over a connection it keeps (issue 12).
// Only rpf-server's HTTP/2 connection is kept; others (kubelet's probes) have
// the bounds of any connection and reach /healthz only.
import http2 from 'node:http2';
import type { Http2ServerRequest, Http2SecureServer, ServerHttp2Session } from 'node:http2';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import {
  AGENT_HEALTHZ_PATH,
  AGENT_SESSION_ID_HEADER,
  AGENT_SESSIONS_PATH,
  GOAWAY_REASON,
  MAX_MESSAGE_SIZE,
  SharedReadBuffer,
  formatStatusResponse,
  parseAgentSessionEnd,
  parseAgentSessionPath,
  selectSubprotocol,
  successStatus,
  type AgentSessionList,
  type Status,
} from '../protocol/index.ts';
import { RpfAgentError, statusFor } from './errors.ts';
import type { AgentMetrics, AgentErrorType } from './metrics.ts';
import type { ListenerOpener, OpenedListener } from './netns-listeners.ts';
import type { NetnsResolver, PodNetns } from './netns-resolver.ts';
import { guardConnections, serverTimeouts, type ConnectionLimits } from './connection-guards.ts';
import { WS_SERVER_PING_OPTIONS } from './peer-backlog.ts';
import { PodWatcher, type WatcherTimers } from './pod-watcher.ts';
import { SessionSeats } from './session-seats.ts';
import { parseSessionRequest } from './session-request.ts';
import { TunnelSession, newSessionId, type SessionLimits } from './tunnel-session.ts';

/** What the agent's server is built from. */
export interface AgentServerDeps {
  tls: { cert: string | Buffer; key: string | Buffer; ca: string | Buffer };
  /** Client certificate CNs allowed to use the API (rpf-server's). */
  allowedClientNames: readonly string[];
  resolver: Pick<NetnsResolver, 'resolve' | 'hostNetnsId' | 'recheck'>;
  opener: ListenerOpener;
  metrics: AgentMetrics;
  log: Logger;
  limits: SessionLimits & {
    maxSessions: number;
    maxSessionsPerUser: number;
    allowHostNetwork: boolean;
    /** How often each session checks that its pod still runs (0: never). */
    podCheckIntervalMs: number;
  };
  /** Bounds on every connection from accept (finding 2); upgraded tunnels are not cut by them. */
  connections: ConnectionLimits;
  /** Timers of the pod watchers (tests drive them). */
  watcherTimers?: WatcherTimers;
}

const ERROR_TYPES: Partial<Record<string, AgentErrorType>> = {
  RPF_ERR_AGENT_PORT_IN_USE: 'port_conflict',
  RPF_ERR_AGENT_ADDRESS_UNAVAILABLE: 'address_unavailable',
  RPF_ERR_AGENT_NETNS: 'netns',
  RPF_ERR_AGENT_POD_NOT_FOUND: 'pod_not_found',
  RPF_ERR_AGENT_HOST_NETWORK: 'host_network',
  RPF_ERR_AGENT_SESSION_LIMIT: 'session_limit',
  RPF_ERR_AGENT_USER_SESSION_LIMIT: 'session_limit',
};

/**
 * Streams one HTTP/2 connection may carry at once. rpf-server sends one
 * request per listing or delete, so a handful is plenty; the bound keeps a
 * misbehaving rpf-server from making the agent hold thousands.
 */
export const MAX_H2_STREAMS = 32;

/**
 * How long rpf-server's HTTP/2 connection may stay idle. rpf-server closes its
 * own after AGENT_H2_IDLE_MS (server/agent-sessions.ts, 2 minutes); the agent
 * waits longer, so that the client, which knows when it is about to send,
 * is the one that closes.
 */
export const H2_IDLE_TIMEOUT_MS = 3 * 60_000;

/** What both an HTTP/1.1 and an HTTP/2 (compatibility API) response offer the handlers. */
interface Response {
  writeHead(statusCode: number, headers: OutgoingHttpHeaders): { end(body: string): unknown };
}

/** rpf-agent's TLS server and the sessions it holds. */
export class AgentServer {
  readonly server: Http2SecureServer;
  /** rpf-server's kept HTTP/2 connections, closed on shutdown (server.close waits for them). */
  readonly #h2Sessions = new Set<ServerHttp2Session>();
  readonly sessions = new Map<string, TunnelSession>();
  readonly #deps: AgentServerDeps;
  readonly #seats: SessionSeats;
  /** The id each upgrade's session will have, for the 101's X-Rpf-Session header. */
  readonly #pendingIds = new WeakMap<IncomingMessage, string>();
  /** What every pod connection of every session reads into (issue 9: one per agent, see readIntoChannel). */
  readonly #readBuffer = new SharedReadBuffer();
  readonly #wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_SIZE,
    clientTracking: false,
    // PINGs are answered by peer-backlog.ts, only while the peer reads.
    ...WS_SERVER_PING_OPTIONS,
    // ws would echo the client's first offer; answer with the version we speak.
    handleProtocols: (offered) => {
      const chosen = selectSubprotocol([...offered]);
      return chosen.ok ? chosen.protocol : false;
    },
  });

  constructor(deps: AgentServerDeps) {
    this.#deps = deps;
    this.#seats = new SessionSeats(deps.limits);
    // The 101 names the session, so rpf-server can end exactly this one (docs/agent-api.md).
    this.#wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const id = this.#pendingIds.get(req);
      if (id !== undefined) headers.push(`${AGENT_SESSION_ID_HEADER}: ${id}`);
    });
    this.server = http2.createSecureServer(
      {
        ...deps.tls,
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        // Tunnels, probes and clients without ALPN stay on HTTP/1.1 with every bound it had.
        allowHTTP1: true,
        settings: { maxConcurrentStreams: MAX_H2_STREAMS },
        ...serverTimeouts(deps.connections),
      },
      (req, res) => this.#handleRequest(req, res),
    );
    guardConnections(this.server, deps.connections, deps.metrics, deps.log);
    this.server.on('session', (session: ServerHttp2Session) => this.#acceptH2(session));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Node's HTTP server drops its own 'error' listener from an upgrade socket; without one,
      // a peer's reset while the listeners are being opened would crash the agent.
      socket.on('error', () => socket.destroy());
      this.#handleUpgrade(req, socket, head).catch((error: unknown) => this.#fail(socket, error));
    });
  }

  /** Ends every session (agent shutdown) and stops accepting new ones. */
  async close(): Promise<void> {
    for (const session of this.sessions.values()) session.close(GOAWAY_REASON.SHUTTING_DOWN, 'rpf-agent is shutting down');
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A kept HTTP/2 connection would hold server.close() until rpf-server let it go.
    for (const session of this.#h2Sessions) session.close();
    await closed;
  }

  /** Whether a TLS peer presented rpf-server's client certificate. */
  #isAllowedPeer(socket: TLSSocket): boolean {
    const cn = socket.authorized ? socket.getPeerCertificate()?.subject?.CN : undefined;
    const name = Array.isArray(cn) ? cn[0] : cn;
    return name !== undefined && name !== '' && this.#deps.allowedClientNames.includes(name);
  }

  #authenticate(req: IncomingMessage | Http2ServerRequest): void {
    if (!this.#isAllowedPeer(req.socket as TLSSocket)) {
      throw new RpfAgentError('RPF_ERR_AGENT_UNAUTHORIZED', 'rpf-agent accepts only rpf-server, authenticated by its client certificate');
    }
  }

  /**
   * An HTTP/2 connection. rpf-server's is kept between requests for up to
   * H2_IDLE_TIMEOUT_MS idle (the server's own timeout, the request-header
   * timeout, would close it between two listings). Anyone else's keeps the
   * bounds of any connection: kubelet's probes speak HTTP/2 too (Go's
   * transport offers it), and reach /healthz only; every other path answers
   * 401, as over HTTP/1.1.
   */
  #acceptH2(session: ServerHttp2Session): void {
    session.on('error', () => session.destroy());
    const socket = session.socket as TLSSocket | undefined;
    if (socket === undefined || !this.#isAllowedPeer(socket)) return;
    this.#h2Sessions.add(session);
    session.once('close', () => this.#h2Sessions.delete(session));
    // When it runs out, the guard's timeout handler (connection-guards.ts) closes the session.
    session.setTimeout(H2_IDLE_TIMEOUT_MS);
  }

  #handleRequest(req: IncomingMessage | Http2ServerRequest, res: Response): void {
    const url = new URL(req.url ?? '/', 'https://rpf-agent');
    try {
      if (url.pathname === AGENT_HEALTHZ_PATH && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
      this.#authenticate(req);
      if (url.pathname === AGENT_SESSIONS_PATH && req.method === 'GET') {
        if (req.headers.upgrade) throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', 'unexpected upgrade');
        const list: AgentSessionList = { items: [...this.sessions.values()].map((s) => s.summary()) };
        this.#json(res, 200, list);
        return;
      }
      const id = parseAgentSessionPath(url.pathname);
      if (id !== undefined && req.method === 'DELETE') {
        const session = this.sessions.get(id);
        const parsed = parseAgentSessionEnd(url.searchParams);
        if (!parsed.ok) throw new RpfAgentError('RPF_ERR_AGENT_BAD_REQUEST', `bad request to end session "${id}": ${parsed.message}`);
        if (!session) throw new RpfAgentError('RPF_ERR_AGENT_SESSION_NOT_FOUND', `reverse port-forward session "${id}" not found`);
        session.close(parsed.end.reason, parsed.end.message);
        this.#json(res, 200, successStatus({ name: session.id }));
        return;
      }
      throw new RpfAgentError('RPF_ERR_AGENT_NOT_FOUND', `no ${req.method} ${url.pathname} on rpf-agent`);
    } catch (error) {
      const status = statusFor(error);
      this.#json(res, status.code, status);
    }
  }

  async #handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://rpf-agent');
    this.#authenticate(req);
    if (url.pathname !== AGENT_SESSIONS_PATH) throw new RpfAgentError('RPF_ERR_AGENT_NOT_FOUND', `no upgrade at ${url.pathname} on rpf-agent`);
    const request = parseSessionRequest(url, req.headers);
    const chosen = selectSubprotocol(req.headers['sec-websocket-protocol']);
    if (!chosen.ok) throw new RpfAgentError('RPF_ERR_AGENT_VERSION_MISMATCH', chosen.error.message);
    // The seat is taken before the first await and given back on every path
    // that does not end in a live session (finding 6 of issue 8).
    const seat = this.#seats.reserve(request.target.user);
    let listeners: OpenedListener[] = [];
    let netns: PodNetns;
    try {
      netns = await this.#deps.resolver.resolve(request.target.podUID);
    } catch (error) {
      seat.release();
      throw error;
    }
    try {
      // netns.id is the identity of the descriptor the helper will enter:
      // what is checked here is what is entered (finding 7).
      if (!this.#deps.limits.allowHostNetwork && netns.id === (await this.#deps.resolver.hostNetnsId())) {
        throw new RpfAgentError('RPF_ERR_AGENT_HOST_NETWORK', `pod ${request.target.namespace}/${request.target.pod} uses the host network; a listener there would open a port on the node itself`);
      }
      listeners = await this.#deps.opener.open(netns, request.listeners);
    } catch (error) {
      seat.release();
      throw error;
    } finally {
      // The listeners hold the namespace from here on.
      await netns.close().catch(() => {});
    }
    const abandon = () => {
      for (const listener of listeners) listener.server.close();
      seat.release();
    };
    if (socket.destroyed) return abandon();
    // ws answers a bad handshake itself (400, or 503 once closing) and then
    // never calls back: the socket's close is our only word of it.
    socket.once('close', abandon);
    const id = newSessionId(request.target.pod);
    this.#pendingIds.set(req, id);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('close', abandon);
      let watcher: PodWatcher | undefined;
      const session = new TunnelSession({
        id,
        ws,
        target: request.target,
        listeners,
        limits: this.#deps.limits,
        metrics: this.#deps.metrics,
        log: this.#deps.log,
        auditId: request.auditId,
        readBuffer: this.#readBuffer,
        onEnd: (ended) => {
          watcher?.stop();
          this.sessions.delete(ended.id);
          seat.release();
        },
      });
      this.sessions.set(session.id, session);
      this.#deps.metrics.sessionsTotal.inc({ outcome: 'opened' });
      // The listeners keep a deleted pod's namespace alive: the pod's own
      // processes say whether it still runs (finding 5).
      const { namespace, pod, podUID } = request.target;
      watcher = new PodWatcher({
        probe: (last) => this.#deps.resolver.recheck(podUID, { ...last, id: netns.id }),
        process: { pid: netns.pid, startTime: netns.startTime },
        intervalMs: this.#deps.limits.podCheckIntervalMs,
        ...(this.#deps.watcherTimers === undefined ? {} : { timers: this.#deps.watcherTimers }),
        onGone: () => {
          this.#deps.metrics.sessionsEnded.inc({ reason: 'pod_gone' });
          session.close(GOAWAY_REASON.POD_GONE, `pod ${namespace}/${pod} is gone (deleted or stopped)`);
        },
        onError: (error) => this.#deps.log.warn({ session: session.id, err: (error as Error).message }, 'checking the pod failed'),
      });
    });
  }

  #fail(socket: Duplex, error: unknown): void {
    const status = statusFor(error);
    const code = error instanceof RpfAgentError ? error.code : 'RPF_ERR_AGENT_INTERNAL';
    this.#deps.metrics.sessionsTotal.inc({ outcome: code });
    this.#deps.metrics.errors.inc({ type: ERROR_TYPES[code] ?? 'other' });
    this.#deps.log.info({ code, err: (error as Error).message }, 'session request refused');
    if (!socket.writable) return void socket.destroy();
    const { head, body } = formatStatusResponse(status);
    socket.end(head + body);
  }

  #json(res: Response, code: number, body: AgentSessionList | Status): void {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}
