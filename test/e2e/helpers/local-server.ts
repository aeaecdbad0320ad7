// The service on "the user's machine" that pods reach through kube-rpf: a TCP
// server that hashes what each connection sends until its FIN, then answers
// with random data of its own and a FIN, recording both hashes. A connection
// that starts with "stall\n" is never read: its reader has stopped.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

/** What one connection carried, as seen by the local server. */
export interface ServedConnection {
  received: string;
  receivedBytes: number;
  sent: string;
}

/** A running local server and what it saw. */
export interface LocalServer {
  port: number;
  connections: ServedConnection[];
  stalledConnections: number;
  close(): Promise<void>;
}

/** Starts the hashing server on 127.0.0.1 (port 0: any free port); replies carry `replyBytes` random bytes. */
export async function startLocalServer(replyBytes: number, port = 0): Promise<LocalServer> {
  const connections: ServedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const state = { stalledConnections: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const hash = createHash('sha256');
    let receivedBytes = 0;
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        if (chunk.subarray(0, 6).toString() === 'stall\n') {
          state.stalledConnections++;
          socket.pause();
          socket.removeAllListeners('data');
          return;
        }
      }
      hash.update(chunk);
      receivedBytes += chunk.length;
    });
    socket.on('end', () => {
      const reply = randomBytes(replyBytes);
      connections.push({ received: hash.digest('hex'), receivedBytes, sent: createHash('sha256').update(reply).digest('hex') });
      socket.end(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    get stalledConnections() {
      return state.stalledConnections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A small HTTP server answering every request with `body`. */
export async function startHttpServer(body: string, port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
