/**
 * The one way rpf-server refuses: every error it answers (a route's, a tunnel
 * request's, a connection's) is counted under its RPF_ERR_SERVER_* code in
 * rpf_server_errors_total, and sent as a Kubernetes Status wherever HTTP can
 * still be spoken.
 */
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { ERROR_CODE_HEADER } from './constants.ts';
import type { RpfServerError } from './errors.ts';
import { sendTyped } from './media-type.ts';
import type { ServerMetrics } from './metrics.ts';
import { failureStatus, writeStatusToSocket } from './status.ts';

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
