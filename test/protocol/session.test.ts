// Session lifecycle: opening, accepting, half-close, reset, refusal, limits, GOAWAY.

import test from 'ava';
import { once } from 'node:events';
import { CHANNEL_REASON, GOAWAY_REASON, RpfProtocolError, Session } from '../../protocol/index.ts';
import type { Channel } from '../../protocol/index.ts';
import { REQUEST, closeOf, collect, errorOf, loneSession, openChannel, pattern, sessionPair, ticks } from './session-pair.ts';

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
  agent = new Session({ role: 'agent', keepaliveIntervalMs: 0, initialWindow: 2048, send: (m, done) => (client?.receive(Buffer.from(m)), done()) });
  client = new Session({ role: 'client', keepaliveIntervalMs: 0, initialWindow: 2048, send: (m, done) => (agent?.receive(Buffer.from(m)), done()) });
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
