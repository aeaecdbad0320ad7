// adoptConnection on real loopback sockets: an accepted connection moved into
// a socket that reads with `onread`, as the agent does with every pod
// connection (issue 9). Pins the Node internals it relies on (`_handle`).

import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { adoptConnection } from '../../node-agent/pod-socket.ts';
import { SharedReadBuffer } from '../../protocol/index.ts';
import { READ_BUFFER_SIZE } from '../../protocol/index.ts';

async function listener(onConnection: (socket: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

test('an accepted connection moved into an onread socket reads every byte into the given buffer, writes, and half-closes', async (t) => {
  const buffer = Buffer.alloc(1024);
  const reads: Buffer[] = [];
  let resolveAdopted: (value: { socket: net.Socket; accepted: net.Socket }) => void = () => {};
  const adopted = new Promise<{ socket: net.Socket; accepted: net.Socket }>((resolve) => (resolveAdopted = resolve));
  const { server, port } = await listener((accepted) => {
    const socket = adoptConnection(accepted, {
      buffer,
      callback: (n, memory) => {
        t.is(memory, buffer, 'reads land in our buffer');
        reads.push(Buffer.from(memory.subarray(0, n)));
        return true;
      },
    });
    socket.on('error', () => {});
    resolveAdopted({ socket, accepted });
  });
  t.teardown(() => server.close());
  const caller = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  caller.on('error', () => {});
  t.teardown(() => caller.destroy());
  const replies: Buffer[] = [];
  caller.on('data', (chunk: Buffer) => replies.push(chunk));
  const callerEnded = once(caller, 'end');
  // Written at once: bytes that arrive before the move are not lost.
  caller.end(Buffer.alloc(5000, 1));
  const { socket, accepted } = await adopted;
  t.not(socket, accepted);
  t.true(accepted.destroyed);
  t.is(socket.remoteAddress, '127.0.0.1');
  await once(socket, 'end');
  t.deepEqual(Buffer.concat(reads), Buffer.alloc(5000, 1), "the caller's bytes, all of them, through the callback");
  t.false(socket.destroyed, 'allowHalfOpen: our side still writes after the FIN');
  socket.end('reply');
  await callerEnded;
  t.is(Buffer.concat(replies).toString(), 'reply');
  t.is(socket.bytesRead, 5000);
});

test('a connection whose reader stops reads no more until resume()', async (t) => {
  const buffer = Buffer.alloc(64 * 1024);
  let read = 0;
  let socket: net.Socket | undefined;
  const { server, port } = await listener((accepted) => {
    socket = adoptConnection(accepted, {
      buffer,
      callback: (n) => {
        read += n;
        return false; // stop after each read
      },
    });
    socket.on('error', () => {});
  });
  t.teardown(() => server.close());
  const caller = net.connect({ port, host: '127.0.0.1' });
  caller.on('error', () => {});
  t.teardown(() => caller.destroy());
  caller.write(Buffer.alloc(4 * 1024 * 1024));
  while (read === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const stopped = read;
  t.true(stopped <= buffer.length, `one read, ${stopped} bytes`);
  socket?.resume();
  while (read === stopped) await new Promise((resolve) => setTimeout(resolve, 5));
  t.true(read > stopped, 'resume() reads again');
});

test('a connection that was read already stays as it is', async (t) => {
  const { server, port } = await listener(() => {});
  t.teardown(() => server.close());
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const caller = net.connect({ port, host: '127.0.0.1' });
  caller.on('error', () => {});
  t.teardown(() => caller.destroy());
  const [socket] = await accepted;
  socket.on('error', () => {});
  caller.write('x');
  await once(socket, 'data');
  t.is(adoptConnection(socket, { buffer: Buffer.alloc(16), callback: () => true }), socket);
  socket.destroy();
});

test('a SharedReadBuffer makes its memory at the first use, once, for every connection that shares it', (t) => {
  const shared = new SharedReadBuffer();
  const memory = shared.memory;
  t.is(memory.length, READ_BUFFER_SIZE);
  t.is(shared.memory, memory);
});
