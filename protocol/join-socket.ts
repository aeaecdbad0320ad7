// Joins a channel to the TCP socket it stands for, so that the tunnel carries a
// FIN as a FIN and an RST as an RST (DESIGN.md, "The tunnel"). It only wires
// two streams it is given; opening sockets stays with the caller.

import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import type { Channel } from './channel.ts';
import { isRpfProtocolError } from './errors.ts';

/** A socket that can be reset (net.Socket has `resetAndDestroy` since Node 16.17). */
export type ResettableSocket = Duplex & { resetAndDestroy?: () => unknown };

/**
 * Pipes `socket` into `channel` and `channel` into `socket`, both ways with
 * half-close: the socket's FIN ends the channel's writable side (EOF), the
 * peer's EOF ends the socket's writable side (FIN). A RESET, OPEN_FAIL or
 * session end on the channel resets the socket (RST); a socket error resets
 * the channel with the matching reason (ECONNRESET -> CONNECTION_RESET).
 * Create the socket with `allowHalfOpen: true`, or Node closes it on the first
 * FIN before the reply got through. `callback` runs once, when both are done.
 */
export function joinSocket(channel: Channel, socket: ResettableSocket, callback?: (error: Error | undefined) => void): void {
  // Registered before pipeline's own listeners, so the RST goes out before
  // pipeline destroys the socket the ordinary way (which would send a FIN).
  channel.once('error', (error: unknown) => {
    if (
      isRpfProtocolError(error, 'RPF_ERR_PROTOCOL_RESET') ||
      isRpfProtocolError(error, 'RPF_ERR_PROTOCOL_OPEN_FAILED') ||
      isRpfProtocolError(error, 'RPF_ERR_PROTOCOL_SESSION_CLOSED')
    ) {
      if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed) socket.resetAndDestroy();
      else socket.destroy();
    }
  });
  // pipe() is the channel's one 'data' listener and hands each chunk to the
  // socket; a socket with nothing left to write holds none of them (a write
  // that completed at once keeps no reference), so the session may free the
  // message they came in (releaseReceived).
  channel.releasesChunksWhen(() => channel.listenerCount('data') === 1 && socket.writableLength === 0);
  pipeline(socket, channel, socket, (error) => callback?.(error ?? undefined));
}
