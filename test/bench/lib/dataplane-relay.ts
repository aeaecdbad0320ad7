// The hop that stands for rpf-server (and, with a second one, for
// kube-apiserver) in the data-plane microbenchmark: a bare TLS-to-TLS relay,
// what rpf-server's #splice does once the tunnel is up (TLS from the client in,
// TLS to the agent out, pipe both ways, TCP_NODELAY). The WebSocket handshake
// goes through it as bytes like everything else.
//
//   node dataplane-relay.ts --cert FILE --key FILE --upstream-port N [--hwm BYTES] [--count-chunks]
//        [--no-copy] [--ballast MIB]
//
// --hwm sets the highWaterMark of both sockets (reads of that size);
// --count-chunks adds a 'data' listener per direction, as rpf-server's byte
// counters do; --no-copy relays as rpf-server does since issue 9
// (server/socket-relay.ts: reads into pooled buffers) instead of pipe();
// --ballast keeps that many MiB of small live objects on the heap, standing
// for rpf-server's own (informers, fastify, client-node). Prints
// `{"event":"listening","port":N}`.
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { canRelayWithoutCopy, relayWithoutCopy } from '../../../server/socket-relay.ts';
import { argument, countGc, report, serveStats } from './dataplane-child.ts';

const gc = countGc();
const cert = readFileSync(argument('cert'));
const key = readFileSync(argument('key'));
const upstreamPort = Number(argument('upstream-port'));
const hwm = Number(argument('hwm', '0'));
const countChunks = process.argv.includes('--count-chunks');
const noCopy = process.argv.includes('--no-copy');
const ballastMiB = Number(argument('ballast', '0'));
// Small objects in old space, ~100 bytes each: what a full GC must mark.
const ballast: { index: number; next: unknown; label: string }[] = [];
for (let i = 0; i < ballastMiB * 10_000; i++) ballast.push({ index: i, next: ballast[i - 1], label: `object ${i}` });
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
    if (noCopy && canRelayWithoutCopy(socket)) {
      relayWithoutCopy(socket, other, (length) => {
        chunks++;
        bytes += length;
      });
      socket.on('end', () => other.end());
      return;
    }
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
serveStats(gc, () => ({ chunks, bytes, ballast: ballast.length }));
