import test from 'ava';
import { once } from 'node:events';
import {
  CHANNEL_REASON,
  GOAWAY_REASON,
  MAX_MESSAGE_SIZE,
  RpfProtocolError,
  Session,
  decodeMessage,
  encodeFrame,
  encodeFrames,
} from '../../protocol/index.ts';
import type { Channel, Frame, ProtocolErrorCode, SessionOptions } from '../../protocol/index.ts';
import { collect, pattern, sessionPair, ticks } from './session-pair.ts';
import type { SessionPair } from './session-pair.ts';

const REQUEST = { listenerPort: 8080, address: '127.0.0.1', peer: '127.0.0.1:40000' };

/** Opens one channel through the pair and waits until both ends hold it, accepted. */
async function openChannel(pair: SessionPair): Promise<{ agentChannel: Channel; clientChannel: Channel }> {
  const opened = once(pair.client, 'open') as Promise<[Channel]>;
  const agentChannel = pair.agent.open(REQUEST);
  const [clientChannel] = await opened;
  clientChannel.accept();
  await once(agentChannel, 'accepted');
  return { agentChannel, clientChannel };
}

/** The error a stream is destroyed with. */
function errorOf(stream: NodeJS.EventEmitter): Promise<RpfProtocolError> {
  return once(stream, 'error').then(([error]) => error as RpfProtocolError);
}

/** The error a session closes with (events.once would reject on its 'error' event instead). */
function closeOf(session: Session): Promise<RpfProtocolError | undefined> {
  return new Promise((resolve) => session.once('close', resolve));
}

/** A lone session whose sent frames are decoded into `frames`. */
function loneSession(options: Omit<SessionOptions, 'send'>): { session: Session; frames: Frame[]; flush(): Promise<void> } {
  const frames: Frame[] = [];
  const session = new Session({ keepaliveIntervalMs: 0, ...options, send: (m) => frames.push(...decodeMessage(m)) });
  return { session, frames, flush: () => ticks(2) };
}

test('the client learns where an agent-opened connection came from and both sides exchange data', async (t) => {
  const pair = sessionPair();
  const opened = once(pair.client, 'open') as Promise<[Channel]>;
  const agentChannel = pair.agent.open(REQUEST);
  const [clientChannel] = await opened;
  t.is(clientChannel.listenerPort, 8080);
  t.is(clientChannel.address, '127.0.0.1');
  t.is(clientChannel.peer, '127.0.0.1:40000');
  t.is(clientChannel.id, agentChannel.id);
  t.is(clientChannel.state, 'pending');
  t.is(agentChannel.state, 'opening');
  t.true(clientChannel.accept());
  await once(agentChannel, 'accepted');
  t.is(agentChannel.state, 'open');

  const toClient = collect(clientChannel);
  const toAgent = collect(agentChannel);
  agentChannel.end('ping from the pod');
  clientChannel.end('pong from localhost');
  t.is((await toClient).toString(), 'ping from the pod');
  t.is((await toAgent).toString(), 'pong from localhost');
  await ticks(2);
  t.is(pair.agent.stats.channelsOpen, 0);
  t.is(pair.client.stats.channelsOpen, 0);
  t.is(pair.agent.stats.bytesOut, 17);
  t.is(pair.client.stats.bytesIn, 17);
  t.is(pair.client.stats.bytesOut, 19);
});

test('after the agent side half-closes, the client can still send and the data arrives', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const toClient = collect(clientChannel);
  agentChannel.end('request');
  t.is((await toClient).toString(), 'request');
  t.false(clientChannel.writableEnded);
  t.is(clientChannel.state, 'open');

  const toAgent = collect(agentChannel);
  clientChannel.write('response part 1, ');
  await ticks(3);
  clientChannel.end('part 2');
  t.is((await toAgent).toString(), 'response part 1, part 2');
  await ticks(2);
  t.is(clientChannel.state, 'closed');
  t.is(agentChannel.state, 'closed');
});

test('after the client side half-closes, the agent can still send and the data arrives', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const toAgent = collect(agentChannel);
  clientChannel.end('upload');
  t.is((await toAgent).toString(), 'upload');
  t.false(agentChannel.writableEnded);

  const big = pattern(3 * 1024 * 1024, 7);
  const toClient = collect(clientChannel);
  agentChannel.end(big);
  t.true((await toClient).equals(big));
});

test('an EOF written before the client accepted waits for the accept', async (t) => {
  const pair = sessionPair();
  const opened = once(pair.client, 'open') as Promise<[Channel]>;
  const agentChannel = pair.agent.open(REQUEST);
  agentChannel.end('early bytes');
  const [clientChannel] = await opened;
  await ticks(3);
  t.is(clientChannel.readableLength, 0);
  const received = collect(clientChannel);
  clientChannel.accept();
  t.is((await received).toString(), 'early bytes');
});

test('destroying a channel with a socket error resets it on the other side with a matching reason', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const failed = errorOf(clientChannel);
  agentChannel.on('error', () => {});
  agentChannel.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  const error = await failed;
  t.is(error.code, 'RPF_ERR_PROTOCOL_RESET');
  t.is(error.reason, CHANNEL_REASON.CONNECTION_RESET);
  t.is(error.scope, 'channel');
  t.is(clientChannel.state, 'closed');
  await ticks(2);
  t.is(pair.client.stats.channelsOpen, 0);
  t.is(pair.agent.stats.channelsOpen, 0);
  t.false(pair.agent.closed);
});

test('reset() sends the given reason and destroys the channel without an error', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const failed = errorOf(agentChannel);
  clientChannel.on('error', () => t.fail('reset() must not emit error locally'));
  clientChannel.reset(CHANNEL_REASON.TIMEOUT, 'idle');
  t.true(clientChannel.destroyed);
  const error = await failed;
  t.is(error.code, 'RPF_ERR_PROTOCOL_RESET');
  t.is(error.reason, CHANNEL_REASON.TIMEOUT);
});

test('a reset on one channel leaves the other channels of the session working', async (t) => {
  const pair = sessionPair();
  const first = await openChannel(pair);
  const second = await openChannel(pair);
  first.clientChannel.on('error', () => {});
  first.agentChannel.destroy();
  await ticks(3);
  t.true(first.clientChannel.destroyed);
  const received = collect(second.clientChannel);
  second.agentChannel.end('still here');
  t.is((await received).toString(), 'still here');
});

test('a rejected open fails the agent channel with the client reason and sends no data', async (t) => {
  const pair = sessionPair();
  pair.client.on('open', (channel) => channel.reject(CHANNEL_REASON.CONNECT_REFUSED, 'connect ECONNREFUSED 127.0.0.1:3000'));
  const agentChannel = pair.agent.open(REQUEST);
  let written = false;
  agentChannel.write('never delivered', (error) => {
    written = error === undefined || error === null;
  });
  const error = await errorOf(agentChannel);
  t.is(error.code, 'RPF_ERR_PROTOCOL_OPEN_FAILED');
  t.is(error.reason, CHANNEL_REASON.CONNECT_REFUSED);
  t.false(written);
  t.is(pair.agent.stats.bytesOut, 0);
  t.is(pair.agent.stats.channelsOpen, 0);
});

test('a client with no open listener refuses every connection', async (t) => {
  const pair = sessionPair();
  const agentChannel = pair.agent.open(REQUEST);
  const error = await errorOf(agentChannel);
  t.is(error.code, 'RPF_ERR_PROTOCOL_OPEN_FAILED');
  t.is(error.reason, CHANNEL_REASON.CONNECT_FAILED);
});

test('the agent giving up before the client accepted makes accept() return false', async (t) => {
  const pair = sessionPair();
  const opened = once(pair.client, 'open') as Promise<[Channel]>;
  const agentChannel = pair.agent.open(REQUEST);
  const [clientChannel] = await opened;
  clientChannel.on('error', () => {});
  agentChannel.destroy();
  await ticks(3);
  t.true(clientChannel.destroyed);
  t.false(clientChannel.accept());
});

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

test('a peer sending more than the window is a protocol error that ends the session', async (t) => {
  const { session, frames, flush } = loneSession({ role: 'client', initialWindow: 16 });
  session.on('open', (channel) => channel.accept());
  const errors: RpfProtocolError[] = [];
  session.on('error', (error) => errors.push(error));
  const closed = closeOf(session);
  session.receive(encodeFrame({ type: 'OPEN', channel: 1, window: 1024, ...REQUEST }));
  const channel = session.channels()[0];
  channel?.on('error', () => {});
  session.receive(encodeFrame({ type: 'DATA', channel: 1, data: Buffer.alloc(17) }));
  const closeError = await closed;
  t.is(errors[0]?.code, 'RPF_ERR_PROTOCOL_WINDOW_EXCEEDED');
  t.is(closeError?.code, 'RPF_ERR_PROTOCOL_WINDOW_EXCEEDED');
  t.is(closeError?.closeCode, 1002);
  t.true(session.closed);
  t.true(channel?.destroyed);
  await flush();
  const goaway = frames.find((f) => f.type === 'GOAWAY');
  t.is(goaway?.type === 'GOAWAY' ? goaway.reason : undefined, GOAWAY_REASON.PROTOCOL_ERROR);
});

const violations: Array<{ name: string; role: 'agent' | 'client'; frames: Frame[][]; code: ProtocolErrorCode }> = [
  {
    name: 'DATA for a channel that was never opened',
    role: 'client',
    frames: [[{ type: 'DATA', channel: 1, data: Buffer.from('x') }]],
    code: 'RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL',
  },
  {
    name: 'OPEN_OK at the agent for a channel it never opened',
    role: 'agent',
    frames: [[{ type: 'OPEN_OK', channel: 1, window: 1 }]],
    code: 'RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL',
  },
  {
    name: 'OPEN sent to the agent',
    role: 'agent',
    frames: [[{ type: 'OPEN', channel: 1, window: 1, ...REQUEST }]],
    code: 'RPF_ERR_PROTOCOL_UNEXPECTED_FRAME',
  },
  {
    name: 'LISTENING sent to the agent',
    role: 'agent',
    frames: [[{ type: 'LISTENING', listeners: [] }]],
    code: 'RPF_ERR_PROTOCOL_UNEXPECTED_FRAME',
  },
  {
    name: 'OPEN with an even channel id',
    role: 'client',
    frames: [[{ type: 'OPEN', channel: 2, window: 1, ...REQUEST }]],
    code: 'RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID',
  },
  {
    name: 'OPEN reusing a channel id',
    role: 'client',
    frames: [[{ type: 'OPEN', channel: 3, window: 1, ...REQUEST }], [{ type: 'OPEN', channel: 1, window: 1, ...REQUEST }]],
    code: 'RPF_ERR_PROTOCOL_INVALID_CHANNEL_ID',
  },
  {
    name: 'DATA before the client accepted',
    role: 'client',
    frames: [[{ type: 'OPEN', channel: 1, window: 1, ...REQUEST }, { type: 'DATA', channel: 1, data: Buffer.from('x') }]],
    code: 'RPF_ERR_PROTOCOL_UNEXPECTED_FRAME',
  },
  {
    name: 'a malformed message',
    role: 'client',
    frames: [],
    code: 'RPF_ERR_PROTOCOL_MALFORMED_FRAME',
  },
];

for (const { name, role, frames, code } of violations) {
  test(`${name} ends the session with ${code}`, async (t) => {
    const { session } = loneSession({ role });
    session.on('open', (channel) => channel.on('error', () => {}));
    const closed = closeOf(session);
    if (frames.length === 0) session.receive(Buffer.from([0x04, 0, 0]));
    for (const batch of frames) session.receive(encodeFrames(batch));
    t.is((await closed)?.code, code);
  });
}

test('a protocol error without an error listener still closes the session and does not throw', (t) => {
  const { session } = loneSession({ role: 'client' });
  t.notThrows(() => session.receive(encodeFrame({ type: 'EOF', channel: 9 })));
  t.true(session.closed);
  t.is(session.closeError?.code, 'RPF_ERR_PROTOCOL_UNKNOWN_CHANNEL');
});

test('frames that cross a reset on the wire are ignored', async (t) => {
  const { session } = loneSession({ role: 'client' });
  session.on('open', (channel) => {
    channel.accept();
    channel.reset(CHANNEL_REASON.CANCELLED);
  });
  session.receive(encodeFrame({ type: 'OPEN', channel: 1, window: 1024, ...REQUEST }));
  session.receive(
    encodeFrames([
      { type: 'DATA', channel: 1, data: Buffer.from('late') },
      { type: 'WINDOW_ADJUST', channel: 1, increment: 10 },
      { type: 'EOF', channel: 1 },
      { type: 'RESET', channel: 1, reason: 1, message: '' },
    ]),
  );
  t.false(session.closed);
  await ticks(1);
});

test('the agent refuses open() beyond maxChannels with CONNECTION_LIMIT until a channel closes', async (t) => {
  const pair = sessionPair({ agent: { maxChannels: 2 } });
  const first = await openChannel(pair);
  await openChannel(pair);
  const error = t.throws(() => pair.agent.open(REQUEST), { instanceOf: RpfProtocolError });
  t.is(error?.code, 'RPF_ERR_PROTOCOL_CONNECTION_LIMIT');
  t.is(error?.scope, 'call');
  t.is(pair.agent.stats.channelsRefusedTotal, 1);

  first.clientChannel.on('error', () => {});
  first.agentChannel.destroy();
  await ticks(2);
  t.notThrows(() => pair.agent.open(REQUEST).on('error', () => {}));
});

test('a client at its own limit refuses further connections with reason CONNECTION_LIMIT', async (t) => {
  const pair = sessionPair({ client: { maxChannels: 1 } });
  await openChannel(pair);
  const error = await errorOf(pair.agent.open(REQUEST));
  t.is(error.code, 'RPF_ERR_PROTOCOL_OPEN_FAILED');
  t.is(error.reason, CHANNEL_REASON.CONNECTION_LIMIT);
  t.is(pair.client.stats.channelsRefusedTotal, 1);
  t.false(pair.client.closed);
});

test('GOAWAY closes every channel on both sides and tells the peer why', async (t) => {
  const pair = sessionPair();
  const a = await openChannel(pair);
  const b = await openChannel(pair);
  const channelErrors = [a.agentChannel, a.clientChannel, b.agentChannel, b.clientChannel].map(errorOf);
  const clientClosed = closeOf(pair.client);
  const agentClosed = closeOf(pair.agent);
  pair.agent.close(GOAWAY_REASON.POD_GONE, 'pod default/web-0 was deleted');
  t.true(pair.agent.closed);
  t.is(await agentClosed, undefined);
  const clientError = await clientClosed;
  t.is(clientError?.code, 'RPF_ERR_PROTOCOL_GOAWAY');
  t.is(clientError?.reason, GOAWAY_REASON.POD_GONE);
  for (const error of await Promise.all(channelErrors)) t.is(error.code, 'RPF_ERR_PROTOCOL_SESSION_CLOSED');
  t.is(pair.client.stats.channelsOpen, 0);
});

test('a normal GOAWAY closes the peer without an error', async (t) => {
  const pair = sessionPair();
  const closed = closeOf(pair.agent);
  pair.client.close();
  t.is(await closed, undefined);
});

test('open() and sendListening() after close throw SESSION_CLOSED', (t) => {
  const pair = sessionPair();
  pair.agent.close();
  t.is(t.throws(() => pair.agent.open(REQUEST), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_SESSION_CLOSED');
  t.is(t.throws(() => pair.agent.sendListening([]), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_SESSION_CLOSED');
});

test('only the agent opens channels or reports listeners', (t) => {
  const pair = sessionPair();
  t.is(t.throws(() => pair.client.open(REQUEST), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
  t.is(t.throws(() => pair.client.sendListening([]), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
});

test('an invalid open request throws INVALID_ARGUMENT and uses up no channel', (t) => {
  const pair = sessionPair();
  t.is(t.throws(() => pair.agent.open({ ...REQUEST, listenerPort: 0 }), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
  t.is(pair.agent.stats.channelsOpen, 0);
  const channel = pair.agent.open(REQUEST);
  channel.on('error', () => {});
  t.is(channel.id, 1);
});

test('the client hears the listeners the agent reports', async (t) => {
  const pair = sessionPair();
  const heard = once(pair.client, 'listening');
  pair.agent.sendListening([{ address: '127.0.0.1', port: 41234, requestedPort: 0 }]);
  const [listeners] = await heard;
  t.deepEqual(listeners, [{ address: '127.0.0.1', port: 41234, requestedPort: 0 }]);
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
      sent.push(...decodeMessage(message));
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

test('destroy() ends the session without a GOAWAY and wraps foreign errors', async (t) => {
  const { session, frames, flush } = loneSession({ role: 'agent' });
  const channel = session.open(REQUEST);
  const channelError = errorOf(channel);
  session.destroy(new Error('websocket closed 1006'));
  t.is(session.closeError?.code, 'RPF_ERR_PROTOCOL_TRANSPORT_CLOSED');
  t.is((await channelError).code, 'RPF_ERR_PROTOCOL_SESSION_CLOSED');
  await flush();
  t.false(frames.some((f) => f.type === 'GOAWAY'));
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

test('channels count their own bytes', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const received = collect(clientChannel);
  agentChannel.end(Buffer.alloc(1000));
  await received;
  t.is(agentChannel.bytesOut, 1000);
  t.is(clientChannel.bytesIn, 1000);
  t.is(pair.agent.stats.messagesOut, pair.client.stats.messagesIn);
  t.is(pair.agent.stats.wireBytesOut, pair.client.stats.wireBytesIn);
});

test('constructor options are validated', (t) => {
  const send = (): void => {};
  t.is(t.throws(() => new Session({ role: 'agent', send, initialWindow: 0 }), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
  t.is(t.throws(() => new Session({ role: 'agent', send, initialWindow: 2 ** 31 }), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
  t.is(t.throws(() => new Session({ role: 'agent', send, maxChannels: 1.5 }), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
  t.is(t.throws(() => new Session({ role: 'proxy' as 'agent', send }), { instanceOf: RpfProtocolError })?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT');
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

test('a text WebSocket message is a protocol error', (t) => {
  const { session } = loneSession({ role: 'client' });
  session.receive(Buffer.from('hello'), false);
  t.is(session.closeError?.code, 'RPF_ERR_PROTOCOL_MALFORMED_FRAME');
});

test('receive() takes a message as an ArrayBuffer or as fragments, the way ws may deliver it', (t) => {
  const { session } = loneSession({ role: 'client' });
  const heard: unknown[] = [];
  session.on('listening', (listeners) => heard.push(listeners));
  const message = encodeFrame({ type: 'LISTENING', listeners: [{ address: '::1', port: 1, requestedPort: 1 }] });
  const arrayBuffer = new ArrayBuffer(message.length);
  new Uint8Array(arrayBuffer).set(message);
  session.receive(arrayBuffer);
  session.receive([message.subarray(0, 4), message.subarray(4)]);
  t.is(heard.length, 2);
  t.false(session.closed);
});

test('a client channel reset before it was accepted answers OPEN_FAIL with the reason', async (t) => {
  const pair = sessionPair();
  pair.client.on('open', (channel) => channel.reset(CHANNEL_REASON.SESSION_CLOSING, 'shutting down'));
  const error = await errorOf(pair.agent.open(REQUEST));
  t.is(error.code, 'RPF_ERR_PROTOCOL_OPEN_FAILED');
  t.is(error.reason, CHANNEL_REASON.SESSION_CLOSING);
});

test('the agent channel emits accepted once, when OPEN_OK arrives', async (t) => {
  const pair = sessionPair();
  pair.client.on('open', (channel) => channel.accept());
  const channel = pair.agent.open(REQUEST);
  let accepted = 0;
  channel.on('accepted', () => accepted++);
  await ticks(4);
  t.is(accepted, 1);
  t.is(channel.state, 'open');
  t.is(pair.client.stats.channelsOpenedTotal, 1);
});

test('sessions joined by a transport that delivers synchronously still carry everything', async (t) => {
  let agent: Session | undefined;
  let client: Session | undefined;
  agent = new Session({ role: 'agent', keepaliveIntervalMs: 0, initialWindow: 2048, send: (m, done) => (client?.receive(m), done()) });
  client = new Session({ role: 'client', keepaliveIntervalMs: 0, initialWindow: 2048, send: (m, done) => (agent?.receive(m), done()) });
  const echoed = new Promise<void>((resolve) =>
    client.on('open', (channel) => {
      channel.accept();
      channel.pipe(channel);
      channel.on('finish', resolve);
    }),
  );
  const channel = agent.open(REQUEST);
  const data = pattern(100_000, 9);
  const back = collect(channel);
  channel.end(data);
  t.true((await back).equals(data));
  await echoed;
  t.false(agent.closed || client.closed);
});
