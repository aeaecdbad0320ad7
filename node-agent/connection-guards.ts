// Bounds on what any peer can make rpf-agent hold before it authenticates
// (issue 8, finding 2; STYLE habit 15). The agent's port is reachable from
// every pod, and a TLS connection that sends nothing cost ~54 KiB for ever:
// now every connection must finish its TLS handshake, send its request
// headers and its whole request within a time, may idle between requests only
// so long, and there are at most so many at once. Node enforces them all.
//
// Tunnels are not cut: an upgraded socket leaves Node's HTTP bookkeeping (no
// header, request or keep-alive timer applies to it, and ws clears the
// socket's timeout); liveness of a tunnel is the protocol's keepalive. They do
// count towards maxConnections, since each holds a socket.
// Dropped connections are counted by reason in rpf_agent_api_connections_dropped_total.
import type { Server as TlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatResponseHead, reasonPhrase } from '../protocol/index.ts';
import { httpsServerTimeouts } from '../protocol/server-limits.ts';
import type { HttpsServerLimits, HttpsServerTimeouts } from '../protocol/server-limits.ts';
import type { AgentMetrics } from './metrics.ts';

/** The bounds: the HTTPS server's timeouts (protocol/server-limits.ts) and a connection cap. */
export interface ConnectionLimits extends HttpsServerLimits {
  /** Connections held at once, tunnels included; more are closed at accept. */
  readonly maxConnections: number;
}

/** Options for https.createServer: the mapping rpf-server uses too (protocol/server-limits.ts). */
export function serverTimeouts(limits: ConnectionLimits): HttpsServerTimeouts {
  return httpsServerTimeouts(limits);
}

/**
 * The agent's server: TLS, serving HTTP/1.1 (and HTTP/2 to rpf-server). Its
 * inactivity timeout applies to HTTP/1.1 sockets and HTTP/2 sessions alike.
 */
export type GuardedServer = TlsServer & { setTimeout(ms: number): unknown };

/** Caps the connections and counts what the bounds close: rpf_agent_api_connections_dropped_total{reason}. */
export function guardConnections(server: GuardedServer, limits: ConnectionLimits, metrics: AgentMetrics, log: Logger): void {
  server.maxConnections = limits.maxConnections;
  // Node's header timeout starts with the first byte of a request: a
  // connection that finished TLS and says nothing is caught by the socket's
  // inactivity timeout instead, the header timeout's length. (Between
  // requests Node arms the keep-alive timeout on the same timer; an upgrade
  // takes the socket out of Node's hands and ws clears the timer.)
  // An HTTP/2 session (rpf-server's) gets a longer idle budget of its own (http-server.ts).
  server.setTimeout(limits.requestHeaderTimeoutMs);
  server.on('timeout', (socket: Pick<Duplex, 'destroy'>) => {
    metrics.connectionsDropped.inc({ reason: 'idle_timeout' });
    socket.destroy();
  });
  server.on('drop', (peer?: { remoteAddress?: string }) => {
    metrics.connectionsDropped.inc({ reason: 'max_connections' });
    // Debug only: a flood would flood the log too; the metric carries the count.
    log.debug({ remoteAddress: peer?.remoteAddress, maxConnections: limits.maxConnections }, 'connection dropped: too many connections');
  });
  server.on('tlsClientError', (error: Error & { code?: string }) => {
    if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.connectionsDropped.inc({ reason: 'tls_handshake_timeout' });
  });
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') metrics.connectionsDropped.inc({ reason: 'request_timeout' });
    // Node's own answer when nobody listens: 408 for a timeout, 400 otherwise, then close.
    if (socket.writable && error.code !== 'ECONNRESET') {
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(formatResponseHead(status, reasonPhrase(status), [['Connection', 'close']]));
    }
    socket.destroy();
  });
}
