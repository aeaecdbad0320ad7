// The hop that stands for rpf-server (and, with a second one, for
// kube-apiserver) in the data-plane microbenchmark: a bare TLS-to-TLS relay,
// what rpf-server's #splice does once the tunnel is up (TLS from the client in,
// TLS to the agent out, pipe both ways, TCP_NODELAY). The WebSocket handshake
// goes through it as bytes like everything else.
//
//   node dataplane-relay.ts --cert FILE --key FILE --upstream-port N [--hwm BYTES] [--count-chunks]
//
// --hwm sets the highWaterMark of both sockets (reads of that size);
// --count-chunks adds a 'data' listener per direction, as rpf-server's byte
// counters do. Prints `{"event":"listening","port":N}`.
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { argument, countGc, report, serveStats } from './dataplane-child.ts';

const gc = countGc();
const cert = readFileSync(argument('cert'));
const key = readFileSync(argument('key'));
const upstreamPort = Number(argument('upstream-port'));
const hwm = Number(argument('hwm', '0'));
const countChunks = process.argv.includes('--count-chunks');
const streamOptions: { highWaterMark?: number } = hwm > 0 ? { highWaterMark: hwm } : {};
let chunks = 0;
let bytes = 0;

// highWaterMark: net.Server passes it to every accepted socket (Node >= 18.17); the TLS types lack it.
const serverOptions = { cert, key, minVersion: 'TLSv1.2', allowHalfOpen: true, ...streamOptions } as tls.TlsOptions;
const server = tls.createServer(serverOptions, (inbound) => {
  const outbound = tls.connect({ host: '127.0.0.1', port: upstreamPort, ca: cert, servername: 'localhost', allowHalfOpen: true, ...streamOptions } as unknown as tls.ConnectionOptions);
  inbound.setNoDelay(true);
  outbound.setNoDelay(true);
  const both = (socket: net.Socket, other: net.Socket) => {
    socket.on('error', () => other.destroy());
    socket.on('close', () => other.destroy());
    if (countChunks) {
      socket.on('data', (chunk: Buffer) => {
        chunks++;
        bytes += chunk.length;
      });
    }
    socket.pipe(other);
  };
  both(inbound, outbound);
  both(outbound, inbound);
});
server.listen(0, '127.0.0.1', () => report({ event: 'listening', port: (server.address() as net.AddressInfo).port }));
serveStats(gc, () => ({ chunks, bytes }));
