import test from 'ava';
import fc from 'fast-check';
import { decodeMessage } from '../../protocol/index.ts';
import { COPIED_BATCH_MIN, REUSED_MESSAGE_BUFFERS, REUSED_MESSAGE_MIN, WriteBatcher } from '../../protocol/write-batcher.ts';

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

test('large messages reuse their memory only after the transport released it, and a quiet batcher keeps none', (t) => {
  const sent: Array<{ message: Buffer; release?: () => void }> = [];
  const max = 256 * 1024;
  const b = new WriteBatcher({ send: (message, _control, release) => sent.push({ message, release }), schedule: () => {}, maxMessageSize: max, reuse: true });
  const data = Buffer.alloc(100 * 1024, 1);
  b.push({ type: 'DATA', channel: 1, data });
  b.flush();
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(100 * 1024, 2) });
  b.flush();
  const [first, second] = sent;
  t.truthy(first?.release);
  t.not(first?.message.buffer, second?.message.buffer, 'a lent buffer is not handed out again');
  first?.release?.();
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(100 * 1024, 3) });
  b.flush();
  t.is(sent[2]?.message.buffer, first?.message.buffer, 'a released buffer is reused');
  const [frame] = decodeMessage(second?.message as Buffer);
  t.true(frame?.type === 'DATA' && frame.data.every((x) => x === 2), 'reuse never touches a message still lent');
  // Small messages: pooled allocations, and once nothing is lent the big buffers go.
  second?.release?.();
  sent[2]?.release?.();
  b.push({ type: 'EOF', channel: 1 });
  b.flush();
  t.is(sent[3]?.release, undefined);
  b.push({ type: 'DATA', channel: 1, data });
  b.flush();
  t.not(sent[4]?.message.buffer, first?.message.buffer, 'the quiet batcher dropped its buffers');
});

test('however many messages the transport has not released, at most four reusable buffers exist', (t) => {
  const sent: Array<{ message: Buffer; release?: () => void }> = [];
  const max = 256 * 1024;
  const b = new WriteBatcher({ send: (message, _control, release) => sent.push({ message, release }), schedule: () => {}, maxMessageSize: max, reuse: true });
  // Small big-enough messages, none released: a peer that does not read.
  for (let i = 0; i < 10; i++) {
    b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(REUSED_MESSAGE_MIN, i) });
    b.flush();
  }
  const reused = sent.filter((s) => s.release !== undefined);
  t.is(reused.length, REUSED_MESSAGE_BUFFERS);
  t.true(reused.every((s) => s.message.buffer.byteLength === max));
  const fresh = sent.filter((s) => s.release === undefined);
  t.true(fresh.every((s) => s.message.buffer.byteLength < max), 'the rest are allocated at their own size');
  // One released: the next message takes that buffer, and still no fifth one is made.
  reused[0]?.release?.();
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(REUSED_MESSAGE_MIN, 11) });
  b.flush();
  b.push({ type: 'DATA', channel: 1, data: Buffer.alloc(REUSED_MESSAGE_MIN, 12) });
  b.flush();
  t.is(sent.at(-2)?.message.buffer, reused[0]?.message.buffer);
  t.is(sent.at(-1)?.release, undefined);
});

// pushCopy: DATA whose bytes the caller reuses as soon as it returns (a socket read into one buffer).

function lendingBatcher(max = 256 * 1024) {
  const sent: Array<{ message: Buffer; release?: () => void }> = [];
  const scheduled: Array<() => void> = [];
  const b = new WriteBatcher({ send: (message, _control, release) => sent.push({ message, release }), schedule: (fn) => scheduled.push(fn), maxMessageSize: max, reuse: true });
  return { b, sent, runScheduled: () => scheduled.splice(0).forEach((fn) => fn()) };
}

test('pushCopy takes the bytes before it returns, so the caller may overwrite them at once', (t) => {
  const { b, sent, runScheduled } = lendingBatcher();
  const read = Buffer.alloc(40 * 1024, 7);
  b.pushCopy(1, read);
  read.fill(0);
  b.pushCopy(3, read.subarray(0, 10));
  read.fill(9);
  runScheduled();
  t.is(sent.length, 1);
  const frames = decodeMessage(sent[0]?.message as Buffer);
  t.is(frames.length, 2);
  t.true(frames[0]?.type === 'DATA' && frames[0].channel === 1 && frames[0].data.length === 40 * 1024 && frames[0].data.every((x) => x === 7));
  t.true(frames[1]?.type === 'DATA' && frames[1].channel === 3 && frames[1].data.every((x) => x === 0));
});

test('copies for one channel in one batch extend one DATA frame up to 256 KiB; frames around them keep their order', (t) => {
  const { b, sent, runScheduled } = lendingBatcher(1024 * 1024);
  b.push({ type: 'WINDOW_ADJUST', channel: 5, increment: 1 });
  for (let i = 0; i < 5; i++) b.pushCopy(1, Buffer.alloc(64 * 1024, i));
  b.push({ type: 'EOF', channel: 5 });
  b.pushCopy(1, Buffer.alloc(10, 9));
  runScheduled();
  const frames = decodeMessage(sent[0]?.message as Buffer);
  t.deepEqual(
    frames.map((f) => (f.type === 'DATA' ? `DATA ${f.channel} ${f.data.length}` : `${f.type} ${'channel' in f ? f.channel : 0}`)),
    ['WINDOW_ADJUST 5', 'DATA 1 262144', 'DATA 1 65536', 'EOF 5', 'DATA 1 10'],
  );
  const data = Buffer.concat(frames.flatMap((f) => (f.type === 'DATA' ? [f.data] : [])));
  t.deepEqual([...new Set(data.subarray(0, 5 * 64 * 1024))].length, 5);
  for (let i = 0; i < 5; i++) t.true(data.subarray(i * 64 * 1024, (i + 1) * 64 * 1024).every((x) => x === i));
});

test('a small copied batch is sent in memory of its own size and holds no reusable buffer', (t) => {
  const { b, sent, runScheduled } = lendingBatcher();
  b.pushCopy(1, Buffer.alloc(8 * 1024, 1));
  runScheduled();
  t.is(sent[0]?.release, undefined);
  t.true((sent[0]?.message.buffer.byteLength ?? Infinity) < 256 * 1024);
  // One big enough: written into a reusable buffer.
  b.pushCopy(1, Buffer.alloc(COPIED_BATCH_MIN, 2));
  runScheduled();
  t.truthy(sent[1]?.release);
  t.is(sent[1]?.message.buffer.byteLength, 256 * 1024);
});

test('a batch being filled by copies never writes into a message still lent, and at most four reusable buffers exist', (t) => {
  t.notThrows(() =>
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.record({ copy: fc.integer({ min: 1, max: 100 * 1024 }) }), fc.constant({ flush: true }), fc.record({ release: fc.nat() })), { maxLength: 60 }),
      (steps) => {
        const { b, sent } = lendingBatcher();
        const lent: Array<{ message: Buffer; copy: Buffer; release: () => void }> = [];
        let seed = 0;
        for (const step of steps) {
          if ('copy' in step) b.pushCopy(1, Buffer.alloc(step.copy, ++seed & 0xff));
          else if ('flush' in step) b.flush();
          else if (lent.length > 0) lent.splice(step.release % lent.length, 1)[0]?.release();
          for (const s of sent.splice(0)) if (s.release) lent.push({ message: s.message, copy: Buffer.from(s.message), release: s.release });
          // What the transport still reads is exactly what it was given.
          for (const l of lent) if (!l.message.equals(l.copy)) return false;
          if (new Set(lent.map((l) => l.message.buffer)).size !== lent.length) return false;
          if (lent.length > REUSED_MESSAGE_BUFFERS) return false;
        }
        return true;
      },
    ),
  ),
  );
});
