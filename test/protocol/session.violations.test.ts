// What a session does with a peer that breaks the protocol, and with odd input.

import test from 'ava';
import { CHANNEL_REASON, GOAWAY_REASON, RpfProtocolError, encodeFrame, encodeFrames } from '../../protocol/index.ts';
import type { Frame, ProtocolErrorCode } from '../../protocol/index.ts';
import { REQUEST, closeOf, loneSession, ticks } from './session-pair.ts';

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
