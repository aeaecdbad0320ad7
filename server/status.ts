/**
 * Kubernetes `Status` objects (meta/v1): every error rpf-server answers is
 * one, so kubectl and kube-apiserver show a clean message with the right code.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_CODE_HEADER } from './constants.ts';
import type { ErrorDetails, RpfServerError, StatusCause } from './errors.ts';

/** `Status.details` as Kubernetes serialises it. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/** A Kubernetes `Status` object. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

function toStatusDetails(details: ErrorDetails): StatusDetails {
  const out: StatusDetails = {};
  if (details.name !== undefined) out.name = details.name;
  if (details.group !== undefined) out.group = details.group;
  if (details.kind !== undefined) out.kind = details.kind;
  if (details.causes !== undefined && details.causes.length > 0) out.causes = details.causes.map((c) => ({ ...c }));
  return out;
}

/** The `Failure` Status for an error. */
export function failureStatus(err: RpfServerError): Status {
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: err.message,
    reason: err.reason,
    code: err.status,
  };
  if (err.details !== undefined) status.details = toStatusDetails(err.details);
  return status;
}

/** A `Success` Status, as DELETE answers it. */
export function successStatus(details?: ErrorDetails): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details !== undefined) status.details = toStatusDetails(details);
  return status;
}

/**
 * Writes an error as a complete HTTP/1.1 response on a socket that no HTTP
 * server owns any more (an upgrade request), then closes it. Used for every
 * error before the upgrade: the client gets a Status, never a hang.
 */
export function writeStatusToSocket(socket: Socket, err: RpfServerError): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(failureStatus(err));
  const head = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-cache, private',
    `${ERROR_CODE_HEADER}: ${err.code}`,
    'Connection: close',
  ].join('\r\n');
  socket.end(`${head}\r\n\r\n${body}`);
  // A peer that never reads must not keep the socket open for ever.
  socket.setTimeout(5000, () => socket.destroy());
}
