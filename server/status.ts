/**
 * Kubernetes `Status` objects (meta/v1): every error rpf-server answers is
 * one, so kubectl and kube-apiserver show a clean message with the right code.
 * The objects and the text of a raw response are protocol/agent-api.ts's, shared
 * with rpf-agent; this is the one writer of raw HTTP/1.1 responses of rpf-server,
 * for sockets no HTTP server owns any more (upgrade requests): a Status, a
 * relayed agent answer, a 101.
 */
import type { Socket } from 'node:net';
import { failureStatus, formatResponseHead, formatStatusResponse, successStatus } from '../protocol/index.ts';
import type { HeaderLine } from '../protocol/index.ts';
import { ERROR_CODE_HEADER } from './constants.ts';
import type { RpfServerError } from './errors.ts';

export { failureStatus, formatResponseHead, successStatus };
export type { HeaderLine };

/**
 * Writes a complete response (head and body) on a socket that no HTTP server
 * owns any more, then closes it; a socket that can no longer be written is
 * destroyed. The headers must carry Content-Length and Connection: close.
 */
export function writeResponseToSocket(socket: Socket, status: number, statusMessage: string, headers: readonly HeaderLine[], body: string | Buffer): void {
  writeHeadAndBody(socket, formatResponseHead(status, statusMessage, headers), body);
}

function writeHeadAndBody(socket: Socket, head: string, body: string | Buffer): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.write(head);
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
  const { head, body } = formatStatusResponse(failureStatus(err), [
    ['Cache-Control', 'no-cache, private'],
    [ERROR_CODE_HEADER, err.code],
  ]);
  writeHeadAndBody(socket, head, body);
}
