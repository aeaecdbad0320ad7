// Channel.writeBorrowed: bytes the caller reuses at once (a socket read into
// one buffer, readIntoChannel), framed before it returns, and the answer
// that tells the caller to stop reading until the channel can take more.

import test from 'ava';
import { Session, decodeMessage, encodeFrame } from '../../protocol/index.ts';
import type { Frame } from '../../protocol/index.ts';
import { READ_BUFFER_SIZE } from '../../protocol/read-into-channel.ts';
import { REQUEST, collect, openChannel, pattern, sessionPair, ticks } from './session-pair.ts';

/** Writes `bytes` as a reader with one reused buffer would: through `read`, overwritten after each call. */
function borrowedWriter(write: (bytes: Buffer, ready: () => void) => boolean) {
  const memory = Buffer.alloc(READ_BUFFER_SIZE);
  let readies = 0;
  return {
    get readies() {
      return readies;
    },
    /** Returns what writeBorrowed answered. */
    write(bytes: Buffer): boolean {
      bytes.copy(memory);
      const more = write(memory.subarray(0, bytes.length), () => readies++);
      memory.fill(0xee); // the next read lands here
      return more;
    },
  };
}

test('borrowed bytes arrive intact although their memory is overwritten right after each write', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  const received = collect(clientChannel);
  const payload = pattern(300 * 1024, 4);
  const writer = borrowedWriter((bytes, ready) => agentChannel.writeBorrowed(bytes, ready));
  for (let at = 0; at < payload.length; at += 50_000) t.true(writer.write(payload.subarray(at, at + 50_000)), 'the window and the transport take it all');
  agentChannel.end();
  t.true((await received).equals(payload));
});

test('before the client accepted, borrowed bytes wait as a copy and the reader stops until they went out', async (t) => {
  const pair = sessionPair();
  const opened = new Promise<import('../../protocol/index.ts').Channel>((resolve) => pair.client.once('open', resolve));
  const agentChannel = pair.agent.open(REQUEST);
  const writer = borrowedWriter((bytes, ready) => agentChannel.writeBorrowed(bytes, ready));
  t.false(writer.write(Buffer.from('early bytes')), 'stop reading: the channel is not open');
  const clientChannel = await opened;
  await ticks(3);
  t.is(writer.readies, 0, 'not before OPEN_OK');
  const received = collect(clientChannel);
  clientChannel.accept();
  await ticks(5);
  t.is(writer.readies, 1, 'ready once the copy was framed');
  agentChannel.end();
  t.is((await received).toString(), 'early bytes');
});

test('bytes beyond the window are kept as a copy of at most one read, and the reader resumes as the reader consumes', async (t) => {
  const window = 100 * 1024;
  const pair = sessionPair({ client: { initialWindow: window } });
  const { agentChannel, clientChannel } = await openChannel(pair);
  clientChannel.pause();
  const writer = borrowedWriter((bytes, ready) => agentChannel.writeBorrowed(bytes, ready));
  const payload = pattern(4 * READ_BUFFER_SIZE, 5);
  t.true(writer.write(payload.subarray(0, READ_BUFFER_SIZE)));
  t.false(writer.write(payload.subarray(READ_BUFFER_SIZE, 2 * READ_BUFFER_SIZE)), 'the window ran out inside this read');
  t.is(agentChannel.sendWindow, 0);
  t.is(agentChannel.writableLength, 2 * READ_BUFFER_SIZE - window, 'only the rest of that read is held');
  await ticks(5);
  t.is(writer.readies, 0);
  const received = collect(clientChannel);
  clientChannel.resume();
  await ticks(10);
  t.is(writer.readies, 1);
  t.true(writer.write(payload.subarray(2 * READ_BUFFER_SIZE, 3 * READ_BUFFER_SIZE)));
  // Whether this one fits depends on grants still in flight; either way every byte arrives in order.
  writer.write(payload.subarray(3 * READ_BUFFER_SIZE));
  agentChannel.end();
  t.true((await received).equals(payload));
});

/**
 * An agent session with one open channel (a 16 MiB window) whose transport
 * confirms nothing until the test runs `done`; `sent` has every frame handed over.
 */
function heldTransport(sendHighWaterMark: number) {
  const sent: Frame[] = [];
  const done: Array<() => void> = [];
  const agent = new Session({
    role: 'agent',
    keepaliveIntervalMs: 0,
    sendHighWaterMark,
    send: (message, callback) => {
      sent.push(...decodeMessage(Buffer.from(message)));
      done.push(() => callback());
    },
  });
  const channel = agent.open(REQUEST);
  channel.on('error', () => {}); // the session's end at the test's end
  agent.receive(encodeFrame({ type: 'OPEN_OK', channel: channel.id, window: 16 * 1024 * 1024 }));
  return { agent, channel, sent, done };
}

test('at the transport high-water mark the reader stops, and resumes once the transport confirmed enough', async (t) => {
  const { agent, channel, sent, done } = heldTransport(128 * 1024);
  const writer = borrowedWriter((bytes, ready) => channel.writeBorrowed(bytes, ready));
  const read = pattern(READ_BUFFER_SIZE, 6);
  t.true(writer.write(read));
  t.false(writer.write(read), 'the second read reaches the mark: stop');
  t.is(channel.writableLength, 0, 'it was framed, not held: over the mark by at most one read');
  await ticks(3);
  t.is(writer.readies, 0, 'nothing confirmed yet');
  for (const cb of done.splice(0)) cb();
  await ticks(3);
  t.is(writer.readies, 1);
  const dataBytes = sent.reduce((n, f) => n + (f.type === 'DATA' ? f.data.length : 0), 0);
  t.is(dataBytes, 2 * READ_BUFFER_SIZE);
  agent.destroy();
});

test('a destroyed channel takes no borrowed bytes and never calls ready', async (t) => {
  const pair = sessionPair();
  const { agentChannel, clientChannel } = await openChannel(pair);
  clientChannel.on('error', () => {}); // our RESET
  agentChannel.destroy();
  const writer = borrowedWriter((bytes, ready) => agentChannel.writeBorrowed(bytes, ready));
  t.false(writer.write(Buffer.from('late')));
  await ticks(3);
  t.is(writer.readies, 0);
});

test('a read larger than a DATA frame goes over the transport high-water mark by one frame at most; the rest waits as a copy', async (t) => {
  const { agent, channel, sent, done } = heldTransport(64 * 1024);
  const read = pattern(1024 * 1024, 7);
  let readies = 0;
  t.false(channel.writeBorrowed(read, () => readies++));
  t.is(channel.writableLength, 1024 * 1024 - 256 * 1024, 'one DATA frame went; the rest is a copy of our own');
  read.fill(0);
  while (readies === 0) {
    for (const cb of done.splice(0)) cb();
    await ticks(2);
  }
  const data = Buffer.concat(sent.flatMap((f) => (f.type === 'DATA' ? [Buffer.from(f.data)] : [])));
  t.true(data.equals(pattern(1024 * 1024, 7)));
  agent.destroy();
});
