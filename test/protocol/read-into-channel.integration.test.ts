// readIntoChannel on real loopback sockets: local services write, the client
// end reads each connection into one buffer shared by all of them, and the
// agent end's channels receive the bytes.

import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { READ_BUFFER_SIZE, joinSocket, readIntoChannel } from '../../protocol/index.ts';
import type { Channel } from '../../protocol/index.ts';
import { REQUEST, collect, pattern, sessionPair, ticks } from './session-pair.ts';
import type { SessionPair } from './session-pair.ts';

/** A local service that writes `payload(i)` on its i-th connection, then ends it. */
async function service(payload: (i: number) => Buffer): Promise<{ port: number; sockets: net.Socket[]; close(): void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    const i = sockets.push(socket) - 1;
    socket.end(payload(i));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, sockets, close: () => server.close() };
}

/** The client end, as the Forwarder joins it: each channel dialed with `onread` into `buffer`. */
function dialWithOnread(pair: SessionPair, port: number, buffer: Buffer): net.Socket[] {
  const sockets: net.Socket[] = [];
  pair.client.on('open', (channel: Channel) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, onread: readIntoChannel(channel, buffer, () => socket.resume()) });
    sockets.push(socket);
    socket.on('error', () => channel.destroy());
    socket.once('connect', () => {
      if (channel.accept()) joinSocket(channel, socket);
    });
  });
  return sockets;
}

test('connections sharing one read buffer each deliver their own bytes, intact and in order', async (t) => {
  const sizes = [3 * 1024 * 1024, 1, 70_000, 1024 * 1024 + 13, 0, 2 * 1024 * 1024, 5000, 600_000];
  const svc = await service((i) => pattern(sizes[i % sizes.length] as number, i + 1));
  t.teardown(() => svc.close());
  const pair = sessionPair();
  t.teardown(() => pair.agent.close());
  dialWithOnread(pair, svc.port, Buffer.allocUnsafe(READ_BUFFER_SIZE));
  // One channel at a time, so that the i-th connection the service accepts is the i-th channel.
  const received: Array<Promise<Buffer>> = [];
  for (let i = 0; i < sizes.length; i++) {
    const channel = pair.agent.open(REQUEST);
    channel.end(); // the pod sends nothing
    received.push(collect(channel));
    await once(channel, 'accepted');
    while (svc.sockets.length <= i) await ticks(1);
  }
  const results = await Promise.all(received);
  results.forEach((bytes, i) => t.true(bytes.equals(pattern(sizes[i] as number, i + 1)), `connection ${i}: ${bytes.length} bytes`));
});

test('a channel without credit stops its socket: what it read stays within the window and one read, until the reader consumes', async (t) => {
  const window = 256 * 1024;
  const payload = pattern(8 * 1024 * 1024, 9);
  const svc = await service(() => payload);
  t.teardown(() => svc.close());
  const pair = sessionPair({ agent: { initialWindow: window } });
  t.teardown(() => pair.agent.close());
  const sockets = dialWithOnread(pair, svc.port, Buffer.allocUnsafe(READ_BUFFER_SIZE));
  const channel = pair.agent.open(REQUEST);
  channel.pause();
  await once(channel, 'accepted');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const socket = sockets[0] as net.Socket;
  t.true(socket.bytesRead <= window + READ_BUFFER_SIZE, `read ${socket.bytesRead} bytes with a window of ${window}`);
  t.true(socket.bytesRead >= window, 'it read what the window allows');
  t.is(channel.readableLength, window, 'the agent end holds one window, unread');
  const received = collect(channel);
  channel.resume();
  t.true((await received).equals(payload));
});
