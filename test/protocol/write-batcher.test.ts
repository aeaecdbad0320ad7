import test from 'ava';
import { decodeMessage } from '../../protocol/index.ts';
import { WriteBatcher } from '../../protocol/write-batcher.ts';

function batcher(maxMessageSize = 1024) {
  const messages: Buffer[] = [];
  const scheduled: Array<() => void> = [];
  const b = new WriteBatcher({ send: (m) => messages.push(m), schedule: (fn) => scheduled.push(fn), maxMessageSize });
  return { b, messages, runScheduled: () => scheduled.splice(0).forEach((fn) => fn()) };
}

test('frames pushed in one tick leave as one message when the tick ends', (t) => {
  const { b, messages, runScheduled } = batcher();
  b.push({ type: 'EOF', channel: 1 });
  b.push({ type: 'EOF', channel: 3 });
  t.is(messages.length, 0);
  runScheduled();
  t.is(messages.length, 1);
  t.deepEqual(decodeMessage(messages[0] as Buffer), [{ type: 'EOF', channel: 1 }, { type: 'EOF', channel: 3 }]);
});

test('a frame that would overflow the batch flushes it first', (t) => {
  const { b, messages, runScheduled } = batcher(100);
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(60) });
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(60) });
  t.is(messages.length, 1);
  runScheduled();
  t.is(messages.length, 2);
  t.true(messages.every((m) => m.length <= 100));
});

test('afterFlush callbacks run once the frames before them were sent', (t) => {
  const { b, messages, runScheduled } = batcher();
  const order: string[] = [];
  b.push({ type: 'EOF', channel: 1 });
  b.afterFlush(() => order.push(`callback after ${messages.length} message(s)`));
  runScheduled();
  t.deepEqual(order, ['callback after 1 message(s)']);
});

test('the batch copies frame bytes at flush, so a buffer may be reused after its callback', (t) => {
  const { b, messages, runScheduled } = batcher();
  const data = Buffer.from('abc');
  b.push({ type: 'DATA', channel: 1, data });
  b.afterFlush(() => data.fill(0));
  runScheduled();
  const [frame] = decodeMessage(messages[0] as Buffer);
  t.true(frame?.type === 'DATA' && Buffer.from(frame.data).toString() === 'abc');
});

test('close() drops queued frames and hands back the waiting callbacks', (t) => {
  const { b, messages, runScheduled } = batcher();
  b.push({ type: 'EOF', channel: 1 });
  const cb = (): void => {};
  b.afterFlush(cb);
  t.deepEqual(b.close(), [cb]);
  runScheduled();
  b.push({ type: 'EOF', channel: 3 });
  t.is(messages.length, 0);
});

test('frames queued by flush callbacks never push a message past the maximum size', (t) => {
  const messages: Buffer[] = [];
  const max = 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024);
  let refills = 1;
  const b: WriteBatcher = new WriteBatcher({
    send: (m) => messages.push(m),
    schedule: () => {},
    maxMessageSize: max,
    // As the session's transport gate does: a flush wakes waiting channels,
    // which queue DATA before the frame that caused the flush is added.
    onFlushed: () => {
      if (refills-- > 0) for (let i = 0; i < 3; i++) b.push({ type: 'DATA', channel: 1, data: chunk });
    },
  });
  for (let i = 0; i < 5; i++) b.push({ type: 'DATA', channel: 1, data: chunk });
  b.flush();
  t.true(messages.length >= 3);
  t.true(messages.every((m) => m.length <= max), `message sizes: ${messages.map((m) => m.length).join(', ')}`);
  const delivered = messages.flatMap((m) => decodeMessage(m)).length;
  t.is(delivered, 8, 'every frame was sent');
});

test('each message is sent with the bytes of its control frames, which pendingControlBytes counts until the flush', (t) => {
  const sent: Array<{ size: number; controlBytes: number }> = [];
  const scheduled: Array<() => void> = [];
  const b = new WriteBatcher({ send: (m, controlBytes) => sent.push({ size: m.length, controlBytes }), schedule: (fn) => scheduled.push(fn), maxMessageSize: 1024 });
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(100) });
  b.push({ type: 'WINDOW_ADJUST', channel: 1, increment: 5 });
  b.push({ type: 'PONG', payload: Buffer.alloc(8) });
  t.is(b.pendingBytes, 109 + 13 + 17);
  t.is(b.pendingControlBytes, 13 + 17, 'DATA is not a control frame');
  scheduled.splice(0).forEach((fn) => fn());
  t.deepEqual(sent, [{ size: 109 + 13 + 17, controlBytes: 30 }]);
  t.is(b.pendingControlBytes, 0);
  b.push({ type: 'EOF', channel: 1 });
  b.close();
  t.is(b.pendingControlBytes, 0, 'close() drops them');
});
