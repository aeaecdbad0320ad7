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
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { formatResponseHead, reasonPhrase } from '../protocol/index.ts';
import type { AgentMetrics } from './metrics.ts';

/** The bounds, in milliseconds and connections. */
export interface ConnectionLimits {
  /** From TCP accept to a finished TLS handshake. */
  readonly tlsHandshakeTimeoutMs: number;
  /** From the connection (or a later request's first byte) to the end of the request headers. */
  readonly requestHeaderTimeoutMs: number;
  /** The same, to the end of the whole request. */
  readonly requestTimeoutMs: number;
  /** Idle time allowed between a response and the next request. */
  readonly keepAliveTimeoutMs: number;
  /** Connections held at once, tunnels included; more are closed at accept. */
  readonly maxConnections: number;
}

/** Options for https.createServer. */
export function serverTimeouts(limits: ConnectionLimits): {
  handshakeTimeout: number;
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    handshakeTimeout: limits.tlsHandshakeTimeoutMs,
    headersTimeout: limits.requestHeaderTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node looks for expired requests on an interval (30 s by default, which
    // would add up to 30 s to every bound): a quarter of the header timeout.
    connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(limits.requestHeaderTimeoutMs / 4))),
  };
}

/** Caps the connections and counts what the bounds close: rpf_agent_api_connections_dropped_total{reason}. */
export function guardConnections(server: Server, limits: ConnectionLimits, metrics: AgentMetrics, log: Logger): void {
  server.maxConnections = limits.maxConnections;
  // Node's header timeout starts with the first byte of a request: a
  // connection that finished TLS and says nothing is caught by the socket's
  // inactivity timeout instead, the header timeout's length. (Between
  // requests Node arms the keep-alive timeout on the same timer; an upgrade
  // takes the socket out of Node's hands and ws clears the timer.)
  server.timeout = limits.requestHeaderTimeoutMs;
  server.on('timeout', (socket: Duplex) => {
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
