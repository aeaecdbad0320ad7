/**
 * One kept HTTP/2 connection per rpf-agent, for rpf-server's small calls to
 * the agents (listing and deleting sessions): `kubectl get
 * reverseportforwards -A` asks every agent, and a TLS handshake per agent per
 * listing was most of its time (docs/benchmarks.md, "Listing sessions").
 * Tunnels do not use these connections: each tunnel is a WebSocket upgrade on
 * a connection of its own (agent-client.ts, HTTP/1.1).
 *
 * Agents are reached at their pod IP and verified by the name in their
 * certificate (`--agent-server-name`), so the connection is made here, with
 * node:http2 and that servername; http2-wrapper's Agent pools by origin and
 * wants the origin's host to be the servername, which an IP-addressed agent
 * cannot satisfy. http2-wrapper's request (an http.ClientRequest over a
 * stream of the given session) keeps the callers' request/response code.
 */
import http2 from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import tls from 'node:tls';
import type { AgentTls } from './agent-client.ts';
import type { AgentTarget } from './pods.ts';

/**
 * How long a connection may stay idle before rpf-server closes it. Shorter
 * than the agent's own bound (node-agent/http-server.ts, H2_IDLE_TIMEOUT_MS,
 * 3 minutes), so the side that knows when it will send is the one that closes.
 */
export const AGENT_H2_IDLE_MS = 2 * 60_000;

/** Most connections kept at once (one per agent, so one per node); past it the least recently used closes. */
export const MAX_AGENT_H2_SESSIONS = 5000;

/**
 * How long an agent that answered ALPN with HTTP/1.1 is called over HTTP/1.1
 * before HTTP/2 is tried again: an agent from before HTTP/2 (a rolling
 * upgrade) is replaced within minutes, and then the next try finds HTTP/2.
 */
export const AGENT_HTTP1_RECHECK_MS = 5 * 60_000;

/** Opens an HTTP/2 session to an agent (tests replace it). */
export type AgentSessionConnector = (target: AgentTarget, tls: AgentTls) => ClientHttp2Session;

/**
 * The real connector: TLS to the pod IP, verified as the agent's servername.
 * It offers HTTP/1.1 after h2 so that an agent without HTTP/2 completes the
 * handshake and says so (the session then fails and the pool remembers the
 * agent as HTTP/1.1), instead of ending it with no_application_protocol.
 */
export const connectAgentH2: AgentSessionConnector = (target, material) =>
  http2.connect(`https://${target.host}:${target.port}`, {
    settings: { enablePush: false },
    createConnection: () =>
      tls.connect({
        host: target.host,
        port: target.port,
        ca: material.ca,
        cert: material.cert,
        key: material.key,
        servername: material.serverName,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2', 'http/1.1'],
      }),
  });

/** The kept connections, by agent address. */
export class AgentSessionPool {
  readonly #tls: () => AgentTls;
  readonly #connect: AgentSessionConnector;
  readonly #idleMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** In least recently used order (a Map iterates in insertion order; use re-inserts). */
  readonly #sessions = new Map<string, ClientHttp2Session>();
  /** Agents that answered ALPN with HTTP/1.1, until when to call them over HTTP/1.1 (oldest first, as many as #max). */
  readonly #http1Until = new Map<string, number>();

  constructor(tls: () => AgentTls, options: { connect?: AgentSessionConnector; idleMs?: number; maxSessions?: number; now?: () => number } = {}) {
    this.#tls = tls;
    this.#connect = options.connect ?? connectAgentH2;
    this.#idleMs = options.idleMs ?? AGENT_H2_IDLE_MS;
    this.#max = options.maxSessions ?? MAX_AGENT_H2_SESSIONS;
    this.#now = options.now ?? Date.now;
  }

  /** Whether `target` is to be called over HTTP/2 (false: it answered HTTP/1.1 lately; call it over HTTP/1.1). */
  speaksHttp2(target: AgentTarget): boolean {
    const key = `${target.host}:${target.port}`;
    const until = this.#http1Until.get(key);
    if (until === undefined) return true;
    if (this.#now() < until) return false;
    this.#http1Until.delete(key);
    return true;
  }

  // An agent without HTTP/2 negotiates HTTP/1.1 and the session fails: remember it.
  #noteProtocol(key: string, session: ClientHttp2Session): void {
    if (session.alpnProtocol !== 'http/1.1') return;
    this.#http1Until.delete(key);
    this.#http1Until.set(key, this.#now() + AGENT_HTTP1_RECHECK_MS);
    while (this.#http1Until.size > this.#max) this.#http1Until.delete(this.#http1Until.keys().next().value as string);
  }

  /** Connections currently kept. */
  get size(): number {
    return this.#sessions.size;
  }

  /** The open session to `target`, made now if there is none (or the last one closed or was told to go away). */
  session(target: AgentTarget): ClientHttp2Session {
    const key = `${target.host}:${target.port}`;
    const kept = this.#sessions.get(key);
    if (kept !== undefined && !kept.closed && !kept.destroyed) {
      this.#sessions.delete(key);
      this.#sessions.set(key, kept);
      return kept;
    }
    if (kept !== undefined) this.#sessions.delete(key);
    const session = this.#connect(target, this.#tls());
    // Errors reach the streams opened on the session; the session's own must not crash the server.
    session.on('error', () => this.#noteProtocol(key, session));
    const forget = (): void => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    session.once('close', forget);
    // An agent shutting down (or idle-closing) sends GOAWAY: new requests go to a new session.
    session.once('goaway', forget);
    session.setTimeout(this.#idleMs, () => session.close());
    // A kept connection must not keep the process alive (shutdown, tests).
    session.unref();
    this.#sessions.set(key, session);
    while (this.#sessions.size > this.#max) {
      const [oldestKey, oldest] = this.#sessions.entries().next().value as [string, ClientHttp2Session];
      this.#sessions.delete(oldestKey);
      oldest.close();
    }
    return session;
  }

  /** Drops the session to `target` (after a timeout: it may be dead without knowing it). */
  discard(target: AgentTarget): void {
    const key = `${target.host}:${target.port}`;
    const session = this.#sessions.get(key);
    if (session === undefined) return;
    this.#sessions.delete(key);
    // Before the session's own 'error' may have run: the caller is about to call again.
    this.#noteProtocol(key, session);
    session.destroy();
  }

  /** Closes every kept connection (server shutdown). */
  close(): void {
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }
}
