// Flow control, batching and transport backpressure of a session.

import { Writable } from 'node:stream';
import test from 'ava';
import { MAX_MESSAGE_SIZE, Session, decodeMessage, encodeFrame } from '../../protocol/index.ts';
import type { Channel, Frame } from '../../protocol/index.ts';
import { REQUEST, closeOf, collect, openChannel, pattern, sessionPair, ticks } from './session-pair.ts';

test('writes beyond the window wait for WINDOW_ADJUST, which comes only as the reader consumes', async (t) => {
  const window = 4096;
  const pair = sessionPair({ client: { initialWindow: window } });
  const { agentChannel, clientChannel } = await openChannel(pair);
  clientChannel.pause();
  const payload = pattern(5 * window, 3);
  let writeDone = false;
  agentChannel.write(payload, () => {
    writeDone = true;
  });
  await ticks(10);
  t.is(agentChannel.sendWindow, 0);
  t.false(writeDone);
  t.is(clientChannel.readableLength, window);

  const received = collect(clientChannel);
  clientChannel.resume();
  await ticks(30);
  t.true(writeDone);
  agentChannel.end();
  t.true((await received).equals(payload));
});

test('a channel whose reader is paused stalls only itself', async (t) => {
  const window = 8192;
  const pair = sessionPair({ client: { initialWindow: window } });
  const slow = await openChannel(pair);
  const fast = await openChannel(pair);
  slow.clientChannel.pause();
  slow.agentChannel.write(pattern(10 * window, 1));
  const big = pattern(20 * window, 2);
  const received = collect(fast.clientChannel);
  fast.agentChannel.end(big);
  t.true((await received).equals(big));
  t.true(slow.clientChannel.readableLength <= window);
});

test('frames of one tick travel in one message', async (t) => {
  const pair = sessionPair();
  pair.client.on('open', (channel) => channel.accept());
  for (let i = 0; i < 5; i++) pair.agent.open(REQUEST).write(`hello ${i}`);
  pair.agent.sendListening([]);
  await ticks(1);
  t.is(pair.sent.agent.length, 1);
  t.is(decodeMessage(pair.sent.agent[0] as Buffer).length, 6);
});

test('a tick writing more than one message worth of data sends messages no larger than the maximum', async (t) => {
  const pair = sessionPair({ client: { initialWindow: 8 * 1024 * 1024 } });
  const channels = [await openChannel(pair), await openChannel(pair), await openChannel(pair)];
  const before = pair.sent.agent.length;
  const received = channels.map((c) => collect(c.clientChannel));
  for (const [i, c] of channels.entries()) c.agentChannel.end(pattern(1024 * 1024 + 17, i));
  for (const [i, data] of (await Promise.all(received)).entries()) t.true(data.equals(pattern(1024 * 1024 + 17, i)));
  const messages = pair.sent.agent.slice(before);
  t.true(messages.every((m) => m.length <= MAX_MESSAGE_SIZE));
  t.true(messages.some((m) => m.length > MAX_MESSAGE_SIZE - 300 * 1024), 'batches fill up');
});

test('a transport that has not taken its messages holds DATA but not control frames', async (t) => {
  const done: Array<() => void> = [];
  const sent: Frame[] = [];
  const agent = new Session({
    role: 'agent',
    keepaliveIntervalMs: 0,
    sendHighWaterMark: 64 * 1024,
    send: (message, callback) => {
      // A copy: after the callback the session reuses the message's memory.
      sent.push(...decodeMessage(Buffer.from(message)));
      done.push(() => callback());
    },
  });
  const channel = agent.open(REQUEST);
  agent.receive(encodeFrame({ type: 'OPEN_OK', channel: channel.id, window: 1024 * 1024 }));
  channel.write(pattern(512 * 1024, 1));
  await ticks(3);
  const dataBytes = (): number => sent.reduce((n, f) => n + (f.type === 'DATA' ? f.data.length : 0), 0);
  const held = dataBytes();
  t.true(held <= 64 * 1024 + 256 * 1024, `${held} bytes of DATA went out`);
  t.true(held < 512 * 1024);
  agent.receive(encodeFrame({ type: 'PING', payload: Buffer.alloc(8) }));
  await ticks(2);
  t.true(sent.some((f) => f.type === 'PONG'), 'control frames still go out');

  while (dataBytes() < 512 * 1024) {
    const callbacks = done.splice(0);
    t.true(callbacks.length > 0, 'progress needs done callbacks');
    for (const cb of callbacks) cb();
    await ticks(2);
  }
  t.is(dataBytes(), 512 * 1024);
});

test('a failed send ends the session with TRANSPORT_CLOSED', async (t) => {
  const agent = new Session({
    role: 'agent',
    keepaliveIntervalMs: 0,
    send: (_message, callback) => callback(new Error('socket hang up')),
  });
  const closed = closeOf(agent);
  agent.open(REQUEST).on('error', () => {});
  t.is((await closed)?.code, 'RPF_ERR_PROTOCOL_TRANSPORT_CLOSED');
});

test('a write interrupted by destroy gets an error in its callback', async (t) => {
  const pair = sessionPair({ client: { initialWindow: 16 } });
  const { agentChannel, clientChannel } = await openChannel(pair);
  clientChannel.pause();
  clientChannel.on('error', () => {});
  const result = new Promise<Error | null | undefined>((resolve) => agentChannel.write(Buffer.alloc(64), resolve));
  await ticks(5);
  agentChannel.destroy();
  t.truthy(await result);
});

test('many small writes queued behind one in flight travel as few DATA frames', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const received = collect(clientChannel);
  const before = pair.sent.agent.length;
  const data = pattern(10_000, 5);
  for (let i = 0; i < data.length; i++) agentChannel.write(data.subarray(i, i + 1));
  agentChannel.end();
  t.true((await received).equals(data));
  const frames = pair.sent.agent.slice(before).flatMap((m) => decodeMessage(m)).filter((f) => f.type === 'DATA');
  t.true(frames.length <= 3, `${frames.length} DATA frames`);
});

// Issue 9: a channel pushes DATA as views into their message while its consumer
// keeps up (flowing, nothing buffered) and copies them otherwise. A view pins its
// whole message (1 MiB for a 256 KiB frame); this bounds what pausing can pin.
const pinningCases: Array<{ name: string; consume: (channel: Channel) => void }> = [
  {
    name: "a 'data' listener that pauses in the middle of a message",
    consume: (channel) => {
      let seen = 0;
      channel.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= 300 * 1024) channel.pause();
      });
    },
  },
  {
    name: 'pipe() into a writable that stops taking bytes',
    consume: (channel) => {
      channel.pipe(new Writable({ highWaterMark: 256 * 1024, write: () => {} }));
    },
  },
  {
    name: 'a reader paused from outside, between messages',
    consume: (channel) => {
      let seen = 0;
      channel.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen >= 1536 * 1024) setImmediate(() => channel.pause());
      });
    },
  },
];

for (const { name, consume } of pinningCases) {
  test(`a channel flowing, then paused, pins at most about one message beyond its window: ${name}`, async (t) => {
    const window = 1024 * 1024;
    const pair = sessionPair({ client: { initialWindow: window } });
    // A bulk channel fills the messages, so the watched channel's DATA frames are
    // small slices of 1 MiB messages: the case where a view pins the most.
    const bulk = await openChannel(pair);
    bulk.clientChannel.resume();
    bulk.agentChannel.write(pattern(8 * window, 3));
    const { agentChannel, clientChannel } = await openChannel(pair);
    const viewsWhileFlowing: boolean[] = [];
    clientChannel.once('data', (chunk: Buffer) => viewsWhileFlowing.push(chunk.buffer.byteLength > chunk.length));
    consume(clientChannel);
    const data = pattern(4 * window, 7);
    for (let offset = 0; offset < data.length; offset += 32 * 1024) {
      agentChannel.write(data.subarray(offset, offset + 32 * 1024));
      await ticks(1);
    }
    await ticks(40);
    t.false(clientChannel.readableFlowing === true, 'the consumer paused');
    t.deepEqual(viewsWhileFlowing, [true], 'a consumer that keeps up gets views, not copies');
    const held = clientChannel.readableLength;
    t.true(held > 0 && held <= window, `${held} bytes buffered, at most the window`);

    // Resumed, the channel hands over exactly its buffered chunks first, one by one.
    const chunks: Buffer[] = [];
    let taken = 0;
    clientChannel.unpipe();
    clientChannel.removeAllListeners('data');
    clientChannel.on('data', (chunk: Buffer) => {
      if (taken < held) chunks.push(chunk);
      taken += chunk.length;
    });
    clientChannel.resume();
    await ticks(1);
    t.is(chunks.reduce((n, c) => n + c.length, 0), held);
    const pinned = [...new Set(chunks.map((c) => c.buffer))].reduce((n, b) => n + b.byteLength, 0);
    t.true(pinned <= window + MAX_MESSAGE_SIZE, `${pinned} bytes of memory behind ${held} buffered bytes`);
    for (const channel of [clientChannel, bulk.clientChannel]) channel.on('error', () => {});
    agentChannel.destroy();
    bulk.agentChannel.destroy();
  });
}
