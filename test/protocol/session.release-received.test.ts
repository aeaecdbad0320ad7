// releaseReceived: a handled message's memory is freed (detached) at once
// when nothing holds a view of it, and kept otherwise.

import test from 'ava';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Session, decodeMessage, encodeFrame, encodeFrames, joinSocket } from '../../protocol/index.ts';
import type { Channel, Frame } from '../../protocol/index.ts';
import { markAsUntransferable } from 'node:worker_threads';
import { detachReceived } from '../../protocol/message-bytes.ts';
import { REQUEST, collect, pattern, ticks } from './session-pair.ts';

/** A message in memory of its own, as ws hands over a reassembled one. */
function owned(frames: Frame[]): Buffer {
  const encoded = encodeFrames(frames);
  const message = Buffer.from(new ArrayBuffer(encoded.length));
  encoded.copy(message);
  return message;
}

const freed = (message: Buffer): boolean => message.buffer.byteLength === 0;

/** A client session whose channel 1 is open; `sent` collects what it sends. */
function clientWithChannel(options: { releaseReceived: boolean }): { session: Session; channel: Promise<Channel>; sent: Frame[] } {
  const sent: Frame[] = [];
  const session = new Session({ role: 'client', keepaliveIntervalMs: 0, ...options, send: (m) => sent.push(...decodeMessage(m)) });
  const channel = new Promise<Channel>((resolve) =>
    session.once('open', (c: Channel) => {
      c.on('error', () => {}); // the session's end at the test's end
      c.accept();
      resolve(c);
    }),
  );
  session.receive(encodeFrame({ type: 'OPEN', channel: 1, window: 1024 * 1024, ...REQUEST }));
  return { session, channel, sent };
}

test('a message whose DATA its socket wrote at once is freed, and the bytes arrived', async (t) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const socket = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  const [peer] = await accepted;
  const { session, channel } = clientWithChannel({ releaseReceived: true });
  joinSocket(await channel, socket);
  await ticks(1); // the pipe starts flowing
  const payload = pattern(100_000, 1);
  const message = owned([{ type: 'DATA', channel: 1, data: payload }]);
  const bytes: Buffer[] = [];
  peer.on('data', (chunk: Buffer) => bytes.push(chunk));
  session.receive(message);
  t.true(freed(message), 'nothing holds a view of it');
  while (Buffer.concat(bytes).length < payload.length) await ticks(1);
  t.true(Buffer.concat(bytes).equals(payload));
  session.close();
  peer.destroy();
});

test('a message is kept while a channel buffers a view of it, and read intact later', async (t) => {
  const { session, channel } = clientWithChannel({ releaseReceived: true });
  const c = await channel;
  c.pause(); // nobody reads: a DATA frame of most of its message is buffered as a view
  const payload = pattern(100_000, 2);
  const message = owned([{ type: 'DATA', channel: 1, data: payload }]);
  session.receive(message);
  t.false(freed(message));
  const received = collect(c);
  c.resume();
  session.receive(encodeFrame({ type: 'EOF', channel: 1 }));
  t.true((await received).equals(payload));
  session.close();
});

test('a message is kept when the channel consumer did not say when it holds no chunk', async (t) => {
  const { session, channel } = clientWithChannel({ releaseReceived: true });
  const c = await channel;
  const received = collect(c); // flowing, keeps every chunk
  const payload = pattern(10_000, 3);
  const message = owned([{ type: 'DATA', channel: 1, data: payload }]);
  session.receive(message);
  t.false(freed(message));
  session.receive(encodeFrame({ type: 'EOF', channel: 1 }));
  t.true((await received).equals(payload));
  session.close();
});

test('a PING is answered with its bytes after its message was freed', async (t) => {
  const { session, sent } = clientWithChannel({ releaseReceived: true });
  const ping = Buffer.from('8 bytes!');
  const message = owned([{ type: 'PING', payload: ping }]);
  session.receive(message);
  t.true(freed(message));
  await ticks(2);
  const pong = sent.find((f) => f.type === 'PONG');
  t.true(pong?.type === 'PONG' && Buffer.from(pong.payload).equals(ping));
  session.close();
});

test('without releaseReceived no message is freed', async (t) => {
  const { session } = clientWithChannel({ releaseReceived: false });
  const message = owned([{ type: 'PING', payload: Buffer.alloc(8) }]);
  session.receive(message);
  t.false(freed(message));
  session.close();
});

test('memory that cannot be detached (Node marks some untransferable) is left to the collector, without an error', (t) => {
  const memory = new ArrayBuffer(16);
  markAsUntransferable(memory);
  t.false(detachReceived(memory));
  t.is(memory.byteLength, 16);
  const plain = new ArrayBuffer(16);
  t.true(detachReceived(plain));
  t.is(plain.byteLength, 0);
});
