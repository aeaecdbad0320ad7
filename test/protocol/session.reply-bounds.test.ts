// What a peer can make a session queue in reply to its frames (issue 8,
// finding 1, "PING reflection"): a peer that never reads our messages and
// keeps sending frames that we answer must not grow our memory without limit.
// PINGs are coalesced to one PONG in flight; every other control frame counts
// against maxControlBacklog, and a peer that pushes us past it loses its
// session with RPF_ERR_PROTOCOL_CONTROL_BACKLOG.

import test from 'ava';
import fc from 'fast-check';
import {
  DEFAULT_MAX_CONTROL_BACKLOG,
  FRAME_HEADER_SIZE,
  GOAWAY_REASON,
  MAX_CONTROL_PAYLOAD,
  PING_PAYLOAD_SIZE,
  Session,
  decodeMessage,
  encodeFrame,
  RpfProtocolError,
  encodeFrames,
} from '../../protocol/index.ts';
import type { Frame, SessionOptions } from '../../protocol/index.ts';
import { REQUEST, closeOf, sessionPair, ticks } from './session-pair.ts';

const PONG_BYTES = FRAME_HEADER_SIZE + PING_PAYLOAD_SIZE;

/**
 * A session whose transport takes every message and confirms none until
 * `confirm()` says so: the peer at the other end does not read.
 */
function stuckSession(options: Omit<SessionOptions, 'send'>) {
  const messages: Buffer[] = [];
  const unconfirmed: Array<() => void> = [];
  const session = new Session({
    keepaliveIntervalMs: 0,
    ...options,
    send: (message, done) => {
      // A copy: once confirmed, the session may reuse the message's memory.
      messages.push(Buffer.from(message));
      unconfirmed.push(() => done());
    },
  });
  const errors: RpfProtocolError[] = [];
  session.on('error', (error) => errors.push(error));
  return {
    session,
    errors,
    frames: (): Frame[] => messages.flatMap((m) => decodeMessage(m)),
    /** Bytes handed to the transport so far: what it holds while nothing is confirmed. */
    sentBytes: (): number => messages.reduce((n, m) => n + m.length, 0),
    /** Confirms every message sent so far, as ws.send's callback would. */
    confirm: (): void => unconfirmed.splice(0).forEach((done) => done()),
  };
}

function ping(n: number): Frame {
  const payload = Buffer.alloc(PING_PAYLOAD_SIZE);
  payload.writeUInt32BE(n, 4);
  return { type: 'PING', payload };
}

function pongs(frames: Frame[]): number[] {
  return frames.flatMap((f) => (f.type === 'PONG' ? [Buffer.from(f.payload).readUInt32BE(4)] : []));
}

test('a peer that never reads and floods PINGs gets one PONG, and the session holds no more than that', async (t) => {
  const { session, frames, sentBytes } = stuckSession({ role: 'agent' });
  // 300,000 PINGs (5 MB) in messages of 10,000 (170 kB), a few per tick, as ws hands them over.
  for (let m = 0; m < 30; m++) {
    session.receive(encodeFrames(Array.from({ length: 10_000 }, (_, i) => ping(m * 10_000 + i))));
    if (m % 3 === 2) await ticks(1);
  }
  await ticks(2);
  t.false(session.closed, 'PINGs alone never end the session: they are coalesced, not refused');
  t.deepEqual(pongs(frames()), [0], 'one PONG in flight; later PINGs wait for it');
  t.true(sentBytes() <= PONG_BYTES, `${sentBytes()} bytes handed to a transport that never drains`);
  t.true(session.stats.controlBytesQueued <= PONG_BYTES);
});

test('PINGs that arrive while a PONG is unconfirmed are answered once, with the latest bytes, when the transport confirms it', async (t) => {
  const { session, frames, confirm } = stuckSession({ role: 'client' });
  session.receive(encodeFrame(ping(1)));
  await ticks(1);
  t.deepEqual(pongs(frames()), [1]);
  session.receive(encodeFrame(ping(2)));
  session.receive(encodeFrame(ping(3)));
  await ticks(1);
  t.deepEqual(pongs(frames()), [1], 'nothing more while the first PONG is not written');
  confirm();
  await ticks(1);
  t.deepEqual(pongs(frames()), [1, 3]);
  confirm();
  await ticks(1);
  t.deepEqual(pongs(frames()), [1, 3], 'no PING left unanswered, none answered twice');
});

test('a peer that reads gets every PING answered with its own bytes', async (t) => {
  const { session, frames, confirm } = stuckSession({ role: 'agent' });
  for (let n = 1; n <= 5; n++) {
    session.receive(encodeFrame(ping(n)));
    await ticks(1);
    confirm();
  }
  t.deepEqual(pongs(frames()), [1, 2, 3, 4, 5]);
  t.is(session.stats.controlBytesQueued, 0);
});

test('keepalive between two sessions still measures the round trip', async (t) => {
  const pair = sessionPair({ agent: { keepaliveIntervalMs: 5 }, client: { keepaliveIntervalMs: 5 } });
  const deadline = Date.now() + 2_000;
  while ((pair.agent.stats.lastRttMs === undefined || pair.client.stats.lastRttMs === undefined) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  t.not(pair.agent.stats.lastRttMs, undefined);
  t.not(pair.client.stats.lastRttMs, undefined);
  t.false(pair.agent.closed);
  pair.agent.close();
});

test('a peer that never reads and floods OPENs past the connection limit loses its session with CONTROL_BACKLOG', async (t) => {
  const { session, errors, frames, sentBytes } = stuckSession({ role: 'client', maxChannels: 1 });
  session.on('open', (channel) => channel.on('error', () => {})); // takes the first channel and leaves it pending
  const closed = closeOf(session);
  // Each OPEN (41 bytes) costs us an OPEN_FAIL of 75: 20,000 of them would queue 1.5 MB.
  const opens: Frame[] = Array.from({ length: 20_000 }, (_, i) => ({ type: 'OPEN', channel: 2 * i + 1, window: 1024, ...REQUEST }));
  session.receive(encodeFrames(opens));
  const error = await closed;
  t.is(error?.code, 'RPF_ERR_PROTOCOL_CONTROL_BACKLOG');
  t.is(error?.scope, 'session');
  t.is(error?.closeCode, 1008);
  t.is(errors[0]?.code, 'RPF_ERR_PROTOCOL_CONTROL_BACKLOG');
  const sent = frames();
  const last = sent.at(-1);
  t.is(last?.type === 'GOAWAY' ? last.reason : undefined, GOAWAY_REASON.PROTOCOL_ERROR);
  // The bound is checked after every frame: at most one frame's answer (and the GOAWAY) beyond it.
  t.true(sentBytes() <= DEFAULT_MAX_CONTROL_BACKLOG + 2 * (FRAME_HEADER_SIZE + 4 + 1024), `${sentBytes()} bytes queued`);
  t.true(sent.filter((f) => f.type === 'OPEN_FAIL').length < 20_000 - 1, 'the flood stopped being answered');
});

test('a peer that never reads but sends DATA on credit it predicts loses its session once our WINDOW_ADJUSTs pass the bound', async (t) => {
  const maxControlBacklog = MAX_CONTROL_PAYLOAD + FRAME_HEADER_SIZE; // the smallest allowed, to keep the test short
  const { session, sentBytes } = stuckSession({ role: 'agent', initialWindow: 16, maxControlBacklog });
  const closed = closeOf(session);
  const channel = session.open(REQUEST);
  channel.on('error', () => {});
  channel.on('data', () => {}); // the pod reads everything at once, so credit is granted at once
  session.receive(encodeFrame({ type: 'OPEN_OK', channel: channel.id, window: 0 }));
  await ticks(1);
  // Each 8-byte DATA is half the window: we answer it with a 13-byte WINDOW_ADJUST the peer never reads.
  for (let i = 0; i < 10_000 && !session.closed; i++) {
    session.receive(encodeFrame({ type: 'DATA', channel: channel.id, data: Buffer.alloc(8) }));
    if (i % 100 === 99) await ticks(1);
  }
  const error = await closed;
  t.is(error?.code, 'RPF_ERR_PROTOCOL_CONTROL_BACKLOG');
  t.true(sentBytes() <= maxControlBacklog + 2 * (FRAME_HEADER_SIZE + 4 + 1024), `${sentBytes()} bytes queued`);
});

test('control frames do not count once the transport confirmed them', async (t) => {
  const { session, confirm } = stuckSession({ role: 'client', maxChannels: 1, maxControlBacklog: MAX_CONTROL_PAYLOAD + FRAME_HEADER_SIZE });
  session.on('open', (channel) => channel.on('error', () => {}));
  let id = 1;
  // Three times the bound in OPEN_FAILs, but confirmed as they go: a peer that reads is never cut off.
  for (let round = 0; round < 30; round++) {
    session.receive(encodeFrames(Array.from({ length: 100 }, () => ({ type: 'OPEN', channel: (id += 2), window: 1, ...REQUEST }) as Frame)));
    await ticks(1);
    t.true(session.stats.controlBytesQueued > 0);
    confirm();
    t.is(session.stats.controlBytesQueued, 0);
  }
  t.false(session.closed);
});

test('pod connections opened and reset while the peer does not read count against the bound too', async (t) => {
  const maxControlBacklog = MAX_CONTROL_PAYLOAD + FRAME_HEADER_SIZE;
  const { session, sentBytes } = stuckSession({ role: 'agent', maxControlBacklog });
  const closed = closeOf(session);
  // No frame arrives at all: the check after each tick's flush catches it. Each round is an OPEN and a RESET.
  for (let i = 0; i < 10_000 && !session.closed; i++) {
    try {
      session.open(REQUEST).destroy();
    } catch {
      break; // SESSION_CLOSED once the bound ended it
    }
    if (i % 100 === 99) await ticks(1);
  }
  t.is((await closed)?.code, 'RPF_ERR_PROTOCOL_CONTROL_BACKLOG');
  t.true(sentBytes() <= maxControlBacklog + 100 * 64 + FRAME_HEADER_SIZE + 4 + 1024, `${sentBytes()} bytes queued`);
});

test('whatever a non-reading peer sends, what we queue for it stays within the bound plus one frame and the GOAWAY', async (t) => {
  const maxControlBacklog = MAX_CONTROL_PAYLOAD + FRAME_HEADER_SIZE;
  // Largest answer to one incoming frame: an OPEN_FAIL with its message; then the GOAWAY.
  const slack = 2 * (FRAME_HEADER_SIZE + 4 + 1024);
  const kind = fc.constantFrom('PING', 'OPEN', 'stale RESET', 'PONG');
  const property = fc.assert(
    fc.asyncProperty(fc.array(fc.array(fc.tuple(kind, fc.integer({ min: 1, max: 400 })), { maxLength: 6 }), { minLength: 1, maxLength: 40 }), async (ticksOfMessages) => {
      const { session, sentBytes } = stuckSession({ role: 'client', maxChannels: 2, maxControlBacklog });
      session.on('open', (channel) => channel.on('error', () => {}));
      let nextId = 1;
      for (const messages of ticksOfMessages) {
        for (const [type, count] of messages) {
          if (session.closed) break;
          const frames: Frame[] = Array.from({ length: count }, (_, i): Frame => {
            if (type === 'PING') return ping(i);
            if (type === 'PONG') return { type: 'PONG', payload: Buffer.alloc(8) };
            if (type === 'stale RESET' && nextId > 1) return { type: 'RESET', channel: 1, reason: 0, message: '' };
            return { type: 'OPEN', channel: (nextId += 2) - 2, window: 1, ...REQUEST };
          });
          session.receive(encodeFrames(frames));
        }
        await ticks(1);
        if (sentBytes() > maxControlBacklog + slack) throw new Error(`${sentBytes()} bytes queued`);
      }
      session.close();
    }),
    { numRuns: 50 },
  );
  await t.notThrowsAsync(property);
});

test('the control backlog option is validated', (t) => {
  const send = (): void => {};
  for (const maxControlBacklog of [0, MAX_CONTROL_PAYLOAD, 1.5]) {
    const error = t.throws(() => new Session({ role: 'agent', send, maxControlBacklog }), { instanceOf: RpfProtocolError });
    t.is(error?.code, 'RPF_ERR_PROTOCOL_INVALID_ARGUMENT', String(maxControlBacklog));
  }
  t.notThrows(() => new Session({ role: 'agent', send, maxControlBacklog: MAX_CONTROL_PAYLOAD + FRAME_HEADER_SIZE }).close());
});
