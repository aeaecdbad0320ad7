/**
 * Bounds on what a peer can make rpf-server hold before it has authenticated
 * (STYLE habit 15): every connection must finish its TLS handshake, send its
 * request headers and its whole request within a time, may sit idle between
 * requests only so long, and there are at most so many connections at once.
 * Node enforces them all; this file turns the options into Node's and
 * fastify's settings and answers what they catch through the shared refusal.
 *
 * Tunnels are not cut by any of these: an upgraded socket leaves Node's HTTP
 * bookkeeping (no header, request or keep-alive timer applies to it) and the
 * upgrade proxy clears its idle timer once spliced. They do count towards
 * --max-connections, since each holds a socket.
 */
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { httpsServerTimeouts } from '../protocol/server-limits.ts';
import type { HttpsServerTimeouts } from '../protocol/server-limits.ts';
import { RpfServerError } from './errors.ts';
import type { ServerMetrics } from './metrics.ts';
import { countRefusal, refuseSocket } from './refusal.ts';

/** The bounds, in milliseconds and connections (from the completed config). */
export interface ConnectionLimits {
  /** From TCP accept to a finished TLS handshake. */
  readonly tlsHandshakeTimeoutMs: number;
  /** From the connection (or the first byte of a later request) to the end of the request headers. */
  readonly requestHeaderTimeoutMs: number;
  /** The same, to the end of the whole request (headers and body). */
  readonly requestReadTimeoutMs: number;
  /** Idle time allowed between the end of a response and the next request. */
  readonly keepAliveTimeoutMs: number;
  /** Inactivity allowed while a request is read or answered. */
  readonly connectionIdleTimeoutMs: number;
  /** Connections held at once, tunnels included. */
  readonly maxConnections: number;
}

/**
 * Settings for https.createServer, which fastify hands its `https` options to:
 * the mapping rpf-agent uses too (protocol/server-limits.ts), our
 * --request-read-timeout being its request timeout.
 */
export function tlsServerTimeouts(limits: ConnectionLimits): HttpsServerTimeouts {
  return httpsServerTimeouts({ ...limits, requestTimeoutMs: limits.requestReadTimeoutMs });
}

/** Settings for fastify() itself: it writes these onto the server after creating it, so they must agree. */
export function fastifyTimeouts(limits: ConnectionLimits): { connectionTimeout: number; keepAliveTimeout: number; requestTimeout: number } {
  return { connectionTimeout: limits.connectionIdleTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs, requestTimeout: limits.requestReadTimeoutMs };
}

/** Caps the server's connections; each one dropped is counted (no HTTP is possible before TLS). */
export function capConnections(server: HttpsServer, limits: ConnectionLimits, metrics: ServerMetrics, logger: Logger): void {
  server.maxConnections = limits.maxConnections;
  server.on('drop', (peer?: { remoteAddress?: string }) => {
    countRefusal(metrics, new RpfServerError('RPF_ERR_SERVER_TOO_MANY_CONNECTIONS', `connection refused: ${limits.maxConnections} connections are open`));
    // Debug only: a flood would otherwise flood the log too; the metric carries the count.
    logger.debug({ remoteAddress: peer?.remoteAddress, maxConnections: limits.maxConnections }, 'connection dropped: too many connections');
  });
}

/** Node's code on the errors a server's 'clientError' receives. */
type ClientError = Error & { code?: string };

/**
 * fastify's clientErrorHandler: what Node's HTTP parser and TLS layer reject
 * before any route runs. A request that timed out or is malformed gets a
 * Status through the shared refusal; a connection that never finished TLS is
 * closed (and counted, for handshake timeouts); a reset needs nothing.
 */
export function clientErrorHandler(metrics: ServerMetrics, limits: ConnectionLimits): (err: ClientError, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
      countRefusal(metrics, new RpfServerError('RPF_ERR_SERVER_TLS_HANDSHAKE_TIMEOUT', `the TLS handshake did not finish within ${limits.tlsHandshakeTimeoutMs} ms`));
      socket.destroy();
      return;
    }
    // A response already under way cannot be followed by a Status: the connection just ends.
    if ((socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true) {
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      refuseSocket(
        socket,
        new RpfServerError(
          'RPF_ERR_SERVER_REQUEST_TIMEOUT',
          `request timeout: the request did not arrive in time (headers within ${limits.requestHeaderTimeoutMs} ms, all of it within ${limits.requestReadTimeoutMs} ms)`,
        ),
        metrics,
      );
      return;
    }
    if (err.code?.startsWith('HPE_') === true) {
      // Node's parser code names the problem (HPE_HEADER_OVERFLOW, HPE_INVALID_METHOD...); nothing of ours is quoted.
      refuseSocket(socket, new RpfServerError('RPF_ERR_SERVER_BAD_REQUEST', `bad request: malformed HTTP (${err.code})`), metrics);
      return;
    }
    // Other TLS failures (bad records, wrong protocol): no HTTP can be spoken.
    socket.destroy();
  };
}
