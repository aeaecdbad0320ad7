/**
 * TLS over a TCP socket the test can reset: a peer that sends an RST instead
 * of a FIN, as a crashed host, a middlebox or a hostile client does. Node's
 * `resetAndDestroy()` works on the TCP socket only, so TLS runs on top of one
 * the test keeps.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionOptions, TLSSocket, TlsOptions } from 'node:tls';

/** A TLS client connection and the reset of its TCP socket. */
export interface ResettableTls {
  readonly tls: TLSSocket;
  /** Everything received so far, decrypted. */
  readonly received: () => Buffer;
  /** Resolves when at least `bytes` bytes have arrived. */
  readonly receivedAtLeast: (bytes: number) => Promise<void>;
  /** Sends an RST: the peer reads ECONNRESET. */
  reset(): void;
}

/** Connects with TLS over a TCP socket that can be reset; resolves once the handshake is done. */
export function connectResettable(port: number, options: ConnectionOptions): Promise<ResettableTls> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port });
    raw.on('error', () => {});
    const socket = tls.connect({ ...options, socket: raw });
    const chunks: Buffer[] = [];
    let size = 0;
    const waiters: { bytes: number; resolve: () => void }[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      for (const w of waiters.filter((x) => size >= x.bytes)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    socket.on('error', reject);
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      socket.on('error', () => {});
      resolve({
        tls: socket,
        received: () => Buffer.concat(chunks),
        receivedAtLeast: (bytes) => (size >= bytes ? Promise.resolve() : new Promise((r) => waiters.push({ bytes, resolve: r }))),
        reset: () => void raw.resetAndDestroy(),
      });
    });
  });
}

/** A TLS server whose connections the test can reset, for playing a hostile peer. */
export interface ResettableTlsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a TLS server on `host`; `onConnection` gets each handshaken socket and a reset for it. */
export async function startResettableTlsServer(
  host: string,
  options: TlsOptions,
  onConnection: (socket: TLSSocket, reset: () => void) => void,
): Promise<ResettableTlsServer> {
  const raws = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    raws.add(raw);
    raw.on('close', () => raws.delete(raw));
    raw.on('error', () => {});
    const socket = new tls.TLSSocket(raw, { ...options, isServer: true });
    socket.on('error', () => {});
    socket.once('secure', () => onConnection(socket, () => void raw.resetAndDestroy()));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const raw of raws) raw.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
