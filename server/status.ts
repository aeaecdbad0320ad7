/**
 * Kubernetes `Status` objects (meta/v1): every error rpf-server answers is
 * one, so kubectl and kube-apiserver show a clean message with the right code.
 * Also the one writer of raw HTTP/1.1 responses, for sockets no HTTP server
 * owns any more (upgrade requests): a Status, a relayed agent answer, a 101.
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

/** One header line of a raw response, name as it should be written. */
export type HeaderLine = readonly [name: string, value: string];

/**
 * The head of an HTTP/1.1 response written straight to a socket (status line,
 * header lines, blank line): the one place that spells the wire format, for the
 * Status refusals, the relayed agent answers and the 101 of a tunnel.
 */
export function formatResponseHead(status: number, statusMessage: string, headers: readonly HeaderLine[]): string {
  const lines = [`HTTP/1.1 ${status} ${statusMessage}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Writes a complete response (head and body) on a socket that no HTTP server
 * owns any more, then closes it; a socket that can no longer be written is
 * destroyed. The headers must carry Content-Length and Connection: close.
 */
export function writeResponseToSocket(socket: Socket, status: number, statusMessage: string, headers: readonly HeaderLine[], body: string | Buffer): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(formatResponseHead(status, statusMessage, headers));
  socket.end(body);
  // A peer that never reads must not keep the socket open for ever.
  socket.setTimeout(5000, () => socket.destroy());
}

/**
 * Writes an error as a complete HTTP/1.1 response on a socket that no HTTP
 * server owns any more (an upgrade request), then closes it. Used for every
 * error before the upgrade: the client gets a Status, never a hang.
 */
export function writeStatusToSocket(socket: Socket, err: RpfServerError): void {
  const body = JSON.stringify(failureStatus(err));
  writeResponseToSocket(socket, err.status, STATUS_CODES[err.status] ?? 'Error', [
    ['Content-Type', 'application/json'],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['Cache-Control', 'no-cache, private'],
    [ERROR_CODE_HEADER, err.code],
    ['Connection', 'close'],
  ], body);
}
