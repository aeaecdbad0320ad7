/**
 * The one way rpf-server refuses: every error it answers (a route's, a tunnel
 * request's, a connection's) is counted under its RPF_ERR_SERVER_* code in
 * rpf_server_errors_total, and sent as a Kubernetes Status wherever HTTP can
 * still be spoken. A tunnel request is also counted by outcome and timed; an
 * agent's own refusal is relayed as it came (it is already a Status), and a
 * client that left before its answer is counted, since nothing can be sent.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { ERROR_CODE_HEADER } from './constants.ts';
import type { RpfServerError } from './errors.ts';
import { sendTyped } from './media-type.ts';
import type { ServerMetrics } from './metrics.ts';
import { failureStatus, writeResponseToSocket, writeStatusToSocket } from './status.ts';
import type { HeaderLine } from './status.ts';

/** Counts a refusal that has no HTTP answer (a connection closed before or during TLS). */
export function countRefusal(metrics: ServerMetrics, err: RpfServerError): void {
  metrics.errors.inc({ type: err.code });
}

/** Refuses on a socket no HTTP server owns any more (an upgrade, a client error): Status, then close. */
export function refuseSocket(socket: Socket, err: RpfServerError, metrics: ServerMetrics): void {
  countRefusal(metrics, err);
  writeStatusToSocket(socket, err);
}

/** Refuses a fastify request with a Status. */
export function refuseReply(reply: FastifyReply, err: RpfServerError, metrics: ServerMetrics): FastifyReply {
  countRefusal(metrics, err);
  return sendTyped(reply.code(err.status).header(ERROR_CODE_HEADER, err.code), 'application/json', JSON.stringify(failureStatus(err)));
}

/**
 * Refuses a tunnel request before its upgrade: counted as `rejected` (our
 * answer to the request) or, for a 5xx, as `error`, timed over `seconds`
 * since it arrived, then a Status on the socket.
 */
export function refuseTunnel(socket: Socket, err: RpfServerError, metrics: ServerMetrics, seconds: number): void {
  metrics.sessionRequests.inc({ outcome: err.status >= 500 ? 'error' : 'rejected' });
  metrics.requestDuration.observe({ kind: 'tunnel', code: String(err.status) }, seconds);
  refuseSocket(socket, err, metrics);
}

/** Headers of an agent's answer that describe its connection, not the answer: never relayed. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection']);

/**
 * Relays an agent's refusal of a tunnel (an HTTP error with a Status body,
 * read whole) to the client with its status, headers and body, counted as
 * `agent_rejected` and under `agent_<status>`.
 */
export function relayAgentRefusal(socket: Socket, res: IncomingMessage, body: Buffer, metrics: ServerMetrics, seconds: number): void {
  const status = res.statusCode ?? 0;
  metrics.sessionRequests.inc({ outcome: 'agent_rejected' });
  metrics.errors.inc({ type: `agent_${status}` });
  metrics.requestDuration.observe({ kind: 'tunnel', code: String(status) }, seconds);
  const headers: HeaderLine[] = [];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i] ?? '';
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push([name, res.rawHeaders[i + 1] ?? '']);
  }
  if (res.headers['content-type'] === undefined) headers.push(['Content-Type', 'application/json']);
  headers.push(['Content-Length', String(body.length)], ['Connection', 'close']);
  writeResponseToSocket(socket, status, res.statusMessage ?? '', headers, body);
}

/** Counts a tunnel request whose client left before its answer: there is no one to refuse. */
export function countClientGone(metrics: ServerMetrics): void {
  metrics.sessionRequests.inc({ outcome: 'client_gone' });
}
