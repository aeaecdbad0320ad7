// A pod connection read into a reused buffer (issue 9). The agent accepts pod
// connections on the net.Servers the listener helper handed over, and a
// net.Server makes its sockets without an `onread` option, so every read
// would be a fresh 64 KiB Buffer. Instead the agent moves the accepted
// connection's handle into a socket of its own made with `onread`, before
// anything was read: the 'connection' event runs in the tick of the accept,
// reads come in a later poll. The first socket is then dropped without closing
// the connection. One buffer serves every session of the agent (SharedReadBuffer).
// Node has no public way to give accepted sockets `onread`;
// `_handle` is where net.Socket keeps its libuv handle (Node 12 to 24), and
// test/node-agent/pod-socket.integration.test.ts pins that this still works.
import net from 'node:net';

/**
 * The connection of `accepted`, as a socket that reads with `onread`
 * (allowHalfOpen, like the agent's listeners); `accepted` is destroyed
 * without closing it. Returns `accepted` itself, reading the ordinary way,
 * if it has no handle to move or has read already.
 */
export function adoptConnection(accepted: net.Socket, onread: net.OnReadOpts): net.Socket {
  const held = accepted as net.Socket & { _handle?: unknown };
  const handle = held._handle;
  if (handle === null || typeof handle !== 'object' || accepted.destroyed || accepted.bytesRead > 0 || accepted.readableLength > 0) return accepted;
  held._handle = null;
  // With no handle, destroy() closes nothing; it releases the server's count of connections.
  accepted.destroy();
  return new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true, onread } as net.SocketConstructorOpts);
}
